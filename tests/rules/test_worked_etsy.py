"""Etsy worked examples, written by an independent checker from ../shared/reference/policies/etsy.md alone.

Customer service standards (80% shipped by the ship-by date, 80% of first messages answered in 48 h, low reviews:
at most 4 under 40 reviews / under 10% from 40, cases: at most 3 under 300 completed orders / under 1% from 300)
and Star Seller (95% shipped on time with tracking, 95% answered in 24 h, average >= 4.8). Windows: 3 calendar
months before the 1st (the verdict), in UTC; ship-by dates in UTC; 7 days a week. Expected figures by hand; the
product's answer from the store + engine, `horizon=0`. SQLite only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import D, H
from worked_helpers import builtin_pack, cli_status, sqlite_store, threshold_metric

from sellerguard.schema import Claim, Message, Rating, Shipment

PACK = builtin_pack("etsy")
S = timedelta(seconds=1)
DEC1 = datetime(2026, 12, 1, tzinfo=UTC)  # not after the store's plausibility limit (now + 3 days)


store = sqlite_store("wy")
metric = threshold_metric(PACK)


def end_of_utc_day(day: datetime) -> datetime:
    return day.replace(hour=23, minute=59, second=59)


def shipped(world, ship_by_day: datetime, at: datetime | None, *, tracking: str | None = "1Z",
            subtotal: str = "50.00", currency: str = "USD", zone: str | None = None) -> str:
    ref = world.order(ship_by_day - 5 * D, ship_by=end_of_utc_day(ship_by_day), currency=currency,
                      items_subtotal=subtotal, seller_timezone=zone, status="shipped" if at else "unshipped")
    if at is not None:
        world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref, shipped_at=at,
                                      confirmed_at=at, tracking_number=tracking))
    return ref


def review(world, stars: int, at: datetime, removed: bool = False) -> None:
    world.records.append(Rating(account=world.account, external_id=world._id("r"), rating_kind="shop_review",
                                score=str(stars), score_normalized=stars, negative=stars <= 2, rated_at=at,
                                removed=removed))


# -- On-time shipping (standard) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("late", "level"), [(2, "warn"), (3, "critical")])
def test_std_on_time_at_least_80_percent(world, late, level):
    """10 orders due in November: 8 on time = 80% keeps the standard ('80% or more'; under the 95% Star target
    band); 7 = 70% misses it."""
    day = datetime(2026, 11, 10, tzinfo=UTC)
    for i in range(10):
        shipped(world, day, day + (D + H if i < late else H))
    m = metric(world, "etsy.std_on_time_shipping", as_of=DEC1)
    assert (m.numerator, m.denominator, m.level) == (10 - late, 10, level)


def test_std_on_time_by_the_utc_ship_by_date_and_five_sales_minimum(world):
    """Marked shipped at 23:59:59 UTC on the ship-by date: on time; 00:00:01 the next day: late. An unshipped order
    whose ship-by date is over: late. 4 orders only: below the 5-sales display minimum (unknown); a 5th: 3/5."""
    day = datetime(2026, 11, 10, tzinfo=UTC)
    shipped(world, day, end_of_utc_day(day))
    shipped(world, day, day + D + S)
    shipped(world, day, None)
    shipped(world, day, day)
    assert metric(world, "etsy.std_on_time_shipping", as_of=DEC1).level == "unknown"
    shipped(world, day, day - D)
    m = metric(world, "etsy.std_on_time_shipping", as_of=DEC1)
    assert (m.numerator, m.denominator) == (3, 5)


def test_on_time_is_judged_in_utc_whatever_the_shops_zone(world):
    """'Etsy evaluates in UTC (E7)'; 'ship-by dates are in UTC'. Ship-by date 10 Nov (UTC); a New York shop marks it
    shipped 10 Nov 21:00 New York = 11 Nov 02:00 UTC: a day late in UTC. 4 on time + this one: 4/5."""
    day = datetime(2026, 11, 10, tzinfo=UTC)
    for _ in range(4):
        shipped(world, day, day + H, zone="America/New_York")
    shipped(world, day, datetime(2026, 11, 11, 2, tzinfo=UTC), zone="America/New_York")
    m = metric(world, "etsy.std_on_time_shipping", as_of=DEC1)
    assert (m.numerator, m.denominator) == (4, 5)



def _two_markings(world, day: datetime, n: int = 5) -> None:
    """n orders marked shipped on the ship-by date with tracking; the first one marked WITHOUT tracking, its tracking
    added 3 days later as a second shipment record."""
    for i in range(n):
        ref = world.order(day - 5 * D, ship_by=end_of_utc_day(day), currency="USD", items_subtotal="50.00")
        world.records.append(Shipment(account=world.account, external_id=f"a-{ref}", order_ref=ref, shipped_at=day,
                                      confirmed_at=day, tracking_number=None if i == 0 else "1Z"))
        if i == 0:
            world.records.append(Shipment(account=world.account, external_id=f"b-{ref}", order_ref=ref,
                                          shipped_at=day + 3 * D, confirmed_at=day + 3 * D, tracking_number="1Z"))


def test_star_tracking_added_after_the_ship_by_date_misses(world):
    """Star Seller: 'The tracking/label date must be on or before the ship-by date': 4 of 5."""
    _two_markings(world, datetime(2026, 11, 10, tzinfo=UTC))
    m = metric(world, "etsy.star_on_time_shipping_tracking", as_of=DEC1)
    assert (m.numerator, m.denominator) == (4, 5)


def test_std_an_order_marked_shipped_on_time_stays_on_time_when_tracking_comes_later(world):
    """Standard: 'orders marked shipped by the ship-by date', tracking not required: all 5 were marked shipped on
    the date; the later tracking record does not make the first one late: 5 of 5."""
    _two_markings(world, datetime(2026, 11, 10, tzinfo=UTC))
    m = metric(world, "etsy.std_on_time_shipping", as_of=DEC1)
    assert (m.numerator, m.denominator) == (5, 5)

def test_window_is_the_3_calendar_months_before_the_1st_utc(world):
    """Evaluated 1 Dec 2026: orders whose ship-by date (UTC) is 1 Sep .. 30 Nov. 31 Aug out, 1 Dec out."""
    shipped(world, datetime(2026, 8, 31, tzinfo=UTC), datetime(2026, 8, 31, 1, tzinfo=UTC))
    for day in (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)):
        for _ in range(3):
            shipped(world, day, day + H)
    m = metric(world, "etsy.std_on_time_shipping", as_of=DEC1)
    assert (m.window_start, m.window_end, m.denominator) == (datetime(2026, 9, 1, tzinfo=UTC), DEC1, 6)
    assert m.final is not None and m.final.at == DEC1


def test_leap_year_month_end_window(world):
    """Evaluated 31 May 2024 (a running figure): 3 calendar months back is 29 Feb 2024 00:00 UTC."""
    as_of = datetime(2024, 5, 31, 12, tzinfo=UTC)
    review(world, 5, datetime(2024, 2, 29, tzinfo=UTC))
    review(world, 5, datetime(2024, 2, 29, tzinfo=UTC) - S)
    m = metric(world, "etsy.star_average_rating", as_of=as_of)
    assert (m.window_start, m.window_end) == (datetime(2024, 2, 29, tzinfo=UTC), datetime(2024, 5, 31, tzinfo=UTC))
    assert m.denominator == 1


# -- Reviews (standard) and the average (Star Seller) ------------------------------------------------------------


@pytest.mark.parametrize(("total", "low", "level"), [
    (39, 4, "warn"),  # under 40 reviews: at most 4 rated 3 or fewer: passes (at the limit)
    (39, 5, "critical"),
    (40, 4, "critical"),  # from 40: 10% is not 'under 10%'
    (41, 4, "warn"),  # 9.76% passes (sellerguard's band from 7%)
    (50, 3, "ok"),  # 6%
])
def test_low_review_rule_cliff_at_40(world, total, low, level):
    at = datetime(2026, 10, 15, tzinfo=UTC)
    world.orders(5, at)  # E1: a standard is judged once the shop has 5 sales in its 3 months
    for i in range(total):
        review(world, 3 if i < low else 5, at)
    review(world, 1, at, removed=True)  # removed: not a review of the window
    m = metric(world, "etsy.std_low_review_count", as_of=DEC1)
    assert (m.denominator, m.gate_count if total < 40 else m.numerator, m.level) == (total, low, level)


@pytest.mark.parametrize(("stars", "level"), [([5, 5, 5, 5, 4], "warn"), ([5, 5, 5, 4, 4], "warn"),
                                               ([5, 5, 5, 5, 5], "ok")])
def test_star_average_at_least_4_8(world, stars, level):
    """4.8 meets '>= 4.8' (inside sellerguard's 4.85 band); 4.6 misses it (a badge, so breach level warn)."""
    world.orders(5, datetime(2026, 10, 15, tzinfo=UTC))  # Star Seller needs 5 orders in the 3 months
    for s in stars:
        review(world, s, datetime(2026, 10, 15, tzinfo=UTC))
    m = metric(world, "etsy.star_average_rating", as_of=DEC1)
    assert (m.value, m.level) == (pytest.approx(sum(stars) / 5), level)
    assert (m.reason or "").startswith("threshold crossed") is (sum(stars) / 5 < 4.8)


# -- Cases (standard) --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("orders", "cases", "level"), [
    (299, 3, "warn"),  # under 300 completed orders: at most 3 (at the limit)
    (299, 4, "critical"),
    (300, 3, "critical"),  # from 300: 1% is not 'under 1%'
    (301, 3, "warn"),  # 0.997% (sellerguard's band from 0.67%)
])
def test_case_rule_cliff_at_300(world, orders, cases, level):
    refs = world.orders(orders, datetime(2026, 10, 1, tzinfo=UTC), status="delivered")
    for i, ref in enumerate(refs[:cases + 1]):
        # the last one: a case not refunded from the seller's Payment account does not count
        world.records.append(Claim(account=world.account, external_id=f"case{i}", claim_kind="case", order_ref=ref,
                                   opened_at=datetime(2026, 10, 5, tzinfo=UTC),
                                   closed_at=datetime(2026, 10, 9, tzinfo=UTC), seller_at_fault=i < cases))
    cancelled = world.order(datetime(2026, 10, 1, tzinfo=UTC), status="cancelled")  # not a completed order
    world.cancel(cancelled, at=datetime(2026, 10, 2, tzinfo=UTC))
    m = metric(world, "etsy.std_case_rate", as_of=DEC1)
    assert (m.denominator, m.level) == (orders, level)


