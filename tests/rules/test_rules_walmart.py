"""Walmart worked examples from the policy text (../shared/reference/policies/walmart.md, newest standards page):
orders not units, rolling 30/60 calendar days, no minimum volume, first delivery attempt, computed response and
negative feedback rates with Walmart's own figure beside them (or judged when nothing can be computed)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.schema import Message, Rating, ReportedMetric, Shipment

# only this pack: packs other engineers are editing cannot break these examples
PACK = load_pack(builtin_pack_dir() / "walmart.toml")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
_ids = itertools.count()


def shipment(world, ref: str, *, delivered: datetime | None, attempt: datetime | None = None) -> None:
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref,
                                  shipped_at=NOW - 10 * D, tracking_number="1Z", delivered_at=delivered,
                                  first_attempt_at=attempt))


def review(world, ref: str, stars: int, kind: str = "product_review", removed: bool = False) -> None:
    world.records.append(Rating(account=world.account, external_id=f"r-{ref}-{kind}", rating_kind=kind,
                                score=str(stars), score_normalized=stars, negative=stars <= 2, rated_at=NOW - D,
                                order_ref=ref, removed=removed))


def question(world, received: datetime, replied: datetime | None, flag: str | None = None) -> None:
    ref = f"m{next(_ids)}"
    world.records.append(Message(account=world.account, external_id=ref, thread_id=ref, received_at=received,
                                 first_reply_at=replied, marketplace_flag=flag))


def walmart_figure(world, metric_id: str, value: float, *, days: int = 30, at: datetime = NOW - H) -> None:
    world.records.append(ReportedMetric(account=world.account, external_id=f"{metric_id}:{at:%Y%m%d}",
                                        metric_id=metric_id, value=value, window_start=at - days * D,
                                        window_end=at, as_of=at))


# -- cancellation rate ---------------------------------------------------------------------------------


def test_cancellation_rate_exactly_2_percent_is_fine_3_percent_breaches(world):
    refs = world.orders(100, NOW - 5 * D)
    world.cancel(refs[0])
    world.cancel(refs[1], by="marketplace")  # Walmart's auto-cancel (no tracking by ESD + 4): seller-accountable
    m = world.metric("walmart.cancellation_rate", pack=PACK)
    assert (m.value, m.numerator, m.denominator, m.level) == (0.02, 2, 100, "warn")
    world.cancel(refs[2])
    assert world.metric("walmart.cancellation_rate", pack=PACK).level == "critical"


def test_customer_requested_cancellations_stay_in_the_denominator(world):
    refs = world.orders(50, NOW - 5 * D)
    world.cancel(refs[0])
    world.cancel(refs[1], by="buyer", buyer_requested=True)  # not seller-accountable, still an order
    m = world.metric("walmart.cancellation_rate", pack=PACK)
    assert (m.numerator, m.denominator, m.value) == (1, 50, 0.02)


def test_cancellation_window_is_30_days_and_wfs_orders_are_out(world):
    inside = world.order(NOW - 30 * D)  # first instant of the window
    outside = world.order(NOW - 30 * D - timedelta(seconds=1))
    wfs = world.order(NOW - D, fulfilment="marketplace")
    world.orders(8, NOW - D)
    for ref in (inside, outside, wfs):
        world.cancel(ref)
    m = world.metric("walmart.cancellation_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (1, 9)
    assert m.window_start == NOW - 30 * D and m.window_end == NOW


# -- on-time delivery ----------------------------------------------------------------------------------


def test_otd_judges_the_first_delivery_attempt_not_the_final_delivery(world):
    edd = NOW - 3 * D
    for _ in range(8):
        shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=edd - H)
    # attempted on the EDD, delivered two days later: on time for Walmart
    shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=edd + 2 * D, attempt=edd)
    # no attempt stored, delivered late: late
    shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=edd + D)
    m = world.metric("walmart.on_time_delivery_rate", pack=PACK)
    assert (m.value, m.denominator) == (0.9, 10)
    assert m.level == "warn"  # exactly 90%: the standard holds ("greater than or equal to 90%")


def test_otd_below_90_percent_breaches_and_an_undelivered_order_waits(world):
    edd = NOW - 3 * D
    for _ in range(8):
        shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=edd)
    # EDD passed, not delivered yet: outside "delivered seller-fulfilled orders" until it is delivered
    shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=None)
    shipment(world, world.order(NOW - 8 * D, deliver_by=edd), delivered=edd + D, attempt=edd + D)
    world.order(NOW - D, deliver_by=NOW + 2 * D)  # EDD ahead: outside the window, not late
    m = world.metric("walmart.on_time_delivery_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (8, 9)
    assert m.level == "critical"  # 88.9% < 90%


# -- seller response rate ------------------------------------------------------------------------------


def test_srr_is_computed_from_messages_with_walmarts_figure_beside(world):
    for _ in range(95):
        question(world, NOW - 5 * D, NOW - 5 * D + 2 * H)
    for _ in range(5):
        question(world, NOW - 5 * D, NOW - 5 * D + 49 * H)  # after 48 h
    walmart_figure(world, "walmart.seller_response_rate", 0.99)
    m = world.metric("walmart.seller_response_rate", pack=PACK)
    assert (m.value, m.numerator, m.denominator) == (0.95, 95, 100)
    assert m.reported_value == 0.99
    assert m.level == "critical"  # "more than 95%": exactly 95% fails


def test_srr_48_clock_hours_include_the_weekend(world):
    friday_18 = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # Friday 18:00 US Eastern
    for _ in range(98):
        question(world, friday_18, friday_18 + 48 * H)  # Sunday 18:00: exactly 48 h, on time
    for _ in range(2):
        question(world, friday_18, friday_18 + 48 * H + timedelta(minutes=1))  # late
    question(world, friday_18, None, flag="no_reply_needed")  # marked by Walmart: not an inquiry
    m = world.metric("walmart.seller_response_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (98, 100)
    assert m.level == "ok"


def test_srr_without_messages_judges_walmarts_figure_and_with_neither_is_unknown(world):
    world.orders(3, NOW - D)  # the account has data, but no buyer messages
    m = world.metric("walmart.seller_response_rate", pack=PACK)
    assert m.level == "unknown" and "not reported by the marketplace either" in m.reason
    walmart_figure(world, "walmart.seller_response_rate", 0.93)
    m = world.metric("walmart.seller_response_rate", pack=PACK)
    assert (m.value, m.reported_value, m.level) == (0.93, 0.93, "critical")
    assert "marketplace's own figure" in m.reason and "threshold crossed" in m.reason


# -- negative feedback rate ----------------------------------------------------------------------------


def test_nfr_counts_an_order_once_and_the_lower_of_its_two_reviews(world):
    refs = world.orders(90, NOW - 10 * D) + world.orders(10, NOW - 10 * D, fulfilment="marketplace")
    review(world, refs[0], 1, "product_review")
    review(world, refs[0], 2, "seller_feedback")  # same order: once
    review(world, refs[1], 5, "product_review")
    review(world, refs[1], 2, "seller_feedback")  # the lower of the two (2 stars) decides: negative
    review(world, refs[2], 3)  # 3 stars: not negative
    review(world, refs[3], 1, removed=True)  # removed by Walmart
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert (m.numerator, m.denominator, m.value) == (2, 100, 0.02)
    assert m.level == "warn"  # "less than or equal to 2%": exactly 2% holds
    review(world, refs[95], 2)  # a WFS order: counts too (newest standards page)
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert (m.numerator, m.level) == (3, "critical")


def test_nfr_window_is_60_days_and_walmarts_figure_is_beside(world):
    old = world.order(NOW - 60 * D - H)
    review(world, old, 1)
    refs = world.orders(50, NOW - 59 * D)
    review(world, refs[0], 1)
    walmart_figure(world, "walmart.negative_feedback_rate", 0.03, days=60)
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert (m.numerator, m.denominator, m.window_days) == (1, 50, 60)
    assert m.reported_value == 0.03 and m.level == "warn"  # 2%: in the 1.5% warning band, not over 2%
    assert abs(m.drift - (0.02 - 0.03)) < 1e-12


def test_nfr_with_orders_but_no_ratings_stored_is_walmarts_figure_or_unknown(world):
    # Walmart has no ratings API: synced orders alone must not read as 0% negative feedback
    world.orders(200, NOW - 10 * D)
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert m.level == "unknown" and m.value is None
    assert "no ratings stored" in m.reason and "not reported by the marketplace either" in m.reason
    walmart_figure(world, "walmart.negative_feedback_rate", 0.03, days=60)
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert (m.value, m.level) == (0.03, "critical")
    assert "marketplace's own figure" in m.reason
    review(world, "elsewhere", 5)  # one rating stored for the account: from now on the rate is computed
    m = world.metric("walmart.negative_feedback_rate", pack=PACK)
    assert (m.value, m.denominator, m.reported_value) == (0.0, 200, 0.03)
    assert m.level == "ok"
