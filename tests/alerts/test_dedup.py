"""decide(): one row per case, like Alertmanager's needsUpdate table test."""

from datetime import UTC, datetime, timedelta

import pytest

from sellerguard.alerts.dedup import NOTIFY, Reason, decide

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("notified", "last_ago", "level", "silenced", "quiet", "expected"),
    [
        ("ok", None, "ok", False, False, Reason.NONE),  # nothing ever fired
        ("ok", None, "warn", False, False, Reason.NEW),  # ok -> warn fires
        ("ok", None, "critical", False, False, Reason.NEW),  # ok -> critical fires
        ("warn", 1, "critical", False, False, Reason.ESCALATED),  # warn -> critical fires at once
        ("warn", 1, "warn", False, False, Reason.NONE),  # still warn, told an hour ago
        ("warn", 24, "warn", False, False, Reason.REPEAT),  # repeat interval elapsed exactly
        ("critical", 23.9, "critical", False, False, Reason.NONE),  # just before the repeat
        ("critical", 2, "warn", False, False, Reason.NONE),  # a fall is not announced (no flapping)
        ("critical", 30, "warn", False, False, Reason.REPEAT),  # ... the repeat carries the lower level
        ("warn", 2, "ok", False, False, Reason.RESOLVED),  # cleared after being told
        ("critical", 2, "ok", False, False, Reason.RESOLVED),
        ("warn", 2, "unknown", False, False, Reason.UNKNOWN),  # no data: neither resolve nor repeat
        ("ok", None, "unknown", False, False, Reason.UNKNOWN),
        ("ok", None, "critical", True, False, Reason.SILENCED),  # a silence mutes a new alert
        ("warn", 2, "ok", True, False, Reason.SILENCED),  # ... and its resolution (sent when it ends)
        ("warn", 2, "warn", True, False, Reason.NONE),  # nothing to mute
        ("ok", None, "warn", False, True, Reason.QUIET),  # quiet hours hold a new alert
        ("warn", 30, "warn", False, True, Reason.QUIET),  # ... and a repeat
        ("ok", None, "warn", True, True, Reason.SILENCED),  # silence is named first
        ("warn", None, "warn", False, False, Reason.REPEAT),  # state without a time: repeat
    ],
)
def test_decide(notified, last_ago, level, silenced, quiet, expected):
    last = None if last_ago is None else NOW - timedelta(hours=last_ago)
    got = decide(notified, last, level, now=NOW, repeat_interval=DAY, silenced=silenced, quiet=quiet)
    assert got is expected


def test_only_four_reasons_send():
    assert {Reason.NEW, Reason.ESCALATED, Reason.REPEAT, Reason.RESOLVED} == NOTIFY
