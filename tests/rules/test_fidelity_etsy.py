"""Etsy worked examples written from ../shared/reference/policies/etsy.md (issue 15/16), SQLite and PostgreSQL.

Windows are the 3 calendar months before the evaluation date (UTC, as Etsy judges); on the 1st that is the 3
previous months, when Etsy fixes its monthly verdict. The review and case standards are cliffs: a count rule under
40 reviews / 300 completed orders, a percentage rule from there."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from conftest import NOW, D, H

DEC1 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _reviews(world, good: int, low: int, at: datetime = NOW - 10 * D) -> None:
    world.orders(5, at)  # Etsy judges a standard once the shop has 5 sales in its 3 months
    for _ in range(good):
        world.rating(5, at)
    for _ in range(low):
        world.rating(3, at)  # 3 stars is low for Etsy


def test_four_low_reviews_of_39_pass_the_count_rule(world):
    _reviews(world, 35, 4)
    m = world.metric("etsy.std_low_review_count")
    assert (m.numerator, m.denominator, m.gate_count, m.level) == (4, 39, 4, "warn")  # at the limit of 4
    assert m.reason and "crossed" not in m.reason  # at the count limit (or forecast to cross): never "crossed"


def test_four_low_reviews_of_40_fail_under_10_percent(world):
    _reviews(world, 36, 4)
    m = world.metric("etsy.std_low_review_count")
    assert (m.value, m.level) == (0.1, "critical")  # exactly 10% is not "under 10%"


def test_five_low_reviews_of_39_fail_the_count_rule(world):
    _reviews(world, 34, 5)
    m = world.metric("etsy.std_low_review_count")
    assert m.level == "critical" and "5 defects > 4" in m.reason


def test_three_calendar_months_before_the_1st(world):
    world.rating(3, datetime(2026, 9, 1, tzinfo=UTC))  # the first instant: in
    world.rating(3, datetime(2026, 8, 31, 23, 59, 59, tzinfo=UTC))  # out
    world.rating(5, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))  # the last instant: in
    world.rating(3, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # the evaluation date itself: out
    m = world.metric("etsy.std_low_review_count", as_of=DEC1)
    assert (m.window_start, m.window_end) == (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert (m.numerator, m.denominator) == (1, 2)
    assert m.final is not None and m.final.at == datetime(2026, 12, 1, tzinfo=UTC)  # the monthly verdict


def test_month_ends_clamp(world):
    m = world.metric("etsy.std_low_review_count", as_of=datetime(2026, 5, 31, 8, tzinfo=UTC))
    assert m.window_start == datetime(2026, 2, 28, tzinfo=UTC)
    m = world.metric("etsy.std_low_review_count", as_of=datetime(2028, 5, 31, 8, tzinfo=UTC))
    assert m.window_start == datetime(2028, 2, 29, tzinfo=UTC)
    m = world.metric("etsy.std_low_review_count", as_of=datetime(2026, 12, 31, 8, tzinfo=UTC))
    assert m.window_start == datetime(2026, 9, 30, tzinfo=UTC)


def test_case_rate_cliff_at_300_completed_orders(world):
    refs = world.orders(200, NOW - 20 * D)
    for ref in refs[:3]:
        world.claim(ref)
    m = world.metric("etsy.std_case_rate")
    assert (m.gate_count, m.level) == (3, "warn")  # at most 3 under 300 orders: at the limit
    world.claim(refs[3])
    assert world.metric("etsy.std_case_rate").level == "critical"
    world.orders(100, NOW - 20 * D)  # 300 completed orders: 4 / 300 = 1.33%, the percentage rule
    m = world.metric("etsy.std_case_rate")
    assert (m.denominator, m.level) == (300, "critical")


def test_small_orders_need_no_tracking_for_star_seller(world):
    ship_by = (NOW - 5 * D).replace(hour=23, minute=59, second=59)

    def order(currency: str, subtotal: str, tracking: str | None) -> None:
        ref = world.order(NOW - 8 * D, ship_by=ship_by, currency=currency, items_subtotal=Decimal(subtotal))
        world.shipment(ref, shipped_at=ship_by - 5 * H, confirmed_at=ship_by - 5 * H, tracking_number=tracking)

    order("USD", "9.99", None)  # under USD 10: exempt
    order("USD", "10.00", None)  # at USD 10: tracking required, missing
    order("EUR", "9.00", None)  # under EUR 10: exempt
    order("JPY", "500", None)  # no published exemption: a miss
    order("USD", "50", "1Z")
    m = world.metric("etsy.star_on_time_shipping_tracking")
    assert (m.numerator, m.denominator, m.value) == (3, 5, 0.6)
    assert world.metric("etsy.std_on_time_shipping").value == 1.0  # the standard needs no tracking


def test_on_time_is_judged_by_the_utc_date_whatever_the_shops_clock(world):
    """Etsy judges ship-by dates in UTC (../shared/reference/policies/etsy.md, E7): a New York shop's order due
    10 Nov (UTC) shipped 10 Nov 21:00 New York time (11 Nov 02:00 UTC) is late."""
    ship_by = datetime(2026, 11, 10, 23, 59, 59, tzinfo=UTC)  # the ship-by DATE is 10 Nov (UTC)
    ny = {"seller_timezone": "America/New_York"}
    on_time = world.order(NOW - 20 * D, ship_by=ship_by, **ny)
    at = datetime(2026, 11, 10, 23, 30, tzinfo=UTC)  # 10 Nov in UTC (18:30 in New York)
    world.shipment(on_time, shipped_at=at, confirmed_at=at, tracking_number="1")
    late = world.order(NOW - 20 * D, ship_by=ship_by, **ny)
    at = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)  # 10 Nov 21:00 in New York, but 11 Nov in UTC
    world.shipment(late, shipped_at=at, confirmed_at=at, tracking_number="2")
    m = world.metric("etsy.std_on_time_shipping")
    assert (m.numerator, m.denominator) == (1, 2)


def test_an_unshipped_order_past_its_ship_by_date_is_late_and_todays_are_not_in_the_window(world):
    ship_by = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # ship-by date 23 Nov (UTC shop)
    world.order(NOW - 3 * D, ship_by=ship_by, status="unshipped")
    shipped = world.order(NOW - 3 * D, ship_by=ship_by)
    at = ship_by + 20 * H  # shipped on the ship-by date: on time
    world.shipment(shipped, shipped_at=at, confirmed_at=at, tracking_number="x")
    m = world.metric("etsy.std_on_time_shipping", as_of=datetime(2026, 11, 23, 18, tzinfo=UTC))
    assert m.denominator == 0  # the evaluation date itself is not in "the 3 months before" it
    m = world.metric("etsy.std_on_time_shipping", as_of=datetime(2026, 11, 24, 0, 30, tzinfo=UTC))
    assert (m.numerator, m.denominator) == (1, 2)  # 23 Nov is over: the unshipped order is late


def test_message_answered_in_exactly_48_hours_is_in_time(world):
    world.orders(5, NOW - 10 * D)  # the 5 sales every Etsy standard needs
    for _ in range(4):
        world.message(NOW - 10 * D, NOW - 10 * D + 48 * H)
    world.message(NOW - 10 * D, NOW - 10 * D + 48 * H + timedelta(minutes=1))
    m = world.metric("etsy.std_message_response_rate")
    assert (m.value, m.level) == (0.2, "warn")  # 80% answered: ">= 80%" holds


def test_a_standard_waits_for_five_sales_in_its_three_months(world):
    """E1: Etsy shows a shop's standards once it has 5 sales in the last 3 months, whatever the metric counts:
    4 sales with 4 cases and a late message are not judged; 4 sales + 1 cancelled one are still 4."""
    refs = world.orders(4, NOW - 10 * D)
    for ref in refs:
        world.claim(ref, kind="case", at=NOW - 5 * D)
    world.message(NOW - 10 * D, None)
    world.order(NOW - 10 * D, status="cancelled")
    for metric_id in ("etsy.std_case_rate", "etsy.std_message_response_rate", "etsy.std_on_time_shipping"):
        m = world.metric(metric_id)
        assert m.level == "unknown" and "4 sales in the window < 5" in m.reason, metric_id
    world.order(NOW - 10 * D)  # the fifth sale: judged
    assert world.metric("etsy.std_message_response_rate").level == "critical"
