"""From a StatusReport to queued messages, in Alertmanager's order, as plain functions:

    alerts (report + sync health) -> per target: filter accounts -> minimum level -> silence / quiet hours
    -> dedup (``decide``) -> group into one message set per target -> outbox + alert state, in ONE transaction.

Committing the state together with the outbox rows is what makes a restart neither re-send nor forget: a message
decided is either queued (and will be delivered, at least once) or was never decided.

Many processes on one store (``sellerguard worker`` x N, or a worker beside ``run``) decide under a store lock per
target (``decision_locks``: a PostgreSQL advisory lock, a file lock beside a SQLite file), held until that
transaction commits: the second evaluator reads what the first committed, so each change of an alert is queued
once per key whichever process evaluates it. Without it both could read "warn", both queue the escalation to
"critical", and the per-target hourly cap and the held-items row would race (tests/alerts/test_pipeline_locks.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from sellerguard.alerts import outbox
from sellerguard.alerts.blocks import one_line
from sellerguard.alerts.dedup import NOTIFY, Reason, decide
from sellerguard.alerts.links import seller_page
from sellerguard.alerts.model import Alert, effective_level, report_alerts
from sellerguard.alerts.silences import Silence, active_silences
from sellerguard.alerts.slack import Notice, render_alerts, render_digest
from sellerguard.alerts.stale import sync_alert
from sellerguard.alerts.tables import AlertStateRow, OutboxRow
from sellerguard.alerts.timing import digest_due, in_quiet_hours
from sellerguard.config import Config, TargetConfig
from sellerguard.rules.report import StatusReport
from sellerguard.store import Store

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    decisions: dict[str, dict[tuple[str, str], Reason]] = field(default_factory=dict)  # target -> key -> reason
    queued: dict[str, int] = field(default_factory=dict)  # target -> messages written to the outbox

    def notified(self, target: str) -> dict[tuple[str, str], Reason]:
        return {k: r for k, r in self.decisions.get(target, {}).items() if r in NOTIFY}


def seller_pages(config: Config, report: StatusReport) -> dict[str, str | None]:
    configured = {a.id: a for a in config.accounts}
    pages: dict[str, str | None] = {}
    for acc in report.accounts:
        cfg = configured.get(acc.account)
        pages[acc.account] = seller_page(
            acc.marketplace, cfg.region if cfg else None, cfg.seller_page if cfg else None
        )
    return pages


def target_report(report: StatusReport, target: TargetConfig) -> StatusReport:
    if target.accounts is None:
        return report
    keep = set(target.accounts)
    return report.model_copy(update={"accounts": [a for a in report.accounts if a.account in keep]})


def all_alerts(store: Store, config: Config, report: StatusReport, now: datetime) -> list[Alert]:
    alerts = report_alerts(report, config.daemon.deadline_lead, config.daemon.breach_probability_warn)
    stale_limits = {a.id: a.stale_limit for a in config.accounts}
    for acc in report.accounts:
        if acc.account in stale_limits:
            alerts.append(sync_alert(store, acc.account, acc.marketplace, stale_limits[acc.account], now))
    return alerts


MESSAGES_PER_HOUR = 6  # per target: warn-level deadline items wait for a slot (one per 10 min) and go together
HELD_ITEM = "_held"  # alert_state row (account "") remembering since when a target's items are held back


def recently_told(session: Session, target: str, now: datetime, cap: int) -> bool:
    """Whether ``target`` got an alert message within the last hour / ``cap`` (10 min at 6 per hour): the
    spacing that keeps it at ``cap`` messages per hour (folded messages never went out)."""
    from sqlalchemy import func

    last = session.exec(
        select(func.max(OutboxRow.created_at)).where(
            OutboxRow.target == target, OutboxRow.kind == "alert", OutboxRow.status != "folded")
    ).one()
    return last is not None and now - last < timedelta(hours=1) / cap


def _cappable(alert: Alert, level: str) -> bool:
    """Only deadline items below critical wait for the cap: metrics, sync and critical news never do."""
    return alert.item.startswith("deadline:") and level != "critical"


def _decide_target(
    session: Session,
    config: Config,
    target: TargetConfig,
    report: StatusReport,
    alerts: list[Alert],
    silences: list[Silence],
    now: datetime,
) -> tuple[dict[tuple[str, str], Reason], list[Notice]]:
    accounts = {a.account: a.marketplace for a in report.accounts}
    rows = session.exec(
        select(AlertStateRow).where(
            AlertStateRow.target == target.name,
            AlertStateRow.account.in_(list(accounts)),  # type: ignore[attr-defined]
        )
    ).all()
    states = {(r.account, r.item): r for r in rows}
    current = {(a.account, a.item): a for a in alerts if a.account in accounts}
    for key in states.keys() - current.keys():  # gone from the report: the item cleared
        current[key] = Alert(key[0], accounts[key[0]], key[1], "ok")
    quiet = in_quiet_hours(now, target.quiet_hours, target.timezone)
    cap = getattr(target, "max_per_hour", None) or MESSAGES_PER_HOUR
    capped = recently_told(session, target.name, now, cap)
    decisions: dict[tuple[str, str], Reason] = {}
    notices: list[Notice] = []
    for key, alert in sorted(current.items()):
        level = effective_level(alert.level, target.min_level)
        state = states.get(key)
        notified = state.notified_level if state else "ok"
        reason = decide(
            notified,
            state.last_notified_at if state else None,
            level,
            now=now,
            repeat_interval=config.daemon.repeat_interval,
            silenced=any(s.matches(alert) for s in silences),
            quiet=quiet and level != "critical",  # quiet hours hold everything but critical news
        )
        if reason in NOTIFY and capped and _cappable(alert, level):
            reason = Reason.HELD
        decisions[key] = reason
        if reason in NOTIFY:
            notices.append(Notice(alert if level == alert.level else _at(alert, level), reason, at=now))
        _update_state(session, target.name, key, state, level, reason, now)
    return decisions, notices


def _at(alert: Alert, level: str) -> Alert:
    return Alert(alert.account, alert.marketplace, alert.item, level, alert.metric, alert.deadline, alert.detail)


def _update_state(
    session: Session,
    target: str,
    key: tuple[str, str],
    state: AlertStateRow | None,
    level: str,
    reason: Reason,
    now: datetime,
) -> None:
    notify = reason in NOTIFY
    if state is None and reason is Reason.HELD:
        return  # decided again at the next evaluation, like a quiet-hours hold
    if state is None:
        if level in ("ok", "unknown") and not notify:
            return  # nothing fired, nothing to remember
        state = AlertStateRow(target=target, account=key[0], item=key[1], level=level, notified_level="ok")
    state.level = level
    state.updated_at = now
    if notify:
        state.notified_level = "ok" if reason is Reason.RESOLVED else level
        state.last_notified_at = now
        if reason is Reason.NEW:
            state.firing_since = now
    if state.notified_level == "ok" and level == "ok":
        if state in session:
            session.delete(state)
        return
    session.add(state)


def bodies(target: TargetConfig, messages: list[dict[str, object]], report: StatusReport) -> list[str]:
    """Slack gets the Block Kit messages; a generic webhook gets the ``status --json`` document
    (``sellerguard.status.report_document``, docs/status-json.md), limited to the target's accounts."""
    if target.type == "webhook":
        from sellerguard.status import report_document

        return [json.dumps(_one_line_strings(report_document(report)), ensure_ascii=False)]
    return [json.dumps(m, ensure_ascii=False) for m in messages]


