"""Order populations restricted by what happened to the order (rules/events.py): `delivered_only`, `shipped_only`,
and the per-order defects `untracked_shipment` (an order counts once however many packages it has) and
`first_review_negative` (the order's first product review decides). TikTok Shop's definitions
(../shared/reference/policies/tiktok-shop.md): return/refund rate and NRR over delivered orders, VTR over shipped
orders."""

from datetime import timedelta

import pytest
from conftest import NOW, D, one_metric_pack

from sellerguard.rules.packs import EventParams
from sellerguard.schema import Rating


def _rate(world, defects, **params):
    pack = one_metric_pack(calculator="rate", window_days=30, comparator="<", threshold=0.5,
                           params={"events": "orders", "anchor": "purchased_at", "defects": defects, **params})
    return next(m for m in world.status("test", pack=pack).metrics if m.id == "test.m")


def _review(world, ref, score, at, removed=False):
    world.records.append(Rating(account=world.account, external_id=world._id("r"), rating_kind="product_review",
                                score=str(score), score_normalized=score, negative=score <= 2, rated_at=at,
                                order_ref=ref, removed=removed))


def test_delivered_and_shipped_only_leave_the_others_out(world):
    delivered = world.orders(3, NOW - 10 * D)
    for ref in delivered:
        world.shipment(ref, shipped_at=NOW - 9 * D, delivered_at=NOW - 7 * D, tracking_number="1Z")
    in_transit = world.order(NOW - 10 * D)
    world.shipment(in_transit, shipped_at=NOW - 9 * D, tracking_number=None)
    world.order(NOW - 10 * D, status="unshipped")
    assert _rate(world, ["untracked_shipment"]).denominator == 5
    m = _rate(world, ["untracked_shipment"], shipped_only=True)
    assert (m.numerator, m.denominator) == (1, 4)
    assert _rate(world, ["untracked_shipment"], delivered_only=True).denominator == 3


def test_an_order_with_many_packages_counts_once(world):
    for i in range(18):  # 18 orders in 3 tracked packages each
        ref = world.order(NOW - 10 * D)
        for _ in range(3):
            world.shipment(ref, shipped_at=NOW - 9 * D, tracking_number=f"1Z{i}")
    for _ in range(2):  # 2 orders in one untracked package each
        world.shipment(world.order(NOW - 10 * D), shipped_at=NOW - 9 * D)
    m = _rate(world, ["untracked_shipment"], shipped_only=True, numerator="successes")
    assert (m.numerator, m.denominator, m.value) == (18, 20, 0.9)


def test_the_first_product_review_decides(world):
    a, b, c, d = world.orders(4, NOW - 10 * D)
    _review(world, a, 5, NOW - 5 * D)
    _review(world, a, 1, NOW - 4 * D)  # a later edit to 1 star: ignored
    _review(world, b, 1, NOW - 5 * D)
    _review(world, b, 5, NOW - 4 * D)  # improved later: the first (1 star) still counts
    _review(world, c, 1, NOW - 6 * D, removed=True)  # removed: not the first review any more
    _review(world, c, 4, NOW - 5 * D)
    _review(world, d, 2, NOW - 5 * D)
    _review(world, d, 1, NOW - 5 * D + timedelta(seconds=1))
    m = _rate(world, ["first_review_negative"])
    assert (m.numerator, m.denominator) == (2, 4)
    assert _rate(world, ["negative_review"]).numerator == 3  # any 1-2 star review (Walmart's reading)


def test_filters_need_orders():
    with pytest.raises(ValueError, match="need events"):
        EventParams(events="shipments", anchor="shipped_at", defects=["invalid_tracking"], shipped_only=True)



def test_first_confirmation_keeps_an_order_marked_shipped_on_time_on_time(world):
    """Etsy's standard counts "orders marked shipped by the ship-by date": a tracked record added three days later
    does not make the order late; without first_confirmation any late confirmation does."""
    due = NOW - 10 * D
    on_time = world.order(NOW - 12 * D, ship_by=due)
    world.shipment(on_time, shipped_at=due - D, confirmed_at=due - D)
    world.shipment(on_time, shipped_at=due + 3 * D, confirmed_at=due + 3 * D, tracking_number="1Z")
    late = world.order(NOW - 12 * D, ship_by=due)
    world.shipment(late, shipped_at=due + D, confirmed_at=due + D)
    world.order(NOW - 12 * D, ship_by=due, status="unshipped")  # never shipped, ship-by passed: late
    anchor = {"anchor": "ship_by"}
    assert _rate(world, ["shipped_late"], **anchor, first_confirmation=True).numerator == 2
    assert _rate(world, ["shipped_late"], **anchor).numerator == 3
