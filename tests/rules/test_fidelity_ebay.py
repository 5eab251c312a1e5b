"""eBay worked examples written from ../shared/reference/policies/ebay.md (issue 15/16), SQLite and PostgreSQL.

eBay's lookback is the last 3 calendar months (Pacific clock) with >= 400 transactions in them, else 12 months;
the Below Standard gates count unique buyers (defect rate) and cases; the level is fixed on the 20th."""

import hashlib
from datetime import UTC, datetime, timedelta

from conftest import NOW, D, H


def buyer(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()  # a 64-hex stand-in for ctx.buyer_key


def _defects(world, total: int, buyers: list[str], at: datetime = NOW - 20 * D) -> list[str]:
    refs = world.orders(total - len(buyers), at, ship_by=at + D)
    for who in buyers:
        ref = world.order(at, ship_by=at + D, status="cancelled", buyer_key=buyer(who))
        world.cancel(ref, by="seller", at=at + H)  # out of stock
    return refs


def test_six_defects_from_four_buyers_is_not_below_standard(world):
    _defects(world, 200, ["a", "a", "b", "b", "c", "d"])
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.value, m.numerator, m.denominator) == (0.03, 6, 200)
    assert (m.unique_buyers, m.gate_count, m.gate_unit, m.defect_count) == (4, 4, "unique_buyers", 6)
    assert m.level == "warn"  # Above Standard (4 unique buyers < 5), inside the suggested warning band
    assert m.breach_forecast is None and m.reason == "in the warning band (sellerguard default)"
    assert m.headroom == 0  # a defect from a 5th buyer would breach


def test_the_fifth_unique_buyer_makes_it_below_standard(world):
    _defects(world, 200, ["a", "a", "b", "c", "d", "e"])  # exactly at the gate of 5
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.unique_buyers, m.level) == (5, "critical")
    assert "5 unique buyers" in m.reason


def test_exactly_two_percent_with_five_buyers_is_fine(world):
    _defects(world, 250, ["a", "b", "c", "d", "e"])  # 5 / 250 = 2.00%: "<= 2%" holds
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.value, m.unique_buyers) == (0.02, 5) and m.level == "warn"  # over the 1.5% band only


def test_cases_gate_counts_cases_not_buyers(world):
    refs = world.orders(200, NOW - 20 * D, buyer_key=buyer("same"))
    for ref in refs[:3]:  # three cases, one buyer
        world.claim(ref, kind="item_not_received")
    m = world.metric("ebay.cases_closed_without_seller_resolution")
    assert (m.gate_unit, m.gate_count, m.level) == ("events", 3, "critical")  # 1.5% > 0.3% and 3 cases
    assert world.metric("ebay.transaction_defect_rate").unique_buyers == 1  # the TDR gate: one buyer


def test_the_400_switch_is_decided_on_three_calendar_months_at_a_month_end(world):
    as_of = datetime(2026, 5, 31, 19, 0, tzinfo=UTC)  # 12:00 PDT, 31 May
    start = datetime(2026, 2, 28, 20, 0, tzinfo=UTC)  # 28 Feb 12:00 PST: 3 calendar months back
    world.orders(398, as_of - 10 * D)
    world.order(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))  # inside 3 months, outside "90 days" (2 Mar)
    world.order(start)  # the first instant of the window: in (the 400th)
    world.order(start - timedelta(seconds=1))  # one second earlier: out
    world.orders(50, datetime(2025, 12, 1, tzinfo=UTC))  # only a 12-month lookback would see them
    m = world.metric("ebay.transaction_defect_rate", as_of=as_of)
    assert (m.window_kind, m.window_start, m.window_end, m.denominator) == ("months", start, as_of, 400)
    world.orders(1, datetime(2026, 1, 5, tzinfo=UTC))
    assert world.metric("ebay.transaction_defect_rate", as_of=as_of).denominator == 400  # still 3 months


def test_fewer_than_400_in_three_months_looks_back_twelve(world):
    as_of = datetime(2026, 5, 31, 19, 0, tzinfo=UTC)
    world.orders(399, as_of - 10 * D)
    world.orders(50, datetime(2025, 6, 15, tzinfo=UTC))
    world.order(datetime(2025, 5, 31, 18, 59, tzinfo=UTC))  # before 31 May 2025 12:00 PDT: out
    m = world.metric("ebay.transaction_defect_rate", as_of=as_of)
    assert m.window_start == datetime(2025, 5, 31, 19, 0, tzinfo=UTC) and m.denominator == 449


