"""Business calendars for business-hour and business-day rules (weekends and holidays excluded).

A calendar lives in rules/calendars/<name>.toml::

    timezone = "Europe/Amsterdam"
    weekend = ["sat", "sun"]
    country = "NL"                 # public holidays from the `holidays` library, any year it covers
    holidays = ["2026-12-24"]      # local additions (one-off days)
    yearly = ["05-05"]             # local additions every year (MM-DD)
    not_holidays = ["2026-04-03"]  # library days that do not count here

Without ``country`` the ``holidays`` list is the whole data. A day in a year the data does not cover (outside
the library's years for the country, or outside the listed years) logs a warning once per calendar and year:
only weekends are skipped there, so deadlines may come a holiday early.

Business time is counted on whole local business days (00:00-24:00 local time), so "24 business hours" from
Friday 15:00 ends on Monday 15:00. Days are walked in local time and measured in UTC, so DST days count
their real length.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sellerguard.errors import ConfigError

_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
log = logging.getLogger("sellerguard.rules.calendars")
_WARNED: set[tuple[str, int]] = set()


@lru_cache(maxsize=256)
def country_holidays(country: str, year: int) -> frozenset[date]:
    """Public holidays of ``country`` (ISO 3166 alpha-2) in ``year``, from the ``holidays`` library."""
    import holidays

    return frozenset(holidays.country_holidays(country, years=year))


@lru_cache(maxsize=64)
def country_years(country: str) -> tuple[int, int]:
    """The years the ``holidays`` library has rules for ``country``."""
    import holidays

    found = holidays.country_holidays(country)
    return int(getattr(found, "start_year", 1900)), int(getattr(found, "end_year", 2100))


@lru_cache(maxsize=1)
def supported_countries() -> frozenset[str]:
    """The country codes the ``holidays`` library knows (alpha-2, alpha-3 and aliases such as UK), from its registry.

    The same codes as ``holidays.list_supported_countries()``, which imports all ~250 country modules to list their
    subdivisions (~0.1 s CPU): a cost every eBay ``status`` paid, since loading the eBay pack checks its handling
    calendar (issue 21). The holiday data of a country is imported at its first business-day check."""
    import holidays

    try:
        from holidays.registry import EntityLoader

        return frozenset(EntityLoader.get_country_codes())
    except (ImportError, AttributeError):  # a holidays release without the registry's code listing
        return frozenset(holidays.list_supported_countries())


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    tz: ZoneInfo
    weekend: frozenset[int]  # date.weekday() numbers
    holidays: frozenset[date]  # one-off days (the whole data when there is no country)
    country: str | None = None
    yearly: frozenset[tuple[int, int]] = field(default_factory=frozenset)  # (month, day) every year
    not_holidays: frozenset[date] = field(default_factory=frozenset)

    @cached_property
    def years(self) -> tuple[int, int] | None:
        """First and last year with holiday data; None when the calendar has none (weekdays only)."""
        if self.country:
            return country_years(self.country)
        if self.holidays:
            return min(d.year for d in self.holidays), max(d.year for d in self.holidays)
        return None

    def is_holiday(self, day: date) -> bool:
        years = self.years
        if years is not None and not years[0] <= day.year <= years[1] and (self.name, day.year) not in _WARNED:
            _WARNED.add((self.name, day.year))
            log.warning("calendar %s has no public holidays for %d (data covers %d-%d): only weekends are skipped,"
                        " so business-time deadlines may fall on a holiday", self.name, day.year, *years)
        if day in self.holidays or (day.month, day.day) in self.yearly:
            return True
        return bool(self.country) and day not in self.not_holidays and \
            day in country_holidays(self.country, day.year)  # type: ignore[arg-type]

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and not self.is_holiday(day)

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
    country = data.get("country")
    if country is not None:
        if str(country).upper() not in supported_countries():
            raise ConfigError(f"unknown country '{country}' (an ISO 3166 code the holidays library supports)",
                              where=f"{where}:country")
        country = str(country).upper()
    yearly: set[tuple[int, int]] = set()
    for i, raw in enumerate(data.get("yearly", []) or []):  # type: ignore[union-attr]
        try:
            day = date.fromisoformat(f"2000-{raw}")  # a leap year: 02-29 is allowed
        except ValueError:
            raise ConfigError(f"not a MM-DD day: {raw!r}", where=f"{where}:yearly[{i}]") from None
        yearly.add((day.month, day.day))
    return BusinessCalendar(name, tz, weekend, _dates(data, "holidays", where), country, frozenset(yearly),
                            _dates(data, "not_holidays", where))


def _dates(data: dict[str, object], key: str, where: str) -> frozenset[date]:
    found: set[date] = set()
    for i, raw in enumerate(data.get(key, []) or []):  # type: ignore[union-attr]
        try:
            found.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
        except ValueError:
            raise ConfigError(f"not a date: {raw!r}", where=f"{where}:{key}[{i}]") from None
    return frozenset(found)


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
