"""Silences: ``ACCOUNT/ITEM`` patterns (shell wildcards) muted until a time, each with a reason.

A silence on a metric also mutes the deadline alerts that feed that metric. Expiring a silence sets its end to
now; rows are kept so ``sellerguard silence --list --all`` shows who muted what and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlmodel import Session, select

from sellerguard.alerts.model import Alert
from sellerguard.alerts.tables import SilenceRow
from sellerguard.errors import ConfigError
from sellerguard.store import Store


@dataclass(frozen=True)
class Silence:
    id: int
    account: str
    item: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        if not fnmatchcase(alert.account, self.account):
            return False
        return fnmatchcase(alert.item, self.item) or (
            alert.metric_id is not None and fnmatchcase(alert.metric_id, self.item)
        )


def parse_matcher(text: str) -> tuple[str, str]:
    """``acme-us/amazon.odr`` -> (account, item); ``acme-us`` alone silences the whole account."""
    account, _, item = text.strip().partition("/")
    if not account:
        raise ConfigError(f"expected ACCOUNT/METRIC (wildcards allowed), got {text!r}", where="silence")
    return account, item or "*"


def _silence(row: SilenceRow) -> Silence:
    return Silence(row.id or 0, row.account, row.item, row.starts_at, row.ends_at, row.reason, row.created_by)


def add_silence(
    store: Store,
    matcher: str,
    *,
    duration: timedelta,
    reason: str,
    now: datetime,
    created_by: str | None = None,
) -> Silence:
    if duration <= timedelta(0):
        raise ConfigError("the silence duration must be positive", where="silence --for")
    if not reason.strip():
        raise ConfigError("give a reason, so others know why alerts are muted", where="silence --reason")
    account, item = parse_matcher(matcher)
    try:
        ends_at = now + duration
    except OverflowError:
        raise ConfigError("the silence duration is too long", where="silence --for") from None
    row = SilenceRow(
        account=account,
        item=item,
        starts_at=now,
        ends_at=ends_at,
        reason=reason.strip()[:500],
        created_by=created_by,
    )
    with Session(store.engine) as session, session.begin():
        session.add(row)
        session.flush()
        return _silence(row)


def list_silences(store: Store, now: datetime, *, include_expired: bool = False) -> list[Silence]:
    with Session(store.engine) as session:
        q = select(SilenceRow).order_by(SilenceRow.id)  # type: ignore[arg-type]
        if not include_expired:
            q = q.where(SilenceRow.ends_at > now)
        return [_silence(r) for r in session.exec(q)]


def active_silences(store: Store, now: datetime) -> list[Silence]:
    return [s for s in list_silences(store, now) if s.active(now)]


def expire_silence(store: Store, silence_id: int, now: datetime) -> Silence:
    with Session(store.engine) as session, session.begin():
        row = session.get(SilenceRow, silence_id)
        if row is None:
            raise ConfigError(f"no silence with id {silence_id}", where="silence --expire")
        if row.ends_at > now:
            row.ends_at = now
            session.add(row)
        session.flush()
        return _silence(row)
