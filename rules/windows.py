"""Window kinds: where a metric's window starts and ends, as exact instants (docs/policy-packs.md, "Windows").

- ``days``: rolling 24-hour days, ``[now - lag - N days, now - lag)``.
- ``months``: calendar months back from the end, ``[end - N months, end)`` with ``end = now - lag days``; the
  month arithmetic runs on the marketplace's local calendar (``timezone``) and clamps to the month's last day
  (31 May - 3 months = 28 Feb, 29 Feb in a leap year). eBay's "last 3 months", Etsy's "3 calendar months".
- ``iso_weeks``: whole ISO weeks, Monday 00:00 to Monday 00:00 in ``timezone``; the window is the N weeks ending
  with the week that contains ``now - lag`` (the running week; ``verdict`` gives the last final one).

``align = "date"`` ends a days/months window at 00:00 local of the evaluation date (minus lag days): "the 3
calendar months before the evaluation date". Every function here is pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole calendar months, the day clamped to the target month's length."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, calendar.monthrange(year, month + 1)[1]))


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz)


def _at(d: date, t: time, tz: ZoneInfo) -> datetime:
    """The instant of local date+time (a wall time skipped by DST resolves forward, as zoneinfo does)."""
    return datetime.combine(d, t, tzinfo=tz).astimezone(UTC)


def local_midnight(moment: datetime, tz: ZoneInfo) -> datetime:
    """00:00 local of the day that contains ``moment``."""
    return _at(_local(moment, tz).date(), time(0), tz)


def iso_week_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """Monday 00:00 local of the ISO week that contains ``moment``."""
    d = _local(moment, tz).date()
    return _at(d - timedelta(days=d.weekday()), time(0), tz)


def shift_local_days(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """``moment`` moved by whole local calendar days (same wall time), DST-safe."""
    if days == 0:
        return moment
    loc = _local(moment, tz)
    return _at(loc.date() + timedelta(days=days), loc.timetz().replace(tzinfo=None), tz)


def bounds(kind: str, length: int, lag_days: int, as_of: datetime, *, tz: ZoneInfo,
           align: str = "instant") -> tuple[datetime, datetime]:
    """``(start, end)`` of a window: start included, end excluded, both aware UTC."""
    if kind == "iso_weeks":
        ref = as_of - lag_days * DAY
        first = iso_week_start(ref, tz)
        end = _at(_local(first, tz).date() + timedelta(weeks=1), time(0), tz)
        start = _at(_local(first, tz).date() - timedelta(weeks=length - 1), time(0), tz)
        return start, end
    if align == "date":
        end = shift_local_days(local_midnight(as_of, tz), -lag_days, tz)
    elif kind == "months":
        end = shift_local_days(as_of, -lag_days, tz)
    else:
        end = as_of - lag_days * DAY
    if kind == "months":
        loc = _local(end, tz)
        start = _at(add_months(loc.date(), -length), loc.timetz().replace(tzinfo=None), tz)
    elif align == "date":
        start = shift_local_days(end, -length, tz)
    else:
        start = end - length * DAY
    return start.astimezone(UTC), end.astimezone(UTC)


def last_verdict(every: str, day: int, as_of: datetime, tz: ZoneInfo) -> datetime:
    """The latest verdict moment at or before ``as_of``: 00:00 local on ``day`` of the month, or Monday 00:00."""
    if every == "week":
        return iso_week_start(as_of, tz)
    loc = _local(as_of, tz).date()
    this_month = date(loc.year, loc.month, min(day, calendar.monthrange(loc.year, loc.month)[1]))
    at = _at(this_month, time(0), tz)
    if at <= as_of:
        return at
    prev = add_months(date(loc.year, loc.month, 1), -1)
    return _at(date(prev.year, prev.month, min(day, calendar.monthrange(prev.year, prev.month)[1])), time(0), tz)
