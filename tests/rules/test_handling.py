"""The ship-by derived from eBay's handling time (rules/handling.py, rules/calendars/ebay-us.toml).

eBay: "Handling time is measured in business days — weekends and holidays don't count ... Each day ends at
11:59:59 p.m. In the case of 1-day handling, if an item is purchased on Friday, Saturday, or Sunday Pacific Time,
it needs to have an acceptance scan by Monday at 11:59:59 p.m. PT."
(https://pages.ebay.com/seller-center/shipping/handling-time.html)"""

from datetime import UTC, datetime

import pytest

from sellerguard.rules.handling import derive_ship_by, handling_calendar
from sellerguard.rules.packs import EventParams

EBAY_US = handling_calendar(EventParams(events="orders", anchor="purchased_at", defects=["shipped_late"],
                                        derive_ship_by=True, handling_calendar="ebay-us"), "UTC")


def ship_by(paid: datetime, days: int) -> datetime:
    [(_, due)] = derive_ship_by([("o", paid, days)], EBAY_US)
    return due


MONDAY_END_PST = datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC)  # Monday 23 Nov 23:59:59 PST


@pytest.mark.parametrize("paid", [
    datetime(2026, 11, 20, 16, 0, tzinfo=UTC),   # Friday 08:00 PST
    datetime(2026, 11, 21, 7, 59, tzinfo=UTC),   # Friday 23:59 PST (already Saturday in UTC)
    datetime(2026, 11, 22, 23, 0, tzinfo=UTC),   # Sunday 15:00 PST
    datetime(2026, 11, 23, 7, 59, tzinfo=UTC),   # Sunday 23:59 PST (Monday in UTC and in New York)
])
def test_one_day_handling_bought_friday_to_sunday_pacific_ends_monday_pt(paid):
    assert ship_by(paid, 1) == MONDAY_END_PST


def test_bought_monday_in_utc_but_sunday_in_pacific_is_counted_from_sunday():
    assert ship_by(datetime(2026, 11, 23, 7, 0, tzinfo=UTC), 1) == MONDAY_END_PST


def test_same_day_handling_gets_one_business_day():
    assert ship_by(datetime(2026, 11, 20, 16, 0, tzinfo=UTC), 0) == MONDAY_END_PST


def test_thanksgiving_and_christmas_do_not_count():
    # Wednesday 25 Nov, 1 day: Thursday 26 Nov is Thanksgiving -> Friday 27 Nov 23:59:59 PST
    assert ship_by(datetime(2026, 11, 25, 18, 0, tzinfo=UTC), 1) == datetime(2026, 11, 28, 7, 59, 59, tzinfo=UTC)
    # Thursday 24 Dec, 1 day: Friday 25 Dec is Christmas -> Monday 28 Dec (24 Dec itself is a shipping day)
    assert ship_by(datetime(2026, 12, 24, 18, 0, tzinfo=UTC), 1) == datetime(2026, 12, 29, 7, 59, 59, tzinfo=UTC)


def test_summer_time_ends_at_pdt_midnight():
    # Friday 3 Jul 2026 is the observed Independence Day: Thursday 2 Jul + 1 day -> Monday 6 Jul 23:59:59 PDT
    assert ship_by(datetime(2026, 7, 2, 17, 0, tzinfo=UTC), 1) == datetime(2026, 7, 7, 6, 59, 59, tzinfo=UTC)


def test_without_a_calendar_weekdays_count_in_the_packs_zone():
    plain = handling_calendar(EventParams(events="orders", anchor="purchased_at", defects=["shipped_late"],
                                          derive_ship_by=True), "America/Los_Angeles")
    [(_, due)] = derive_ship_by([("o", datetime(2026, 11, 25, 18, 0, tzinfo=UTC), 1)], plain)
    assert due == datetime(2026, 11, 27, 7, 59, 59, tzinfo=UTC)  # Thursday: no holidays without a calendar


@pytest.mark.parametrize(("extra", "says"), [
    ({"handling_calendar": "nowhere"}, "no calendar 'nowhere'"),
    ({"handling_calendar": "ebay-us", "derive_ship_by": False}, "needs derive_ship_by = true"),
    ({"handling_calendar": "../nl"}, "should match pattern"),
])
def test_a_bad_handling_calendar_is_refused_at_load(extra, says):
    params = {"events": "orders", "anchor": "purchased_at", "defects": ["shipped_late"], "derive_ship_by": True}
    with pytest.raises(ValueError, match=says):
        EventParams(**{**params, **extra})