WEBHOOK_TEXT_MAX = 500


def _one_line_strings(node: Any) -> Any:
    """Every text field of the webhook document on one line and at most ``WEBHOOK_TEXT_MAX`` characters: a
    receiver that forwards a name or an order id into its own chat cannot be handed a line of ours."""
    if isinstance(node, str):
        return one_line(node, WEBHOOK_TEXT_MAX)
    if isinstance(node, dict):
        return {k: _one_line_strings(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_line_strings(v) for v in node]
    return node


def _keys(target: TargetConfig, notices: list[Notice]) -> list[outbox.Event]:
    """This evaluation's events for ``target``: per alert for Slack; per account for a webhook, whose document
    is the account's whole state (a newer one supersedes an older one entirely)."""
    if target.type == "webhook":
        return [outbox.Event(a, "update", n_at) for a, n_at in _accounts(notices)]
    return [outbox.Event(f"{n.alert.account}/{n.alert.item}", str(n.reason), n.at) for n in notices]


def _accounts(notices: list[Notice]) -> list[tuple[str, datetime]]:
    seen: dict[str, datetime] = {}
    for n in notices:
        seen.setdefault(n.alert.account, n.at)
    return list(seen.items())


def _hold(session: Session, target: str, held: int, now: datetime) -> datetime | None:
    """Remember since when ``target`` has items held back by its rate cap; when nothing is held any more,
    forget it and return since when (the message that now goes out says so), else None."""
    row = session.get(AlertStateRow, (target, "", HELD_ITEM))
    if held:
        if row is None:
            session.add(AlertStateRow(target=target, account="", item=HELD_ITEM, level="held", firing_since=now,
                                      updated_at=now))
            log.info("target %s: %d deadline item(s) held back by the rate cap (%d messages per hour)", target, held,
                     MESSAGES_PER_HOUR)
        return None
    if row is None:
        return None
    session.delete(row)
    return row.firing_since


def queue_notices(
    session: Session, target: TargetConfig, notices: list[Notice], scoped: StatusReport,
    pages: dict[str, str | None], now: datetime, held_since: datetime | None = None,
) -> int:
    """Fold what this evaluation supersedes, render (with the folded history) and queue, in the caller's
    transaction."""
    own = _keys(target, notices)
    pause = outbox.target_pause(session, target.name)
    history = outbox.fold(session, target.name, {e.key for e in own})
    told = [replace(n, history=tuple(history.get(f"{n.alert.account}/{n.alert.item}", ()))) for n in notices]
    cap = getattr(target, "max_per_hour", None) or MESSAGES_PER_HOUR
    events = [e for evs in history.values() for e in evs] + own
    if target.type == "email":  # one e-mail: the same messages as plain text + HTML (alerts/email.py)
        from sellerguard.alerts import email

        mails = email.render_alerts(told, scoped, pages, held_since=held_since, cap=cap)
        return outbox.enqueue(session, target.name, "alert", mails, now, events, pause)
    messages = render_alerts(told, scoped, pages, held_since=held_since, cap=cap) if target.type == "slack" else []
    return outbox.enqueue(session, target.name, "alert", bodies(target, messages, scoped), now, events, pause)


DIGEST_LOCK = "alerts:digest"


def decision_lock(target: str) -> str:
    return f"alerts:{target}"


@contextmanager
def decision_locks(store: Store, targets: Iterable[str]) -> Iterator[None]:
    """Hold the store lock of each target (sorted: every process takes them in one order, so none deadlocks).

    PostgreSQL: one pooled connection per target for the session advisory lock, beside the deciding session.
    Raises ``StoreError`` when a SQLite file lock is not free within 60 s.
    """
    with ExitStack() as stack:
        for name in sorted(set(targets)):
            stack.enter_context(store.lock(decision_lock(name)))
        yield


def process_report(store: Store, config: Config, report: StatusReport, *, now: datetime) -> PipelineResult:
    """Decide and queue the notifications for one evaluation; nothing is sent here (see ``outbox.flush``).

    Safe with many processes on one store: the decision runs under ``decision_locks`` (module docstring)."""
    result = PipelineResult()
    if not config.notify:
        return result
    alerts = all_alerts(store, config, report, now)
    silences = active_silences(store, now)
    pages = seller_pages(config, report)
    with decision_locks(store, (t.name for t in config.notify)), Session(store.engine) as session, session.begin():
        for target in config.notify:
            scoped = target_report(report, target)
            decisions, notices = _decide_target(session, config, target, scoped, alerts, silences, now)
            result.decisions[target.name] = decisions
            held = sum(1 for r in decisions.values() if r is Reason.HELD)
            since = _hold(session, target.name, held, now)
            if not notices:
                continue
            queued = queue_notices(session, target, notices, scoped, pages, now, held_since=since)
            result.queued[target.name] = queued
            log.info("queued %d message(s) for target %s: %d alert change(s)", queued, target.name, len(notices))
    return result


def _last_digest(session: Session, target: str) -> datetime | None:
    return session.exec(
        select(OutboxRow.created_at)
        .where(OutboxRow.target == target, OutboxRow.kind == "digest")
        .order_by(OutboxRow.created_at.desc())  # type: ignore[attr-defined]
        .limit(1)
    ).first()


def digest_targets_due(store: Store, config: Config, now: datetime) -> list[TargetConfig]:
    with Session(store.engine) as session:
        return [
            t for t in config.notify
            if t.digest and digest_due(now, config.daemon.digest_at, t.timezone, _last_digest(session, t.name))
        ]


def enqueue_digests(store: Store, config: Config, report: StatusReport, *, now: datetime) -> list[str]:
    """Queue today's digest for every target that wants one and has not had it; returns the target names.

    Under one store lock (``DIGEST_LOCK``) from the check to the commit: two processes never queue one day's
    digest twice."""
    with store.lock(DIGEST_LOCK):
        return _enqueue_digests(store, config, report, now)


def _enqueue_digests(store: Store, config: Config, report: StatusReport, now: datetime) -> list[str]:
    due = {t.name for t in digest_targets_due(store, config, now)}
    changes = _changes_since_yesterday(store, report) if due else []
    with Session(store.engine) as session, session.begin():
        for target in config.notify:
            if target.name not in due:
                continue
            scoped = target_report(report, target)
            if target.type == "email":
                from sellerguard.alerts import email

                outbox.enqueue(session, target.name, "digest",
                               email.render_digest(scoped, seller_pages(config, scoped), now), now)
                continue
            slack = target.type == "slack"
            messages = render_digest(scoped, seller_pages(config, scoped), now, changes) if slack else []
            outbox.enqueue(session, target.name, "digest", bodies(target, messages, scoped), now)
    return sorted(due)


def _changes_since_yesterday(store: Store, report: StatusReport) -> list[Any]:
    """What changed since yesterday's metric history (sellerguard.history); none when there is no history."""
    from datetime import timedelta

    from sellerguard.history.changes import changes_since

    return changes_since(store, report, timedelta(days=1)).items
