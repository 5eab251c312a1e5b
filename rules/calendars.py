"""Business calendars for business-hour and business-day rules (weekends and holidays excluded).

A calendar lives in rules/calendars/<name>.toml::

    timezone = "Europe/Amsterdam"
    weekend = ["sat", "sun"]
    holidays = ["2026-12-25", "2026-12-26"]

Business time is counted on whole local business days (00:00-24:00 local time), so "24 business hours" from
Friday 15:00 ends on Monday 15:00. Days are walked in local time and measured in UTC, so DST days count
their real length.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sellerguard.errors import ConfigError

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    tz: ZoneInfo
    weekend: frozenset[int]  # date.weekday() numbers
    holidays: frozenset[date]

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def _midnight_after(self, local: datetime) -> datetime:
        return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.tz)

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The UTC moment ``hours`` business hours after ``start``."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(self.tz)
        while True:
            day_end = self._midnight_after(cursor)
            if self.is_business_day(cursor.date()):
                available = day_end.astimezone(UTC) - cursor.astimezone(UTC)
                if remaining <= available:
                    return cursor.astimezone(UTC) + remaining
                remaining -= available
            cursor = day_end

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Business hours from ``start`` to ``end`` (0 when end <= start)."""
        total = timedelta()
        cursor = start.astimezone(self.tz)
        stop = end.astimezone(UTC)
        while cursor.astimezone(UTC) < stop:
            day_end = self._midnight_after(cursor)
            if self.is_business_day(cursor.date()):
                total += min(day_end.astimezone(UTC), stop) - cursor.astimezone(UTC)
            cursor = day_end
        return total.total_seconds() / 3600


def parse_calendar(name: str, data: dict[str, object], where: str) -> BusinessCalendar:
    tz_name = data.get("timezone", "UTC")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone '{tz_name}'", where=f"{where}:timezone") from None
    weekend_raw = data.get("weekend", ["sat", "sun"])
    if not isinstance(weekend_raw, list) or any(str(d).lower() not in _DAYS for d in weekend_raw):
        raise ConfigError("expected a list of day names such as [\"sat\", \"sun\"]", where=f"{where}:weekend")
    weekend = frozenset(_DAYS[str(d).lower()] for d in weekend_raw)
    if len(weekend) == 7:
        raise ConfigError("a calendar needs at least one business day", where=f"{where}:weekend")
    holidays: set[date] = set()
    for i, raw in enumerate(data.get("holidays", []) or []):  # type: ignore[union-attr]
        try:
            holidays.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError:
            raise ConfigError(f"not a date: {raw!r}", where=f"{where}:holidays[{i}]") from None
    return BusinessCalendar(name, tz, weekend, frozenset(holidays))


def load_calendar(name: str, directory: Path | None = None) -> BusinessCalendar:
    folder = directory or Path(str(resources.files("sellerguard.rules") / "calendars"))
    path = folder / f"{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no calendar '{name}' ({path} does not exist)", where=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    return parse_calendar(name, data, str(path))
