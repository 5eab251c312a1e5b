"""Worked examples for the reviewer's findings on rules/events.py, figures computed by hand from the policy pages
(../shared/reference/policies/<mp>.md), on SQLite and PostgreSQL (the ``world`` fixture):

1. eBay's transaction defect reads the cancel REASON: "out of stock / could not be sent" is a defect even when the
   buyer asked first; eBay's own cancellations (buyer did not pay) are not (ebay.md).
2. TikTok's seller-fault return & refund rate counts returns whose reason category is a seller or logistics cause
   ("damaged, wrong, not as described", tiktok-shop.md), not only those flagged ``dissatisfied``.
3. An order whose own status is ``delivered`` is a delivered order (``delivered_only``), also with no delivery time.
4. Walmart's OTD: "first delivery attempt is on or before the Expected Delivery Date": a date (walmart.md)."""

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from conftest import NOW, D, H, one_metric_pack

from sellerguard.schema import Cancellation, Return, Shipment

EST = timezone(timedelta(hours=-5))


def _buyer(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _cancel(world, ref: str, *, by: str, reason: str | None, buyer_requested: bool) -> None:
    world.records.append(Cancellation(account=world.account, external_id=world._id("x"), order_ref=ref,
                                      cancelled_at=NOW - 19 * D, initiated_by=by, buyer_requested=buyer_requested,
                                      reason=reason))


def _ebay_world(world, *, by: str, reason: str | None, buyer_requested: bool) -> None:
    """100 transactions 20 days ago, 5 of them (5 buyers) cancelled as told."""
    world.orders(95, NOW - 20 * D)
    for who in "abcde":
        ref = world.order(NOW - 20 * D, status="cancelled", buyer_key=_buyer(who))
        _cancel(world, ref, by=by, reason=reason, buyer_requested=buyer_requested)


def test_ebay_out_of_stock_is_a_defect_even_when_the_buyer_asked(world):
    """5 / 100 = 5% > 2% with 5 unique buyers: Below Standard (the buyer's request does not excuse it)."""
    _ebay_world(world, by="seller", reason="OUT_OF_STOCK", buyer_requested=True)
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.numerator, m.denominator, m.value, m.unique_buyers) == (5, 100, 0.05, 5)
    assert m.level == "critical"


def test_ebay_cancelling_an_unpaid_order_is_not_a_seller_defect(world):
    _ebay_world(world, by="marketplace", reason="BUYER_DID_NOT_PAY", buyer_requested=False)
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.numerator, m.denominator, m.level) == (0, 100, "ok")


@pytest.mark.parametrize(("by", "reason", "buyer_requested", "defect"), [
    ("seller", "Out of stock", False, True),  # as text
    ("seller", "OUT_OF_STOCK_OR_CANNOT_FULFILL", True, True),
    ("marketplace", "OUT_OF_STOCK", False, True),  # the reason decides, whoever cancelled
    ("seller", None, False, True),  # no reason, unasked: the seller's doing (as before)
    ("unknown", None, False, True),
    ("seller", "BUYER_ASKED_CANCEL", False, False),  # "buyer asked to cancel / address problem": not a defect
    ("seller", "ADDRESS_ISSUES", False, False),
    ("seller", None, True, False),
    ("buyer", None, False, False),
    ("marketplace", None, False, False),  # eBay's own cancellation
])
def test_ebay_cancel_reasons(world, by, reason, buyer_requested, defect):
    world.orders(9, NOW - 20 * D)
    _cancel(world, world.order(NOW - 20 * D, status="cancelled"), by=by, reason=reason,
            buyer_requested=buyer_requested)
    assert world.metric("ebay.transaction_defect_rate").numerator == int(defect)


@pytest.mark.parametrize(("metric_id", "by", "counted"), [
    ("walmart.cancellation_rate", "marketplace", 1),  # Walmart's auto-cancels count against the seller
    ("tiktok.seller_fault_cancellation_rate", "marketplace", 1),  # "whether the seller or the system cancelled"
    ("amazon.pre_fulfillment_cancel_rate", "seller", 1),
    ("walmart.cancellation_rate", "seller", 1),
])
def test_other_marketplaces_keep_their_own_reading_of_seller_cancellations(world, metric_id, by, counted):
    world.orders(9, NOW - 5 * D, deliver_by=NOW + 5 * D, ship_by=NOW + D)
    ref = world.order(NOW - 5 * D, status="cancelled", deliver_by=NOW + 5 * D, ship_by=NOW + D)
    world.records.append(Cancellation(account=world.account, external_id="x1", order_ref=ref,
                                      cancelled_at=NOW - 4 * D, initiated_by=by, buyer_requested=False,
                                      reason="BUYER_DID_NOT_PAY" if by == "marketplace" else None))
    m = world.metric(metric_id)
    assert (m.numerator, m.denominator) == (counted, 10)


def _return(world, ref: str, *, category: str | None, dissatisfied: bool | None = None) -> None:
    world.records.append(Return(account=world.account, external_id=world._id("ret"), order_ref=ref,
                                requested_at=NOW - 5 * D, dissatisfied=dissatisfied, reason_category=category))


def _delivered(world, n: int) -> list[str]:
    refs = world.orders(n, NOW - 10 * D, status="delivered")
    for ref in refs:
        world.shipment(ref, shipped_at=NOW - 9 * D, delivered_at=NOW - 7 * D)
    return refs