# -- Messages ------------------------------------------------------------------------------------------------------


def _message(world, received: datetime, after: timedelta | None, **kw) -> None:
    world.records.append(Message(account=world.account, external_id=world._id("m"), thread_id=f"t{world._n}",
                                 received_at=received, first_reply_at=None if after is None else received + after,
                                 **kw))


@pytest.mark.parametrize(("late", "level"), [(2, "warn"), (3, "critical")])
def test_std_messages_80_percent_within_48_hours(world, late, level):
    """10 first messages: 8 answered within 48 h = 80% keeps the standard; 7 misses. A reply at exactly 48 h is in
    time; Etsy staff and spam are out of the denominator."""
    at = datetime(2026, 10, 10, tzinfo=UTC)  # a Saturday: 7 days a week
    world.orders(5, at)  # E1: 5 sales in the 3 months
    for i in range(10):
        _message(world, at, 48 * H + S if i < late else 48 * H)
    _message(world, at, None, sender="marketplace")  # Etsy staff
    _message(world, at, None, marketplace_flag="spam")
    m = metric(world, "etsy.std_message_response_rate", as_of=DEC1)
    assert (m.numerator, m.denominator, m.level) == (late, 10, level)


@pytest.mark.parametrize(("late", "reason_start"), [(1, "in the warning band"), (2, "threshold crossed")])
def test_star_messages_95_percent_within_24_hours(world, late, reason_start):
    """20 first messages: 19 within 24 h = 95% meets '>= 95%'; 18 = 90% misses the badge (breach level warn).
    Unanswered after 24 h counts as a miss."""
    at = datetime(2026, 10, 10, tzinfo=UTC)
    world.orders(5, at)  # Star Seller needs 5 orders in the 3 months
    for i in range(20):
        _message(world, at, None if i < late else 24 * H)
    m = metric(world, "etsy.star_message_response_rate", as_of=DEC1)
    assert (m.numerator, m.denominator, m.level) == (late, 20, "warn")
    assert m.reason.startswith(reason_start)


