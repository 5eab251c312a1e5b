"""Keep day rollups honest at write time: mark the days a record write may change, and let the rollup
maintainer (registered by the rules, ``sellerguard.rules.rollup``) recompute them in the same transaction.

The store knows no marketplace and no metric: it only knows which time columns place a row of each table in a
window (``PLACES``) and that rows point at their order (``order_ref``). A write marks, per account, the UTC days
of those columns for every changed row, before and after the change (a late update can move a row to another
day), of the order a row points at (order defects look at its shipments, claims, ratings...) and of the rows
pointing at a changed order (their population filters and units look at the order). Dirty days are read from
the records by the evaluation until a maintainer recomputes them, so a write made without a maintainer (or by
an older release) can never make a rollup lie; ``sellerguard rollups rebuild`` recomputes everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

from sellerguard.store.lookup import chunks, rows_by_key
from sellerguard.store.rollup_tables import RollupDirtyRow
from sellerguard.store.tables import RECORD_TABLES

# the time columns that can place a row of each record kind in a metric's window (the populations' anchors)
PLACES: dict[str, tuple[str, ...]] = {
    "order": ("purchased_at", "ship_by", "deliver_by"),
    "shipment": ("shipped_at", "confirmed_at"),
    "cancellation": ("cancelled_at",),
    "message": ("received_at",),
    "rating": ("rated_at",),
    "claim": ("opened_at",),
    "return": ("requested_at",),
}
# kinds whose rows a population judges through their order (filters, units, buyer): messages are judged alone
ORDER_DEPENDENTS = ("shipment", "cancellation", "rating", "claim", "return")

Maintainer = Callable[[Session, str, set[str]], None]
_MAINTAINERS: list[Maintainer] = []


def register(maintainer: Maintainer) -> None:
    """Run ``maintainer(session, dialect, accounts)`` after every record write, inside its transaction."""
    if maintainer not in _MAINTAINERS:
        _MAINTAINERS.append(maintainer)


def maintainers() -> list[Maintainer]:
    return list(_MAINTAINERS)


def day_of(moment: datetime | None) -> datetime | None:
    """00:00 UTC of the day holding ``moment`` (aware UTC), None for None."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return datetime.combine(moment.date(), time(0), tzinfo=UTC)


def _table(kind: str) -> Table:
    return RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]


def _places(row: Any, kind: str) -> list[datetime]:
    get = row.get if isinstance(row, dict) else (lambda c: getattr(row, c))
    return [d for c in PLACES[kind] if (d := day_of(get(c))) is not None]


def covered(session: Session, accounts: set[str]) -> set[str]:
    """The accounts that have rollups (``sellerguard rollups rebuild`` built them): only their writes mark days.
    An account without rollups is evaluated from its records, so its writes cost nothing here."""
    from sellerguard.store.rollup_tables import RollupCoverRow

    t = RollupCoverRow.__table__  # type: ignore[attr-defined]
    found: set[str] = set()
    for part in chunks(sorted(accounts)):
        found.update(a for a, in session.execute(select(t.c.account).distinct().where(t.c.account.in_(part))))
    return found


def pending(session: Session, account: str) -> bool:
    """Whether the account has rollups or marked days: else a sync has nothing to bring up to date, and skips
    loading the rules to find that out."""
    return session.execute(_PENDING, {"a": account}).first() is not None


_PENDING = text("SELECT 1 FROM rollup_cover WHERE account = :a UNION ALL "
                "SELECT 1 FROM rollup_dirty WHERE account = :a LIMIT 1")  # one round trip per sync


def busy(session: Session, account: str, orders: int = 5_000, days: int = 90) -> bool:
    """Whether the account has at least ``orders`` orders purchased within the ``days`` before its newest one:
    where day rollups pay (``sellerguard.rules.rollup`` turns them on by themselves there; below, status from the
    records is as fast). Two index-only reads on (account, purchased_at), the count bounded by ``orders``."""
    t = _table("order")
    newest = session.execute(select(func.max(t.c.purchased_at)).where(t.c.account == account)).scalar()
    if newest is None:
        return False
    since = newest - timedelta(days=days)
    recent = select(t.c.id).where(t.c.account == account, t.c.purchased_at >= since).limit(orders).subquery()
    return int(session.execute(select(func.count()).select_from(recent)).scalar_one()) >= orders


