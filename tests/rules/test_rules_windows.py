"""Window kinds (issue 15 kind 1): calendar months are not day counts, ISO weeks run Monday to Monday in the
marketplace's clock, and every window's first and last instant is exact (pure functions, no store)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sellerguard.rules.windows import add_months, bounds, iso_week_start, last_verdict

UTC_Z = ZoneInfo("UTC")
PT = ZoneInfo("America/Los_Angeles")
AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(("d", "months", "want"), [
    (date(2026, 5, 31), -3, date(2026, 2, 28)),  # 31 May - 3 months: February has 28 days
    (date(2028, 5, 31), -3, date(2028, 2, 29)),  # leap year
    (date(2026, 11, 30), -3, date(2026, 8, 30)),  # a 30th stays a 30th
    (date(2026, 12, 31), -3, date(2026, 9, 30)),  # September has 30 days
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
    (date(2026, 1, 15), -12, date(2025, 1, 15)),
    (date(2026, 2, 28), 3, date(2026, 5, 28)),
])
def test_add_months_clamps_to_the_month_end(d, months, want):
    assert add_months(d, months) == want


def test_three_calendar_months_are_not_90_days_on_month_ends():
    as_of = datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    start, end = bounds("months", 3, 0, as_of, tz=UTC_Z)
    assert (start, end) == (datetime(2026, 2, 28, 12, 0, tzinfo=UTC), as_of)
    assert (end - start).days == 92  # 90 days would start on 2 March
    start, _ = bounds("months", 3, 0, datetime(2026, 8, 31, 12, 0, tzinfo=UTC), tz=UTC_Z)
    assert start == datetime(2026, 5, 31, 12, 0, tzinfo=UTC)


def test_months_window_with_lag_counts_the_lag_in_days_first():
    start, end = bounds("months", 3, 2, datetime(2026, 6, 2, 0, 0, tzinfo=UTC), tz=UTC_Z)
    assert (start, end) == (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 5, 31, tzinfo=UTC))


def test_etsy_three_calendar_months_before_the_evaluation_date():
    # on the 1st: exactly the 3 previous calendar months (the monthly Star Seller verdict)
    start, end = bounds("months", 3, 0, datetime(2026, 12, 1, 15, 30, tzinfo=UTC), tz=UTC_Z, align="date")
    assert (start, end) == (datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    # any other day: from the same date 3 months back to the start of today
    start, end = bounds("months", 3, 0, datetime(2026, 11, 30, 23, 59, tzinfo=UTC), tz=UTC_Z, align="date")
    assert (start, end) == (datetime(2026, 8, 30, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))


def test_months_in_a_local_clock_across_dst():
    # 23 Nov 04:00 PST back 3 months is 23 Aug 04:00 PDT: one hour more than 92 x 24 h in UTC
    start, end = bounds("months", 3, 0, datetime(2026, 11, 23, 12, 0, tzinfo=UTC), tz=PT)
    assert start == datetime(2026, 8, 23, 11, 0, tzinfo=UTC) and end - start == timedelta(days=92, hours=1)


def test_rolling_days_with_lag_are_exact_24_hour_days():
    start, end = bounds("days", 60, 14, datetime(2026, 11, 23, 12, 0, tzinfo=UTC), tz=UTC_Z)
    assert (start, end) == (datetime(2026, 9, 10, 12, 0, tzinfo=UTC), datetime(2026, 11, 9, 12, 0, tzinfo=UTC))


def test_iso_week_is_monday_to_monday_in_the_marketplace_clock():
    # Sunday 29 Nov 2026 23:30 in Amsterdam is still week 48 (Mon 23 Nov 00:00 CET = 22 Nov 23:00 UTC)
    as_of = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    start, end = bounds("iso_weeks", 1, 0, as_of, tz=AMS)
    assert (start, end) == (datetime(2026, 11, 22, 23, 0, tzinfo=UTC), datetime(2026, 11, 29, 23, 0, tzinfo=UTC))
    # the first instant of the next week belongs to the next week
    start2, _ = bounds("iso_weeks", 1, 0, end, tz=AMS)
    assert start2 == end


def test_iso_week_over_the_dst_change_is_169_hours():
    # week 43 of 2026: Mon 19 Oct - Mon 26 Oct in Amsterdam; the clocks go back on Sunday 25 Oct
    start, end = bounds("iso_weeks", 1, 0, datetime(2026, 10, 25, 12, 0, tzinfo=UTC), tz=AMS)
    assert start == datetime(2026, 10, 18, 22, 0, tzinfo=UTC)  # Monday 00:00 CEST
    assert end == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # Monday 00:00 CET
    assert end - start == timedelta(hours=169)
    assert iso_week_start(datetime(2026, 10, 26, 0, 0, tzinfo=UTC), AMS) == end


def test_last_verdict_on_the_20th_and_the_1st():
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 00:00 PST on the 20th
    assert last_verdict("month", 20, at, PT) == at
    assert last_verdict("month", 20, at - timedelta(seconds=1), PT) == datetime(2026, 10, 20, 7, 0, tzinfo=UTC)
    assert last_verdict("month", 1, datetime(2026, 3, 1, 0, 0, tzinfo=UTC), UTC_Z) == datetime(2026, 3, 1, tzinfo=UTC)
    assert last_verdict("week", 0, datetime(2026, 11, 25, tzinfo=UTC), UTC_Z) == datetime(2026, 11, 23, tzinfo=UTC)