def test_only_the_first_message_of_a_thread_counts(world):
    """'only the first message of each new incoming thread counts ... follow-up messages in a thread never count'.
    Thread T: first message answered in 1 h, a follow-up 2 h later never answered: 1 thread, answered in time,
    0 late of 1 (the product counts the follow-up: 1 late of 2, a false miss of both standards)."""
    at = datetime(2026, 10, 10, tzinfo=UTC)
    world.records.append(Message(account=world.account, external_id="m1", thread_id="T", received_at=at,
                                 first_reply_at=at + H))
    world.records.append(Message(account=world.account, external_id="m2", thread_id="T", received_at=at + 2 * H))
    m = metric(world, "etsy.std_message_response_rate", as_of=DEC1)
    assert (m.numerator, m.denominator) == (0, 1)


# -- On-time shipping with tracking (Star Seller) ---------------------------------------------------------------


def test_star_tracking_thresholds_by_currency(world):
    """'US-to-US: tracking required from USD 10'; GBP/EUR 10, CAD/AUD 15 exempt below; item total before discounts.
    Untracked: USD 9.99 exempt, USD 10.00 miss, GBP 9.99 exempt, CAD 14.99 exempt, CAD 15.00 miss, AUD 20 miss;
    tracked but shipped a day late: miss. On time with tracking: 1. 4 of 8 = 50%."""
    day = datetime(2026, 11, 10, tzinfo=UTC)
    for subtotal, cur in (("9.99", "USD"), ("10.00", "USD"), ("9.99", "GBP"), ("14.99", "CAD"), ("15.00", "CAD"),
                          ("20.00", "AUD")):
        shipped(world, day, day + H, tracking=None, subtotal=subtotal, currency=cur)
    shipped(world, day, day + D + H)
    shipped(world, day, day + H)
    m = metric(world, "etsy.star_on_time_shipping_tracking", as_of=DEC1)
    assert (m.numerator, m.denominator, m.value) == (4, 8, 0.5)