def test_tracking_counts_us_buyers_only_and_ship_by_comes_from_handling_time(world):
    paid = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 10:00 in New York
    ny = {"seller_timezone": "America/New_York", "paid_at": paid, "handling_days": 1, "buyer_country": "US"}
    # ship-by: Monday 23 Nov 23:59:59 Pacific = 24 Nov 07:59:59 UTC, whatever the seller's own clock (eBay's day
    # ends 11:59:59 p.m. PT: pages.ebay.com/seller-center/shipping/handling-time.html)
    on_time = world.order(paid, **ny)  # uploaded 06:00 UTC: after midnight in New York, still Monday in Pacific
    world.shipment(on_time, shipped_at=datetime(2026, 11, 24, 6, tzinfo=UTC), tracking_number="1Z",
                   tracking_validated=True, tracking_uploaded_at=datetime(2026, 11, 24, 6, tzinfo=UTC))
    late = world.order(paid, **ny)
    world.shipment(late, shipped_at=datetime(2026, 11, 24, 9, tzinfo=UTC), tracking_number="1Z",
                   tracking_validated=True, tracking_uploaded_at=datetime(2026, 11, 24, 9, tzinfo=UTC))
    world.order(paid, **{**ny, "buyer_country": "GB"})  # not a US buyer: outside the metric
    world.order(paid, buyer_country="US", ref="no-clock")  # no ship-by, no handling time: unknown
    m = world.metric("ebay.tracking_uploaded_on_time_validated", as_of=NOW + 5 * D)
    assert (m.numerator, m.denominator) == (1, 2)
    assert (m.unknown_count, m.unknown_refs) == (1, ["no-clock"]) and "without a ship-by" in m.reason


def test_unshipped_ebay_orders_are_in_the_ship_queue(world):
    paid = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday
    world.order(paid, status="unshipped", paid_at=paid, handling_days=2, seller_timezone="America/New_York",
                ref="derived")
    world.order(NOW - D, status="unshipped", ship_by=NOW + 2 * D, ref="own")
    acc = world.status("ebay")
    due = {d.ref: d.due for d in acc.deadlines if d.kind == "ship"}
    # two business days from Friday: Tuesday 24 Nov 23:59:59 Pacific (the seller's New York clock does not count)
    assert due == {"derived": datetime(2026, 11, 25, 7, 59, 59, tzinfo=UTC), "own": NOW + 2 * D}


def test_same_day_handling_gets_one_business_day(world):
    paid = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday: next business day is Monday
    world.order(paid, status="unshipped", paid_at=paid, handling_days=0, seller_timezone="America/Los_Angeles",
                ref="zero")
    [d] = [d for d in world.status("ebay").deadlines if d.ref == "zero"]
    assert d.due == datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC)  # Monday 23:59:59 PST


def test_evaluation_on_the_20th_and_the_projection(world):
    world.orders(100, NOW - 60 * D)
    for who in "abcde":  # five unique buyers after the 20th: only the projection sees them
        ref = world.order(datetime(2026, 11, 21, tzinfo=UTC), buyer_key=buyer(who), status="cancelled")
        world.cancel(ref, by="seller", at=datetime(2026, 11, 21, 1, tzinfo=UTC))
    m = world.metric("ebay.transaction_defect_rate")
    assert m.level == "critical"  # projected: Below Standard
    assert m.final is not None and m.final.at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 00:00 PST
    assert (m.final.window_end, m.final.numerator, m.final.level) == (m.final.at, 0, "ok")


def test_top_rated_minimum_counts_us_transactions_in_twelve_months(world):
    world.orders(99, NOW - 100 * D, buyer_country="US")
    world.orders(5, NOW - 100 * D, buyer_country="CA")
    m = world.metric("ebay.top_rated_min_transactions")
    assert (m.value, m.level) == (99, "warn")  # below 100: no Top Rated (not a penalty)
    world.order(NOW - 300 * D, buyer_country="US")  # exactly 100 within 12 months
    assert world.metric("ebay.top_rated_min_transactions").level == "warn"  # within 10% of the minimum
    world.orders(10, NOW - 2 * D, buyer_country="US")
    assert world.metric("ebay.top_rated_min_transactions").level == "ok"


def test_late_shipment_uses_the_first_carrier_scan(world):
    ref = world.order(NOW - 20 * D, ship_by=NOW - 18 * D, deliver_by=NOW - 14 * D)
    world.shipment(ref, shipped_at=NOW - 17 * D, first_scan_at=NOW - 18 * D - H, delivered_at=NOW - 13 * D)
    ref = world.order(NOW - 20 * D, ship_by=NOW - 18 * D, deliver_by=NOW - 14 * D)
    world.shipment(ref, shipped_at=NOW - 17 * D, delivered_at=NOW - 13 * D)  # no scan in time, late: late
    m = world.metric("ebay.top_rated_late_shipment_rate")
    assert (m.numerator, m.denominator, m.gate_count) == (1, 2, 1)