def test_tiktok_a_damaged_return_counts_without_the_dissatisfied_flag(world):
    """1 damaged return of 100 delivered orders = 1%: not "< 1%", the pack's breach level (warn)."""
    refs = _delivered(world, 100)
    _return(world, refs[0], category="damaged")
    _return(world, refs[1], category="remorse")
    m = world.metric("tiktok.seller_fault_return_refund_rate")
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 100, 0.01, "warn")


@pytest.mark.parametrize(("category", "dissatisfied", "counted"), [
    ("damaged", None, 1), ("not_as_described", None, 1), ("not_received", None, 1),
    ("remorse", None, 0), ("other", None, 0), (None, None, 0),
    (None, True, 1),  # a seller-fault reason code the connector could not sort: still counted
    ("remorse", False, 0),
])
def test_tiktok_seller_fault_return_categories(world, category, dissatisfied, counted):
    refs = _delivered(world, 10)
    _return(world, refs[0], category=category, dissatisfied=dissatisfied)
    assert world.metric("tiktok.seller_fault_return_refund_rate").numerator == counted


def test_an_order_delivered_by_its_status_is_a_delivered_order(world):
    """TikTok's rates divide by delivered orders: 4 delivered (2 by a shipment's time, 2 by the order's status),
    one in transit and one unshipped are left out."""
    refs = _delivered(world, 2)
    by_status = world.orders(2, NOW - 10 * D, status="delivered")  # no shipment carries delivered_at
    world.shipment(by_status[0], shipped_at=NOW - 9 * D)
    world.shipment(world.order(NOW - 10 * D), shipped_at=NOW - 9 * D)  # in transit
    world.order(NOW - 10 * D, status="unshipped")
    _return(world, by_status[1], category="damaged")
    m = world.metric("tiktok.seller_fault_return_refund_rate")
    assert (m.numerator, m.denominator) == (1, 4)
    assert world.metric("tiktok.negative_review_rate").denominator == 4
    pack = one_metric_pack(calculator="rate", window_days=30, comparator="<", threshold=0.5,
                           params={"events": "orders", "anchor": "purchased_at", "defects": ["any"],
                                   "delivered_only": True})
    assert next(m for m in world.status("test", pack=pack).metrics).denominator == len(refs) + 2


def test_walmart_otd_counts_an_order_delivered_by_status_and_does_not_call_it_late(world):
    """Delivered per the order's status, no attempt time stored: in the delivered population, and not late for a
    missing attempt (its EDD passed, but it was delivered): 10 / 10."""
    edd = datetime(2026, 11, 15, tzinfo=EST)
    for _ in range(9):
        ref = world.order(edd - 5 * D, deliver_by=edd)
        world.shipment(ref, shipped_at=edd - 4 * D, first_attempt_at=edd - D, delivered_at=edd - D)
    world.order(edd - 5 * D, deliver_by=edd, status="delivered")
    m = world.metric("walmart.on_time_delivery_rate")
    assert (m.numerator, m.denominator, m.level) == (10, 10, "ok")


def _attempts(world, edd: datetime, attempts: list[datetime]) -> None:
    for at in attempts:
        ref = world.order(edd - 5 * D, deliver_by=edd, status="delivered")
        world.records.append(Shipment(account=world.account, external_id=world._id("s"), order_ref=ref,
                                      shipped_at=edd - 4 * D, first_attempt_at=at, delivered_at=at,
                                      tracking_number="1Z"))


def test_walmart_otd_an_attempt_during_the_edd_is_on_time(world):
    """EDD 2026-11-15 (sent as midnight Eastern); 8 attempts the day before, 2 at 15:00 on the EDD: 10 / 10."""
    edd = datetime(2026, 11, 15, tzinfo=EST)
    _attempts(world, edd, [edd - 9 * H] * 8 + [edd + 15 * H] * 2)
    m = world.metric("walmart.on_time_delivery_rate")
    assert (m.numerator, m.denominator, m.level) == (10, 10, "ok")


def test_walmart_otd_an_attempt_the_day_after_the_edd_is_late(world):
    """Late at 23:59 on the EDD is still on time; 00:30 the next day is late: 8 / 10 = 80% < 90%: critical."""
    edd = datetime(2026, 11, 15, tzinfo=EST)
    _attempts(world, edd, [edd + 23 * H + timedelta(minutes=59)] * 8 + [edd + D + timedelta(minutes=30)] * 2)
    m = world.metric("walmart.on_time_delivery_rate")
    assert (m.numerator, m.denominator, m.level) == (8, 10, "critical")


def test_deliver_by_date_compare_on_a_pack_of_its_own(world):
    """``compare = "date"`` judges deliver-by defects (delivered_late too) as dates on the pack's clock; the
    default stays an instant compare."""
    edd = datetime(2026, 11, 15, tzinfo=EST)
    ref = world.order(edd - 5 * D, deliver_by=edd)
    world.shipment(ref, shipped_at=edd - 4 * D, delivered_at=edd + 15 * H)

    def late(**extra):
        pack = one_metric_pack(calculator="rate", window_days=30, comparator="<", threshold=0.5, **extra,
                               params={"events": "orders", "anchor": "deliver_by", "defects": ["delivered_late"],
                                       **({"compare": "date"} if extra else {})})
        return next(m for m in world.status("test", pack=pack).metrics).numerator

    assert late() == 1
    assert late(timezone="America/New_York") == 0