# -- the public path: `sellerguard import` + `status --json` -------------------------------------------------------


def test_import_and_status_json_end_to_end(tmp_path):
    """Through the CLI, as of 23 Nov 2026 (window 23 Aug .. 23 Nov, UTC): 36 five-star + 4 three-star shop reviews:
    4 of 40 = 10%, not 'under 10%': critical; one more five-star (41): 9.76%, the standard holds."""
    rows: list[dict] = [{"kind": "account", "id": "shop", "marketplace": "etsy"}]
    rows += [{"kind": "order", "account": "shop", "external_id": f"o{i}", "purchased_at": "2026-10-01T10:00:00Z",
              "status": "delivered", "fulfilment": "seller"} for i in range(5)]  # E1: the 5 sales a standard needs
    for i in range(40):
        stars = 3 if i < 4 else 5
        rows.append({"kind": "rating", "account": "shop", "external_id": f"r{i}", "rating_kind": "shop_review",
                     "score": str(stars), "score_normalized": stars, "negative": stars <= 3,
                     "rated_at": "2026-10-10T10:00:00Z"})
    code, got = cli_status(tmp_path, rows, "2026-11-23T12:00:00Z")
    low = got["etsy.std_low_review_count"]
    assert (low["numerator"], low["denominator"], low["level"]) == (4, 40, "critical") and code == 2
    rows.append({**rows[-1], "external_id": "r40"})
    _, got = cli_status(tmp_path, rows, "2026-11-23T12:00:00Z")
    assert got["etsy.std_low_review_count"]["level"] != "critical"
