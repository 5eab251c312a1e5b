"""Alerts once with many processes (issue 24): two evaluators of one account on one store, at the same instant,
through ``process_report`` itself (what ``run`` and every worker call): each change of the alert is queued once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from sellerguard.alerts.pipeline import enqueue_digests, process_report
from sellerguard.alerts.tables import OutboxRow
from sellerguard.config import parse_config
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = parse_config({"accounts": [{"id": "a1", "marketplace": "amazon"}],
                       "notify": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/never"},
                                  {"name": "team", "type": "webhook", "url": "http://127.0.0.1:9/never"}]})


def _report(level: str, at: datetime) -> StatusReport:
    metric = MetricStatus(id="amazon.odr", name="ODR", value=0.02, numerator=20, denominator=1000, window_days=60,
                          threshold=0.01, comparator="<", level=level, source="https://x.test")
    return StatusReport(as_of=at, accounts=[AccountStatus(marketplace="amazon", account="a1", level=level,
                                                          metrics=[metric], deadlines=[])])


def _at_once(calls: list[Any]) -> list[Any]:
    """Run each call in its own thread, released together by a barrier; their results in order."""
    start = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_two_processes_evaluating_one_account_at_once_queue_each_alert_change_once(store: Store) -> None:
    """Two stores on one database (as two worker processes have: their own connections, their own locks),
    each evaluating a1 at the same instant, for a new warn, the escalation to critical and the resolution:
    per target exactly one of them queues the message, the other reads the state the first committed."""
    other = Store(store.url, migrate=False)
    try:
        for step, level in enumerate(("warn", "critical", "ok")):
            at = NOW + timedelta(minutes=step)
            results = _at_once([lambda s=s, level=level, at=at: process_report(s, CONFIG, _report(level, at), now=at)
                                for s in (store, other)])
            per_target = {t: sorted(r.queued.get(t, 0) for r in results) for t in ("ops", "team")}
            assert per_target == {"ops": [0, 1], "team": [0, 1]}, (level, per_target)
        with store.session() as session:
            rows = session.exec(select(OutboxRow).order_by(OutboxRow.id)).all()  # type: ignore[arg-type]
        # one document per change and target (a later change folds the earlier one still waiting)
        assert sorted((r.target, r.kind) for r in rows) == [("ops", "alert")] * 3 + [("team", "alert")] * 3
    finally:
        other.close()


def test_two_processes_queue_one_days_digest_once(store: Store) -> None:
    config = parse_config({"accounts": [{"id": "a1", "marketplace": "amazon"}],
                           "daemon": {"digest_at": "09:00"},
                           "notify": [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/never",
                                       "digest": True}]})
    at = NOW.replace(hour=9, minute=30)
    other = Store(store.url, migrate=False)
    try:
        done = _at_once([lambda s=s: enqueue_digests(s, config, _report("ok", at), now=at) for s in (store, other)])
        assert sorted(done) == [[], ["ops"]]
    finally:
        other.close()
