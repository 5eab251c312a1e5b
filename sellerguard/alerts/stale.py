"""The "sync keeps failing" alert, derived from the store's sync runs so that a restart neither forgets nor
re-fires it: an account whose syncs have failed for longer than its ``stale_limit`` (default 4x sync_every)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from sellerguard import redact
from sellerguard.alerts.model import SYNC_ITEM, Alert
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun


def failing_since(store: Store, account: str) -> tuple[datetime, SyncRun] | None:
    """When the current run of failures began, and the latest failed run; None when the last sync was ok.

    A sync stopped on purpose (SIGTERM between batches: not ok, no error) is neither a failure nor a success.
    """
    judged = (SyncRun.account == account) & (SyncRun.ok.is_(True) | SyncRun.error_kind.is_not(None))  # type: ignore[attr-defined]
    latest = SyncRun.started_at.desc()  # type: ignore[attr-defined]
    with store.session() as session:
        last = session.execute(select(SyncRun).where(judged).order_by(latest).limit(1)).scalars().first()
        if last is None or last.ok:
            return None
        q = select(func.min(SyncRun.started_at)).where(judged, SyncRun.ok.is_(False))  # type: ignore[attr-defined]
        last_ok = session.execute(
            select(SyncRun.started_at).where(judged, SyncRun.ok.is_(True)).order_by(latest).limit(1)  # type: ignore[attr-defined]
        ).scalar()
        if last_ok is not None:
            q = q.where(SyncRun.started_at > last_ok)
        since = session.execute(q).scalar_one()
    return (since or last.started_at), last


def duration(delta: timedelta) -> str:
    """"12 min", "3 h 20 min", "2 days 4 h": never "0.0 h"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def sync_alert(store: Store, account: str, marketplace: str, stale_limit: timedelta, now: datetime) -> Alert:
    failing = failing_since(store, account)
    if failing is None or now - failing[0] < stale_limit:
        return Alert(account, marketplace, SYNC_ITEM, "ok")
    since, last = failing
    # credentials or settings that are wrong will not heal by waiting: that is critical
    level = "critical" if last.error_kind == "config" else "warn"
    error = " ".join(redact.current(last.error or "no message").split())[:300]
    detail = (
        f"Failing for {duration(now - since)} (since {since:%Y-%m-%d %H:%M} UTC); metrics may be out of date.\n"
        f"Last error ({last.error_kind or 'unknown'}): {error}"
    )
    return Alert(account, marketplace, SYNC_ITEM, level, detail=detail)
