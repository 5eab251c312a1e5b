"""Reviewer's cases for Shopify (issue 17 item 8 kind: every status a spec lists is mapped; unknown is kept
recognisable, never a plausible wrong state)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest
import responses
from test_shopify import GRAPHQL, context

from sellerguard.connectors import shopify
from sellerguard.connectors.shopify_normalize import DISPLAY_STATUSES, normalize_order
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"


def _node(**changes) -> dict:
    node = copy.deepcopy(json.loads((FIX / "orders__page1.json").read_text())["data"]["orders"]["nodes"][0])
    node.update(cancelledAt=None, **changes)
    return node


def _order(node: dict) -> Order:
    return next(r for r in normalize_order("shop", node) if isinstance(r, Order))


def test_every_display_fulfillment_status_of_the_pinned_schema_is_mapped(specs):
    schema = json.loads(gzip.decompress((specs / "shopify" / "admin_schema_2025-01.json.gz").read_bytes()))
    types = schema.get("data", schema)["__schema"]["types"]
    enum = next(t for t in types if t["name"] == "OrderDisplayFulfillmentStatus")
    assert {e["name"] for e in enum["enumValues"]} == set(DISPLAY_STATUSES)


@pytest.mark.parametrize(("display", "status"), [
    ("ON_HOLD", "unshipped"), ("SCHEDULED", "unshipped"), ("REQUEST_DECLINED", "unshipped"),
    ("PARTIALLY_FULFILLED", "partially_shipped"), ("FULFILLED", "delivered"),  # the fixture's parcel arrived
])
def test_display_status_values(display, status):
    assert _order(_node(displayFulfillmentStatus=display)).status == status


def test_an_unknown_display_status_is_unknown_and_logged_once(caplog):
    # was: silently "unshipped" (an order of a new Shopify state would count as late)
    assert _order(_node(displayFulfillmentStatus="PARTIALLY_DELIVERED")).status == "unknown"
    _order(_node(displayFulfillmentStatus="PARTIALLY_DELIVERED"))
    assert sum("PARTIALLY_DELIVERED" in r.getMessage() for r in caplog.records) <= 1


def test_a_null_display_status_is_a_payload_error():
    with pytest.raises(ConnectorError, match="displayFulfillmentStatus"):
        _order(_node(displayFulfillmentStatus=None))


@pytest.mark.parametrize("amount", ["1,234.50", "1e308", "-5", "99999999999999999999999", "12.3\x00"])
def test_amounts_that_are_not_plain_decimals_are_payload_errors(amount):
    node = _node()
    node["totalPriceSet"]["shopMoney"]["amount"] = amount
    with pytest.raises(ConnectorError, match="totalPriceSet"):
        _order(node)


@responses.activate
def test_protected_customer_data_denied_names_the_option(clock):
    # Shopify answers 200 with partial data and ACCESS_DENIED on the customer field when a public app lacks the
    # protected customer data approval; the hint used to name the order/return/dispute scopes only
    body = {"data": {"orders": None}, "errors": [{
        "message": "This app is not approved to access the Customer object. See https://shopify.dev/docs/apps/"
                   "launch/protected-customer-data for more details.",
        "path": ["orders", "nodes", 0, "customer"], "extensions": {"code": "ACCESS_DENIED"}}]}
    responses.add(responses.POST, GRAPHQL, json=body)
    with pytest.raises(ConnectorError, match="customer_facts") as err:
        list(shopify.fetch(context(clock), "orders", None))
    assert err.value.kind == "config"


@responses.activate
def test_other_access_denied_still_names_the_scopes(clock):
    responses.add(responses.POST, GRAPHQL, json=json.loads((FIX / "access_denied.json").read_text()))
    with pytest.raises(ConnectorError, match="read_shopify_payments_disputes"):
        list(shopify.fetch(context(clock), "disputes", None))


def test_a_cancelled_fulfillment_order_sets_no_ship_by():
    # an order edit cancelled the first fulfillment order (earlier fulfillBy); the live one is due later
    node = _node()
    live = node["fulfillmentOrders"]["nodes"][0]
    gone = {**live, "id": "gid://shopify/FulfillmentOrder/6000001", "status": "CANCELLED",
            "fulfillBy": "2026-11-21T05:43:55Z"}
    node["fulfillmentOrders"]["nodes"] = [gone, live]
    assert _order(node).ship_by.isoformat() == "2026-11-22T05:43:55+00:00"
