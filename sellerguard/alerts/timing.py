"""Local-time rules per target: quiet hours and when the daily digest is due."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_quiet_hours(now: datetime, quiet_hours: str | None, timezone: str) -> bool:
    """``"22:00-07:00"`` in the target's zone; a window that crosses midnight wraps; start == end means never."""
    if not quiet_hours:
        return False
    start_text, end_text = quiet_hours.split("-")
    start, end = _hhmm(start_text), _hhmm(end_text)
    local = now.astimezone(ZoneInfo(timezone)).time().replace(second=0, microsecond=0)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def local_date(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def digest_due(now: datetime, digest_at: str | None, timezone: str, last_digest: datetime | None) -> bool:
    """Due once per local day, at or after ``digest_at``; a daemon that was down at that time sends it on start
    the same day (it does not catch up on days it missed entirely)."""
    if not digest_at:
        return False
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    if local.time() < _hhmm(digest_at):
        return False
    return last_digest is None or last_digest.astimezone(zone).date() < local.date()
