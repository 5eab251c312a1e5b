"""Whether one alert is worth a message to one target right now: a pure decision with a named reason.

Learned from Alertmanager's dedup stage (``notify/dedup_stage.go``, ``needsUpdate``): the inputs are what the
target last heard, the level seen now, the repeat interval and ``now``; the output names why a message goes out
or why it does not. Silences and quiet hours only turn a "would notify" into a named "held back"; the state is
then left alone, so the message is decided again (and sent if still relevant) once the mute ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

_RANK = {"ok": 0, "warn": 1, "critical": 2}


class Reason(StrEnum):
    NEW = "new"  # started firing: the target last heard "ok"
    ESCALATED = "escalated"  # rose above what the target last heard (warn -> critical)
    REPEAT = "repeat"  # still firing and the repeat interval has elapsed
    RESOLVED = "resolved"  # back to ok after the target was told it fired
    SILENCED = "silenced"  # would notify, muted by a silence
    QUIET = "quiet"  # would notify, held by the target's quiet hours
    HELD = "held"  # would notify, held by the target's rate cap (deadline items of a busy shop)
    UNKNOWN = "unknown"  # no data to judge: neither fire nor resolve
    NONE = "none"  # nothing new to say


NOTIFY = frozenset({Reason.NEW, Reason.ESCALATED, Reason.REPEAT, Reason.RESOLVED})


def decide(
    notified_level: str,
    last_notified_at: datetime | None,
    level: str,
    *,
    now: datetime,
    repeat_interval: timedelta,
    silenced: bool = False,
    quiet: bool = False,
) -> Reason:
    """``notified_level``: what the target last heard (ok/warn/critical); ``level``: the level seen now.

    A fall from critical to warn is not announced (it would flap); the next repeat carries the new level, and a
    later rise back to critical is then announced again.
    """
    if level == "unknown":
        return Reason.UNKNOWN
    if level == "ok":
        reason = Reason.RESOLVED if notified_level != "ok" else Reason.NONE
    elif notified_level == "ok":
        reason = Reason.NEW
    elif _RANK[level] > _RANK[notified_level]:
        reason = Reason.ESCALATED
    elif last_notified_at is None or now - last_notified_at >= repeat_interval:
        reason = Reason.REPEAT
    else:
        reason = Reason.NONE
    if reason in NOTIFY:
        if silenced:
            return Reason.SILENCED
        if quiet:
            return Reason.QUIET
    return reason