def before_write(session: Session, kind: str, rows: list[dict[str, Any]], with_rollups: set[str],
                 batch_orders: Mapping[tuple[str, str], dict[str, Any]] | None = None,
                 ) -> tuple[set[tuple[str, datetime]], list[dict[str, Any]]]:
    """The stored versions' days of the rows about to be written, and the rows that really change (a row
    whose hash is unchanged is left alone by the upsert, and marks nothing). Only rows of the accounts
    ``with_rollups`` (``covered``) are looked at. ``batch_orders``: the orders written in the same write, by
    (account, external_id), whose days need no look-up (``order_days``)."""
    if kind not in PLACES or not rows:
        return set(), []
    rows = [r for r in rows if r["account"] in with_rollups]
    if not rows:
        return set(), []
    t = _table(kind)
    ref = [t.c.order_ref] if "order_ref" in t.c else []
    old: dict[tuple[str, str], Any] = {}
    columns = ["account", "external_id", "raw_hash", *(["order_ref"] if ref else []), *PLACES[kind]]
    for r in rows_by_key(session, t, columns, "external_id", [(r["account"], r["external_id"]) for r in rows]):
        old[(r.account, r.external_id)] = r._mapping
    dirty: set[tuple[str, datetime]] = set()
    changed = []
    old_refs: set[tuple[str, str]] = set()
    for row in rows:
        was = old.get((row["account"], row["external_id"]))
        if was is not None and was["raw_hash"] == row.get("raw_hash"):
            continue
        changed.append(row)
        if was is not None:
            dirty.update((row["account"], d) for d in _places(dict(was), kind))
            if ref and was["order_ref"] is not None:
                old_refs.add((row["account"], was["order_ref"]))
    dirty |= order_days(session, old_refs, batch_orders)
    return dirty, changed


def after_write(session: Session, kind: str, changed: list[dict[str, Any]],
                batch_orders: Mapping[tuple[str, str], dict[str, Any]] | None = None) -> set[tuple[str, datetime]]:
    """The new versions' days, their orders' days, and (for orders) the days of the rows pointing at them."""
    if kind not in PLACES or not changed:
        return set()
    dirty = {(r["account"], d) for r in changed for d in _places(r, kind)}
    refs = {(r["account"], r["order_ref"]) for r in changed if r.get("order_ref")}
    dirty |= order_days(session, refs, batch_orders)
    if kind == "order":
        ids = [(r["account"], r["external_id"]) for r in changed]
        for dep in ORDER_DEPENDENTS:
            t = _table(dep)
            for r in rows_by_key(session, t, ["account", *PLACES[dep]], "order_ref", ids):
                dirty.update((r[0], d) for v in r[1:] if (d := day_of(v)) is not None)
    return dirty


def order_days(session: Session, refs: set[tuple[str, str]],
               batch_orders: Mapping[tuple[str, str], dict[str, Any]] | None = None) -> set[tuple[str, datetime]]:
    """The days of the orders ``refs`` (account, external id). An order written in the same write
    (``batch_orders``) is placed from its row, without a look-up: exact, since a changed order's stored version
    marks its own days (``before_write``) and an unchanged one is stored as the batch holds it. For a batch of
    orders with their shipments (eBay, Amazon) that is every one of them."""
    out: set[tuple[str, datetime]] = set()
    rest: list[tuple[str, str]] = []
    for key in refs:
        row = batch_orders.get(key) if batch_orders else None
        if row is None:
            rest.append(key)
        else:
            out.update((key[0], d) for d in _places(row, "order"))
    t = _table("order")
    for r in rows_by_key(session, t, ["account", *PLACES["order"]], "external_id", rest):
        out.update((r[0], d) for v in r[1:] if (d := day_of(v)) is not None)
    return out


def mark(session: Session, dialect: str, dirty: set[tuple[str, datetime]], insert: Any) -> None:
    """Record the dirty days (idempotent), then let the maintainers recompute the accounts' dirty days."""
    if not dirty:
        return
    table = RollupDirtyRow.__table__  # type: ignore[attr-defined]
    rows = [{"account": a, "day": d} for a, d in sorted(dirty)]
    for part in chunks(rows):
        session.connection().execute(insert(table).on_conflict_do_nothing(index_elements=["account", "day"]), part)
    accounts = {a for a, _ in dirty}
    for maintainer in _MAINTAINERS:
        maintainer(session, dialect, accounts)
