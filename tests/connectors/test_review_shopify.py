"""Reviewer's cases for Shopify (issue 17 item 8 kind: every status a spec lists is mapped; unknown is kept
recognisable, never a plausible wrong state)."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path

import pytest

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
