"""Reviewer's cases for eBay: status enum values eBay may add (issue 17 item 8 kind), one fulfillment covering
several orders (item 1 kind), odd values (issue 18)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sellerguard.connectors.ebay_normalize import normalize_order
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order, Shipment

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "ebay"


def load(name: str) -> dict:
    return copy.deepcopy(json.loads((FIX / f"{name}.json").read_text()))


def shipped() -> dict:
    return load("orders__page")["orders"][0]


def records(order: dict, fulfillments: list | None = None) -> list:
    return normalize_order("e", order, fulfillments or [], "GET /sell/fulfillment/v1/order", "orders[0]")


def test_an_unknown_fulfillment_status_is_unknown_not_a_stuck_sync(caplog):
    # was: a payload error, so one order with a new eBay value stopped every later orders sync at that page
    order = shipped()
    order["orderFulfillmentStatus"] = "PARTIALLY_DELIVERED"
    got = next(r for r in records(order) if isinstance(r, Order))
    assert got.status == "unknown"
    assert any("PARTIALLY_DELIVERED" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("value", [None, 7, ""])
def test_a_missing_fulfillment_status_is_a_payload_error(value):
    order = shipped()
    order["orderFulfillmentStatus"] = value
    with pytest.raises(ConnectorError, match="orderFulfillmentStatus"):
        records(order)


def test_a_cancel_in_progress_is_not_a_cancellation():
    order = shipped()
    order["orderFulfillmentStatus"] = "NOT_STARTED"
    order["cancelStatus"] = {"cancelState": "IN_PROGRESS", "cancelRequests": []}
    got = next(r for r in records(order) if isinstance(r, Order))
    assert got.status == "unshipped"


def test_one_fulfillment_shared_by_two_orders_is_seen_by_both():
    # eBay combined purchase: the same fulfillment (one parcel, one tracking number) is listed under two orders
    fulfillment = load("shipping_fulfillment")["fulfillments"]
    first, second = shipped(), shipped()
    second["orderId"] = "12-11111-33333"
    ships = [r for o in (first, second) for r in records(o, fulfillment) if isinstance(r, Shipment)]
    assert {s.order_ref for s in ships} == {"12-11111-22222", "12-11111-33333"}
    assert len({s.external_id for s in ships}) == 2  # not one row overwritten by the second order


@pytest.mark.parametrize(("path", "value"), [
    (("pricingSummary", "total", "value"), "1,234.50"),
    (("pricingSummary", "total", "value"), "1e400"),
    (("pricingSummary", "total", "value"), "-3.00"),
    (("pricingSummary", "total", "value"), "99999999999999999999999.99"),
    (("creationDate",), "1970-01-01T00:00:00.000Z"),
    (("creationDate",), "1763993100"),
    (("orderId",), "12-11111\x00-22222"),
])
def test_odd_values_are_payload_errors(path, value):
    order = shipped()
    node = order
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises((ConnectorError, ValueError)):
        records(order)
