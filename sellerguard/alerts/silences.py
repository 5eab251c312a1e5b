"""Silences: ``ACCOUNT/ITEM`` patterns (shell wildcards) muted until a time, each with a reason.

A silence on a metric also mutes the deadline alerts that feed that metric. Expiring a silence sets its end to
now; rows are kept so ``sellerguard silence --list --all`` shows who muted what and why.

``check_matcher`` refuses a silence that could never match: an account id known neither to the config nor to the
store (an account that exists only through ``import`` is alerted on, so it can be silenced), or a metric id no
policy pack of those accounts' marketplaces has; each named with the closest known one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from sellerguard.alerts.model import Alert
from sellerguard.alerts.tables import SilenceRow
from sellerguard.errors import ConfigError, StoreError
from sellerguard.store import Store

if TYPE_CHECKING:
    from sellerguard.config import Config

FIXED_ITEMS = ("sync", "credentials")  # alert items that are not metrics (plus "deadline:<...>")


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


def known_accounts(config: Config, db_url: str | None = None) -> dict[str, str]:
    """{account id: marketplace} of every account alerts can name: the config's, then the store's (imported ones).

    The store at ``db_url`` is opened read-only (never created or migrated) and only when given; a missing
    database adds nothing (an empty store knows no account)."""
    known = {a.id: a.marketplace for a in config.accounts}
    if db_url is None:
        return known
    from sellerguard.store.tables import AccountRow

    try:
        store = Store(db_url, migrate=False, create=False)
    except StoreError:
        return known  # no database yet: only the config's accounts exist
    try:
        with Session(store.engine) as session:
            for row in session.exec(select(AccountRow)):
                known.setdefault(row.id, row.marketplace)
    finally:
        store.close()
    return known


def check_matcher(config: Config, matcher: str, db_url: str | None = None) -> tuple[str, str]:
    """``(account, item)`` of a silence to add, or a ConfigError naming what matches nothing (``where="silence"``).

    An account without wildcards must be known (``known_accounts``); a metric item without wildcards must be a
    metric of the pack of one of the matching accounts' marketplaces (every pack when none matches a pattern);
    ``sync``, ``credentials``, ``deadline:...`` and patterns pass."""
    from sellerguard.consent import did_you_mean

    account, item = parse_matcher(matcher)
    pattern = any(ch in account for ch in "*?[")
    accounts = known_accounts(config, db_url) if pattern or account not in {a.id for a in config.accounts} \
        else {a.id: a.marketplace for a in config.accounts}
    if not pattern and account not in accounts:
        raise ConfigError(f"no account '{account}' in the config or the database"
                          f"{did_you_mean(account, list(accounts))}", where="silence")
    if item == "*" or any(ch in item for ch in "*?[") or item in FIXED_ITEMS or item.startswith("deadline:"):
        return account, item
    from sellerguard.rules.packs import load_packs

    markets = {mp for acc_id, mp in accounts.items() if fnmatchcase(acc_id, account)}
    known = [m.id for mp, pack in load_packs().items() if mp in markets or not markets for m in pack.metrics]
    if item not in known:
        raise ConfigError(f"unknown metric '{item}'{did_you_mean(item, known)} (a metric id of the account's"
                          " policy pack, 'sync', 'credentials', 'deadline:...', or a pattern)", where="silence")
    return account, item
