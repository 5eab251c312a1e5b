"""Walmart's shipDateTime is typed by the seller (Shopify's fulfilment may be recorded after the delivery): a ship
time later than the delivery is not stored (the schema refuses a delivery before shipping); the shipment keeps its
other facts and the stream does not fail (review, fix-units)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sellerguard.connectors.walmart_normalize import normalize_order
from sellerguard.schema import Shipment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "walmart"


def _delivered_order() -> dict:
    orders = json.loads((FIXTURES / "orders__page1.json").read_text())["list"]["elements"]["order"]
    return copy.deepcopy(next(o for o in orders if any(
        st["status"] == "Delivered" and st.get("trackingInfo")
        for line in o["orderLines"]["orderLine"] for st in line["orderLineStatuses"]["orderLineStatus"])))


def test_a_ship_date_typed_after_the_delivery_is_unknown_not_a_failed_stream():
    raw = _delivered_order()
    clean = next(r for r in normalize_order("wm", raw, "SellerFulfilled") if isinstance(r, Shipment)
                 and r.delivered_at is not None)
    assert clean.shipped_at is not None and clean.shipped_at <= clean.delivered_at
    for line in raw["orderLines"]["orderLine"]:
        for st in line["orderLineStatuses"]["orderLineStatus"]:
            if st.get("trackingInfo"):
                st["trackingInfo"]["shipDateTime"] = int(clean.delivered_at.timestamp() * 1000) + 86_400_000
    ship = next(r for r in normalize_order("wm", raw, "SellerFulfilled") if isinstance(r, Shipment)
                and r.external_id == clean.external_id)
    assert ship.shipped_at is None
    assert (ship.delivered_at, ship.tracking_number, ship.item_count) == \
        (clean.delivered_at, clean.tracking_number, clean.item_count)


def test_shopify_fulfilment_recorded_after_its_delivery_has_no_ship_time():
    from sellerguard.connectors.shopify_normalize import normalize_order as shopify_order

    page = json.loads((FIXTURES.parent / "shopify" / "orders__page1.json").read_text())
    node = copy.deepcopy(next(n for n in page["data"]["orders"]["nodes"]
                              if any(f.get("deliveredAt") for f in n["fulfillments"])))
    f = next(f for f in node["fulfillments"] if f.get("deliveredAt"))
    f["createdAt"], f["inTransitAt"] = "2026-11-22T16:00:00Z", None  # back-filled an hour after the delivery
    ship = next(r for r in shopify_order("shop", node) if isinstance(r, Shipment) and r.delivered_at is not None)
    assert ship.shipped_at is None and ship.confirmed_at is not None
