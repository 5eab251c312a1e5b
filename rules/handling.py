"""A ship-by derived from the seller's handling time, for orders the marketplace sends without one (eBay).

eBay counts handling time in business days from the payment; weekends and holidays do not count, each day ends at
23:59:59 Pacific Time, and same-day handling gets one business day ("if an item is purchased on Friday, Saturday,
or Sunday Pacific Time, it needs to have an acceptance scan by Monday at 11:59:59 p.m. PT":
https://pages.ebay.com/seller-center/shipping/handling-time.html; ../shared/reference/policies/ebay.md). The days
and the clock are a business calendar (``rules/calendars/<name>.toml``, the pack's ``handling_calendar``), so a
site with other holidays or another clock is data; without one, Monday-Friday in the pack's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sellerguard.rules.calendars import BusinessCalendar, load_calendar

DAY = timedelta(days=1)


@cache
def _named(name: str) -> BusinessCalendar:
    return load_calendar(name)


def handling_calendar(params: Any, timezone: str) -> BusinessCalendar:
    """The calendar the handling days are counted on: the metric's ``handling_calendar``, else Monday-Friday in
    ``timezone`` with no holidays. Raises ConfigError when the named calendar does not exist or is broken."""
    name = getattr(params, "handling_calendar", None)
    if name:
        return _named(name)
    return BusinessCalendar("handling", ZoneInfo(timezone), frozenset({5, 6}), frozenset())


def derive_ship_by(rows: Iterable[tuple[str, Any, Any]], calendar: BusinessCalendar) -> list[tuple[str, datetime]]:
    """``(order ref, paid_at, handling_days)`` -> ``(order ref, ship-by in UTC)``: 23:59:59 on the calendar's clock
    of the ``handling_days``-th business day after the payment's local date (0 days counts as 1)."""
    out = []
    for ref, paid_at, handling in rows:
        paid = paid_at if paid_at.tzinfo else paid_at.replace(tzinfo=UTC)
        day = paid.astimezone(calendar.tz).date()
        left = max(int(handling), 1)
        while left:
            day += DAY
            if calendar.is_business_day(day):
                left -= 1
        out.append((ref, datetime.combine(day, time(23, 59, 59), tzinfo=calendar.tz).astimezone(UTC)))
    return out
