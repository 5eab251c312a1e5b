"""Day rollups of metric populations (issue 21): an evaluation reads O(window days) rows, whatever the history.

What is kept (``sellerguard.store.rollup_tables``): per account, population key and UTC day, one row with the
day's hours ``[hour, events, units, defects, defect_events, unknown]``, plus the distinct buyers of each hour's
defective events (unique-buyer gates cannot be summed). A key (``rollup_key``) stands for one population (event
table, anchor, filters, unit, split, derived ship-by) with one defect definition and the pack's time zone: the
counts are those ``calculators.event_series_many`` computes row by row, from the same SQL.

Why hours inside UTC days: windows cut at rolling instants (``days``: now - N x 24 h), at local midnights
(``align = "date"``, ``months``, ``iso_weeks`` in the pack's zone) and the Series buckets cut every 24 h from the
window's start. Zones differ between packs and accounts, so a day in one zone is not a day in another; an hour
is a whole unit in every zone with a whole-hour offset, and one row per UTC day keeps the read at O(days).
A window is then summed from the rollup's whole hours, and only these are read from the records: the hours a
boundary cuts (a window starting 12:34:56 reads 12:00-13:00 of each bucket edge's hour), the days written
since the rollup was computed (``rollup_dirty``), and the days not yet settled (below).

Defects that depend on the evaluation moment (shipped late = ship-by passed without a shipment, a reply overdue,
a return unresolved) are counted as they will stand once every deadline of the day has passed: the rollup is
computed at a moment far in the future, and a day row carries ``settles_at``: the latest deadline
(``AS_OF_DEADLINES``: ship-by (+2 days for date compares), deliver-by, received + reply hours, requested +
respond hours) among its rows whose defect is judged differently with no deadline passed (1970) and with every
deadline passed (far future). These predicates are monotone in the moment (a passed deadline only adds defects),
so a row judged alike at both ends is fixed (shipped, answered, cancelled), and the others are fixed once their
deadline has passed; before ``settles_at`` the day is read from the records. A test guards that every predicate
reading the evaluation moment is listed here.

Turned on per account: by default at the first sync or import after which the account holds ``AUTO_FROM``
orders within ``AUTO_DAYS`` (``catch_up``: below that, reading the records is as fast), or at any volume by
``rebuild`` (``sellerguard rollups rebuild``). An account without rollups is evaluated from its records, and its
writes mark nothing, so small accounts (and the test suite's sandbox syncs) pay one bounded count per sync.
Kept at ingest: ``sellerguard.store.rollups`` marks, in each record write's transaction, the days it may change;
``maintain`` recomputes them for every rolled-up key of the account's pack (a key new to the pack is built from
the records) and clears the marks: once per account after a sync's batches or an import (``catch_up``: a
backfill of many batches recomputes each day once), or in every write's own transaction once ``install()``
registered it. Marked days are read from the records until then, so the result is exact at every moment.
``rebuild`` recomputes an account's rollups from the records (``sellerguard rollups rebuild``).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import String, case, delete, func, select, true, type_coerce
from sqlalchemy.orm import Session

from sellerguard.rules.calculators import (
    DAY,
    GroupRows,
    RollupSource,
    _derived_table,
    _in_ranges,
    _join_ranges,
    _unknown_query,
    defect_key,
    defect_keys,
    population_core,
    population_select,
    unknown_count,
)
from sellerguard.rules.events import Ctx, needs_ship_by
from sellerguard.rules.packs import EventParams, Metric
from sellerguard.store import rollups as store_rollups
from sellerguard.store.rollup_tables import RollupBuyerRow, RollupCoverRow, RollupDayRow, RollupDirtyRow
from sellerguard.store.tables import AccountRow

# bump when what a key counts changes: old rollups are then never read (another key). 2: Etsy's date compares on the
# pack's clock; 3: TikTok returns by reason category, status-delivered orders, date-compared deliver-by
VERSION = 3
FAR = datetime(2999, 1, 1, tzinfo=UTC)  # "every deadline has passed"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SLACK = timedelta(seconds=1)  # stored times may lose sub-second precision in comparisons (SQLite julianday)
DATE_SLACK = timedelta(days=2)  # a local-date compare turns true by the next local midnight (+ DST)
UNKNOWN_SCOPE = "\t(unknown deadline)"  # the scope of the rows counting events of unknown deadline
# rollups turn on by themselves (``catch_up``) for an account with this many orders within AUTO_DAYS of its newest
AUTO_FROM = 5_000
AUTO_DAYS = 90  # days before the newest order that AUTO_FROM counts

# (population, defect) -> the deadline a comparison with the evaluation moment reads (rules/events.py)
AS_OF_DEADLINES: dict[tuple[str, str], str] = {
    ("orders", "shipped_late"): "ship_by", ("orders", "late_or_untracked"): "ship_by",
    ("orders", "tracking_not_on_time"): "ship_by",
    ("orders", "delivered_late"): "deliver_by", ("orders", "delivered_late_otdr"): "deliver_by",
    ("orders", "attempted_late"): "deliver_by",
    ("messages", "late_reply"): "hours", ("returns", "dissatisfied"): "respond_hours",
}

_ROW_LEVEL: ContextVar[bool] = ContextVar("sellerguard_row_level", default=False)

Group = list[tuple[Metric, Any]]
Ranges = list[tuple[datetime, datetime]]


@contextmanager
def row_level() -> Iterator[None]:
    """Evaluate from the records only, ignoring rollups (the property test and the benchmark compare)."""
    token = _ROW_LEVEL.set(True)
    try:
        yield
    finally:
        _ROW_LEVEL.reset(token)


# -- keys -------------------------------------------------------------------------------------------------


def rollup_key(metric: Metric, params: Any) -> tuple[str, str]:
    """(key, spec): the key of a metric's population + defect definition + time zone, and what it stands for."""
    spec = json.dumps([VERSION, repr(population_core(params)), repr(defect_key(params)), metric.timezone])
    return hashlib.sha1(spec.encode()).hexdigest(), spec


def event_params(metric: Metric) -> Any:
    """The event parameters of a metric the rollups can serve (``rate``, ``count``, calendar-clock
    ``response_time``); None for the others (average, business-clock replies, periodic, reported)."""
    if metric.calculator in ("rate", "count"):
        return metric.parsed
    if metric.calculator == "response_time":
        from sellerguard.rules.engine import _Merged

        params = metric.parsed
        if params.clock == "business" and params.calendar:
            return None
        if params.per_thread:  # a message's place in its thread changes with other days' writes: never rolled up
            return None
        return _Merged(EventParams(events="messages", anchor="received_at", defects=["late_reply"],
                                   numerator=params.numerator), params)
    return None


def groups_of(metrics: list[Metric]) -> list[Group]:
    """Metrics sharing a population (and time zone) are computed together, one column per defect definition."""
    groups: dict[tuple[Any, ...], Group] = {}
    for metric in metrics:
        if (params := event_params(metric)) is not None:
            groups.setdefault((population_core(params), metric.timezone), []).append((metric, params))
    return list(groups.values())


def group_keys(group: Group) -> list[tuple[str, str]]:
    """(key, spec) per defect column, in the column order of ``population_select``."""
    first = {}
    for metric, params in group:
        first.setdefault(defect_key(params), (metric, params))
    return [rollup_key(*first[k]) for k in defect_keys(group)]


# -- computing from the records ---------------------------------------------------------------------------


def _hour_text(dialect: str) -> Any:
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC
        return lambda col: func.substr(col, 1, 13)
    return lambda col: func.to_char(func.timezone("UTC", col), "YYYY-MM-DD HH24")


def _hour(text: str) -> datetime:
    """'YYYY-MM-DD HH' (the hour texts ``_hour_text`` selects) -> aware UTC; sliced, not strptime (a build parses
    one per stored hour)."""
    return datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), tzinfo=UTC)


def _settle(params: Any, maxima: dict[str, datetime | None]) -> datetime | None:
    """When the counts of an hour of the defect column ``params`` stop depending on the evaluation moment (None:
    never did)."""
    out: list[datetime] = []
    for name in params.defects:
        need = AS_OF_DEADLINES.get((params.events, name))
        if need == "ship_by" and maxima.get("ship_by") is not None:
            date = getattr(params, "compare", "instant") == "date"
            out.append(maxima["ship_by"] + (DATE_SLACK if date else SLACK))  # type: ignore[operator]
        elif need == "deliver_by" and maxima.get("deliver_by") is not None:
            date = getattr(params, "compare", "instant") == "date"
            out.append(maxima["deliver_by"] + (DATE_SLACK if date else SLACK))  # type: ignore[operator]
        elif need in ("hours", "respond_hours") and maxima.get("at") is not None:
            out.append(maxima["at"] + timedelta(hours=float(getattr(params, need))) + SLACK)  # type: ignore[operator]
    return max(out) if out else None


def _columns(group: Group) -> list[tuple[Metric, Any]]:
    first: dict[tuple[Any, ...], tuple[Metric, Any]] = {}
    for metric, params in group:
        first.setdefault(defect_key(params), (metric, params))
    return [first[k] for k in defect_keys(group)]


def compute(session: Session, dialect: str, account: str, group: Group,
            ranges: Ranges) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rollup rows (day rows, buyer rows) of ``group`` for the anchors in ``ranges``, from the records."""
    cols = _columns(group)
    keys = [k for k, _ in group_keys(group)]
    first_metric, first = group[0]
    needs = {AS_OF_DEADLINES.get((p.events, d)) for _, p in cols for d in p.defects} - {None}
    extra = (*tuple(n for n in ("ship_by", "deliver_by") if n in needs), "at")
    pop = population_select(session, dialect, account, group, FAR, ranges, _hour_text(dialect), lambda a: true(),
                            extra=extra, also_at=EPOCH)
    inner = pop.inner
    by = [inner.c.cat] if pop.split else []
    k = len(cols)
    # defects only move with the moment between "no deadline passed" (EPOCH) and "all passed" (FAR): a row judged
    # alike at both is settled at once (an order shipped, a message answered); the others settle by their deadline
    moving = [inner.c[f"d{i}"] != inner.c[f"z{i}"] for i in range(k)]
    maxes = [func.max(case((moving[i], inner.c[n]))) for i in range(k) for n in extra]
    q = select(*by, inner.c.b, func.count(), func.sum(inner.c.u),
               *[func.sum(inner.c[c.name] * inner.c.u) for c in pop.columns.values()],
               *[func.sum(inner.c[c.name]) for c in pop.columns.values()], *maxes).group_by(*by, inner.c.b)
    days: dict[tuple[int, datetime, str], list[list[float]]] = {}
    settles: dict[tuple[int, datetime, str], datetime | None] = {}
    off = 1 if pop.split else 0
    for r in session.execute(q).all():
        scope = r[0] if pop.split else ""
        hour = _hour(r[off])
        day = store_rollups.day_of(hour)
        events, units = int(r[off + 1]), float(r[off + 2] or 0)
        for i in range(k):
            at = (i, day, scope)  # type: ignore[arg-type]
            days.setdefault(at, []).append([hour.hour, events, units, float(r[off + 3 + i] or 0),
                                            int(r[off + 3 + k + i] or 0), 0])
            first_max = off + 3 + 2 * k + i * len(extra)
            maxima = {n: _aware(r[first_max + j]) for j, n in enumerate(extra)}
            s = _settle(cols[i][1], maxima)  # cols: computed once (was per row and column: half a build's CPU)
            if s is not None:
                settles[at] = max(s, settles.get(at) or s)
    if needs_ship_by(first.events, first):  # events of unknown deadline, per hour of the anchor that places them
        derived = _derived_table(session, account, first, first_metric, ranges) if getattr(
            first, "derive_ship_by", False) else None
        ctx = Ctx(as_of=FAR, params=first, dialect=dialect, timezone=first_metric.timezone,
                  derived_ship_by=derived.c.ship_by if derived is not None else None)
        source, anchor, where = _unknown_query(account, first, ctx, None, derived)
        hour_of = _hour_text(dialect)(anchor)
        q = (select(hour_of, func.count()).select_from(_join_ranges(source, anchor, ranges, dialect))
             .where(*where, _in_ranges(anchor, ranges, dialect)).group_by(hour_of))
        for text, n in session.execute(q).all():
            hour = _hour(text)
            for i in range(k):
                days.setdefault((i, store_rollups.day_of(hour), UNKNOWN_SCOPE), []).append(  # type: ignore[arg-type]
                    [hour.hour, 0, 0.0, 0.0, 0, int(n)])
    rows = [{"account": account, "key": keys[i], "day": day, "scope": scope,
             "hours": json.dumps(sorted(hours)), "settles_at": settles.get((i, day, scope))}
            for (i, day, scope), hours in days.items()]
    buyers = []
    for i, c in enumerate(pop.columns.values()):
        q = select(*by, inner.c.b, inner.c.buyer).where(inner.c[c.name] == 1).distinct()
        for r in session.execute(q).all():
            buyers.append({"account": account, "key": keys[i], "hour": _hour(r[off]),
                           "scope": r[0] if pop.split else "", "buyer": str(r[-1])})
    return rows, buyers


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):  # SQLite text (max() of stored text, raw reads); PostgreSQL text
        value = datetime.fromisoformat(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def refresh(session: Session, dialect: str, account: str, group: Group, ranges: Ranges) -> None:
    """Replace the group's rollup rows of the (whole UTC day) ``ranges`` by what the records say now."""
    if not ranges:
        return
    keys = [k for k, _ in group_keys(group)]
    day_t, buyer_t = RollupDayRow.__table__, RollupBuyerRow.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    for lo, hi in ranges:
        conn.execute(delete(day_t).where(day_t.c.account == account, day_t.c.key.in_(keys),
                                         day_t.c.day >= lo, day_t.c.day < hi))
        conn.execute(delete(buyer_t).where(buyer_t.c.account == account, buyer_t.c.key.in_(keys),
                                           buyer_t.c.hour >= lo, buyer_t.c.hour < hi))
    # computed BUILD_DAYS at a time (whole UTC days, so each day row is computed at once, as in one pass): the rows
    # of one piece are held in memory, not the history's (a build of 50,000 orders took +32 MB at once); a whole
    # history is cut over the days that hold its rows
    spans, width = _history_span(session, account, group) if ranges == [(EPOCH, FAR)] else (ranges, BUILD_DAYS)
    for piece in _pieces(spans, width):
        rows, buyers = compute(session, dialect, account, group, piece)
        if rows:
            conn.execute(day_t.insert(), rows)
        if buyers:
            conn.execute(buyer_t.insert(), buyers)


BUILD_DAYS = 90  # days of rows a build computes at once, at most ...
BUILD_ROWS = 10_000  # ... and fewer for a busy account: about this many rows of the population per piece


def _history_span(session: Session, account: str, group: Group) -> tuple[Ranges, int]:
    """The whole UTC days from the first to the last of the account's rows of the group's population, by its anchor
    and by the column placing its events of unknown deadline (``compute`` reads nothing outside them), and the
    days per piece: BUILD_DAYS, fewer when the account averages more than BUILD_ROWS rows in that many days
    (50,000 orders in 89 days held +33 MB in one piece)."""
    from sellerguard.rules.calculators import unknown_anchor
    from sellerguard.rules.events import POPULATIONS

    params = group[0][1]
    table = POPULATIONS[params.events].table
    names = {params.anchor} | ({unknown_anchor(params)} if needs_ship_by(params.events, params) else set())
    found: list[datetime] = []
    for name in sorted(names):
        col = table.c[name]
        lo, hi = session.execute(select(func.min(col), func.max(col)).where(table.c.account == account)).one()
        found += [t for t in (_aware(lo), _aware(hi)) if t is not None]
    if not found:
        return [], BUILD_DAYS
    first, last = store_rollups.day_of(min(found)), store_rollups.day_of(max(found)) + DAY  # type: ignore[operator]
    rows = session.execute(select(func.count()).select_from(table).where(table.c.account == account)).scalar_one()
    days = (last - first) // DAY  # type: ignore[operator]
    return [(first, last)], max(1, min(BUILD_DAYS, BUILD_ROWS * days // max(int(rows), 1)))  # type: ignore[list-item]


def _pieces(ranges: Ranges, days: int = BUILD_DAYS) -> list[Ranges]:
    """Sorted whole-day ``ranges`` in consecutive pieces spanning at most ``days`` days each (a longer range is
    cut at whole days)."""
    out: list[Ranges] = []
    width = days * DAY
    for lo, hi in sorted(ranges):
        while lo < hi:
            cut = min(hi, lo + width)
            if out and cut - out[-1][0][0] <= width:
                out[-1].append((lo, cut))
            else:
                out.append([(lo, cut)])
            lo = cut
    return out


def _day_ranges(days: list[datetime]) -> Ranges:
    out: Ranges = []
    for day in sorted(days):
        if out and out[-1][1] == day:
            out[-1] = (out[-1][0], day + DAY)
        else:
            out.append((day, day + DAY))
    return out


# -- maintenance ------------------------------------------------------------------------------------------


def pack_groups(marketplace: str | None) -> list[Group]:
    """The rolled-up groups of a marketplace's pack: its enabled event metrics with the pack's parameters
    (an account whose policy changes a metric's parameters reads that metric from the records). Only that pack is
    parsed, and ``load_pack`` keeps it while its file is unchanged."""
    from sellerguard.rules.packs import packs_for

    pack = packs_for({marketplace}).get(marketplace) if marketplace else None
    return groups_of([m for m in pack.metrics if m.enabled]) if pack is not None else []


def _sqlite_functions(session: Session, dialect: str) -> None:
    if dialect == "sqlite":
        from sellerguard.rules.engine import _sqlite_local_date

        raw = session.connection().connection.driver_connection
        raw.create_function("sg_local_date", 2, _sqlite_local_date, deterministic=True)  # type: ignore[union-attr]


def maintain(session: Session, dialect: str, accounts: set[str], *, full: bool = False,
             now: datetime | None = None) -> None:
    """Bring the accounts' rollups up to date with their records, inside the caller's transaction: dirty days
    are recomputed, keys never built (or all, with ``full``) are built from the whole history."""
    _sqlite_functions(session, dialect)
    dirty_t, cover_t = RollupDirtyRow.__table__, RollupCoverRow.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    for account in sorted(accounts):
        marketplace = conn.execute(select(AccountRow.marketplace).where(AccountRow.id == account)).scalar()
        dirty = [_aware(d) for d, in conn.execute(select(dirty_t.c.day).where(dirty_t.c.account == account))]
        covered = {k for k, in conn.execute(select(cover_t.c.key).where(cover_t.c.account == account))}
        for group in pack_groups(marketplace):
            keys = group_keys(group)
            if not full and not covered:
                continue  # rollups not turned on for this account (``rebuild`` does)
            if full or not {k for k, _ in keys} <= covered:
                refresh(session, dialect, account, group, [(EPOCH, FAR)])
                conn.execute(delete(cover_t).where(cover_t.c.account == account,
                                                   cover_t.c.key.in_([k for k, _ in keys])))
                conn.execute(cover_t.insert(), [{"account": account, "key": k, "spec": spec,
                                                 "built_at": now or datetime.now(UTC)} for k, spec in keys])
            else:
                refresh(session, dialect, account, group, _day_ranges(dirty))  # type: ignore[arg-type]
        conn.execute(delete(dirty_t).where(dirty_t.c.account == account))


def worth_rolling_up(session: Session, account: str) -> bool:
    """Whether the account's volume makes status from rollups pay: ``AUTO_FROM`` orders or more within the
    ``AUTO_DAYS`` before its newest order. Below that the records are read as fast (measured: docs/performance.md,
    "Day rollups"), and small accounts (every sandbox sync of the test suite) pay no build and no marks.
    The store's check (``store.rollups.busy``: two index-only reads), which sync also asks before ``catch_up``."""
    return store_rollups.busy(session, account, orders=AUTO_FROM, days=AUTO_DAYS)


def catch_up(store: Any, account: str) -> None:
    """Recompute the account's marked days (and build keys never built) in one transaction: what a sync (and an
    import) runs once after its batches, so a backfill of many batches recomputes each day once, not once per batch.

    This is also where rollups turn on by default: an account without them gets them built from its records at
    the first sync or import that leaves it at ``worth_rolling_up`` volume; from then on its writes mark days and
    every sync keeps them. ``sellerguard rollups rebuild`` turns them on at any volume."""
    cover_t = RollupCoverRow.__table__  # type: ignore[attr-defined]
    with store.session() as session, session.begin():
        has = session.execute(select(cover_t.c.key).where(cover_t.c.account == account).limit(1)).first()
        full = has is None and worth_rolling_up(session, account)
        maintain(session, store.dialect, {account}, full=full)


def install() -> None:
    """Have every record write keep the rollups (sync and import call this)."""
    store_rollups.register(maintain)


def rebuild(store: Any, accounts: list[str] | None = None) -> dict[str, int]:
    """Recompute the rollups of ``accounts`` (default: every stored account) from the records, each account in
    one transaction, dropping keys no pack uses any more; returns day rows per account."""
    day_t, buyer_t, cover_t = (t.__table__ for t in (RollupDayRow, RollupBuyerRow, RollupCoverRow))  # type: ignore[attr-defined]
    out: dict[str, int] = {}
    with store.session() as session:
        known = [a for a, in session.execute(select(AccountRow.id).order_by(AccountRow.id))]
    for account in accounts if accounts is not None else known:
        # the account's sync lock: a write committed while the rebuild reads would be neither read nor marked
        with store.lock(f"sync:{account}"), store.session() as session, session.begin():
            conn = session.connection()
            for t in (day_t, buyer_t, cover_t):
                conn.execute(delete(t).where(t.c.account == account))
            maintain(session, store.dialect, {account}, full=True)
            out[account] = int(conn.execute(select(func.count()).select_from(day_t)
                                            .where(day_t.c.account == account)).scalar_one())
    return out


# -- evaluation -------------------------------------------------------------------------------------------


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    f = _floor_hour(t)
    return f if f == t else f + HOUR


def _merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@dataclass
class _Plan:
    lo: datetime
    hi: datetime
    bad_days: set[datetime]
    split: set[datetime]

    def usable(self, hour: datetime) -> bool:
        return (self.lo <= hour and hour + HOUR <= self.hi and hour not in self.split
                and store_rollups.day_of(hour) not in self.bad_days)

    def leftovers(self) -> Ranges:
        """What the records must give: the parts of [lo, hi) no usable hour covers."""
        pieces = [(self.lo, min(_ceil_hour(self.lo), self.hi)), (max(_floor_hour(self.hi), self.lo), self.hi)]
        pieces += [(max(d, self.lo), min(d + DAY, self.hi)) for d in self.bad_days]
        pieces += [(max(h, self.lo), min(h + HOUR, self.hi)) for h in self.split]
        return _merge(pieces)


@dataclass
class _Shape:
    """Per hour from ``d0`` (00:00 UTC of the window's first day) to the end of the day of max(as_of, end), in
    integers so the loops over rollup hours touch no datetime: its Series bucket, whether it is inside the window,
    and whether the rollup's count of it is usable (a whole hour inside [start, as_of) / [start, end) that no
    bucket edge, ``end`` or ``as_of`` cuts). Days not settled or marked are skipped per row, not here."""

    d0: datetime
    split: set[datetime]
    bucket: list[int]
    inside: list[bool]
    ok: list[bool]
    ok_known: list[bool]
    _runs: dict[int, list[tuple[int, int, int, bool]]] = field(default_factory=dict)

    def day_runs(self, base: int) -> list[tuple[int, int, int, bool]]:
        """The usable hours of the UTC day starting at hour ``base`` as runs ``(first hour, hour after, bucket,
        inside)``: consecutive usable hours of one bucket and side of ``end`` (2-3 per day), so a day row is summed
        a run at a time (``sum`` over slices) instead of hour by hour."""
        got = self._runs.get(base)
        if got is None:
            runs: list[list[Any]] = []
            for h in range(24):
                x = base + h
                if x >= len(self.ok) or not self.ok[x]:
                    continue
                if runs and runs[-1][1] == h and runs[-1][2] == self.bucket[x] and runs[-1][3] == self.inside[x]:
                    runs[-1][1] = h + 1
                else:
                    runs.append([h, h + 1, self.bucket[x], self.inside[x]])
            got = self._runs[base] = [(a, b, c, d) for a, b, c, d in runs]
        return got

    @classmethod
    def of(cls, start: datetime, end: datetime, as_of: datetime) -> _Shape:
        d0, d1 = store_rollups.day_of(start), store_rollups.day_of(max(as_of, end))
        size = max(-(-(max(as_of, end) - start) // DAY), -(-(end - start) // DAY), 1)
        bounds = [start + i * DAY for i in range(size + 1)] + [end, as_of]
        split = {_floor_hour(b) for b in bounds if _floor_hour(b) != b}
        us = HOUR // timedelta(microseconds=1)
        day_us = DAY // timedelta(microseconds=1)
        hours_n = (d1 + DAY - d0) // HOUR  # type: ignore[operator]
        s_us, e_us, a_us = ((x - d0) // timedelta(microseconds=1) for x in (start, end, as_of))  # type: ignore[operator]
        skip = {(h - d0) // HOUR for h in split}  # type: ignore[operator]
        first, last, last_known = -(-s_us // us), a_us // us, e_us // us  # whole hours inside the ranges
        return cls(d0, split,  # type: ignore[arg-type]
                   [(x * us - s_us) // day_us for x in range(hours_n)],
                   [x * us < e_us for x in range(hours_n)],
                   [first <= x < last and x not in skip for x in range(hours_n)],
                   [first <= x < last_known and x not in skip for x in range(hours_n)])


SHAPES_MAX = 256  # window shapes kept per process (a pack has ~5 windows per moment)
COLUMNS_MAX = 50_000  # decoded day rows (and parsed day texts) kept per process (1M x 10 reads ~6,000 per evaluation)


@lru_cache(maxsize=SHAPES_MAX)
def _shape_of(start: datetime, end: datetime, as_of: datetime) -> _Shape:
    """The per-hour tables of a window: a pure function of the bounds, shared by every evaluation of the process."""
    return _Shape.of(start, end, as_of)


@lru_cache(maxsize=COLUMNS_MAX)
def _moment(text: Any) -> datetime:
    """A stored day or settles_at (text on SQLite) as an aware datetime, parsed once per process (bounded)."""
    return _aware(text)  # type: ignore[return-value]


@lru_cache(maxsize=COLUMNS_MAX)
def _hour_columns(hours: str) -> tuple[tuple[Any, ...], ...]:
    """A day row's ``hours`` JSON as columns (hour, events, units, defects, defect events, unknown); () for none.
    Memoized by the text itself: a day row that has not changed decodes once per process (a daemon, repeated
    evaluations), whatever the moment; a changed row is another text."""
    decoded = json.loads(hours)
    return tuple(zip(*decoded, strict=True)) if decoded else ()


class Rollups(RollupSource):
    """The evaluation's view of the rollups, for one session (covers and dirty days read once per account)."""

    def __init__(self) -> None:
        self._covered: dict[str, set[str]] = {}
        self._dirty: dict[str, set[datetime]] = {}
        # (account, as_of) -> ({key: (first day, last day) read}, {key: its day rows}), read by ``preload``
        self._loaded: dict[tuple[str, datetime], tuple[dict[str, tuple[datetime, datetime]],
                                                       dict[str, list[Any]]]] = {}

    def preload(self, session: Session, account: str, windows: list[tuple[Group, datetime, datetime]],
                as_of: datetime) -> None:
        """Read the day rows of every rolled-up group of ``windows`` ((group, start, end) at ``as_of``) for
        ``rolled`` to take its rows from: one query per distinct span of days (2-4 per account; was one query per
        group, ~85 per evaluation at 1M x 10), each key over the widest span its groups need, no wider."""
        covered, _ = self._state(session, account)
        spans: dict[str, tuple[datetime, datetime]] = {}
        for group, start, end in windows:
            group_set = {k for k, _ in group_keys(group)}
            if not covered or not group_set <= covered or as_of <= start:
                continue
            d0, d1 = store_rollups.day_of(start), store_rollups.day_of(max(as_of, end))
            for key in group_set:
                lo, hi = spans.get(key, (d0, d1))
                spans[key] = (min(lo, d0), max(hi, d1))  # type: ignore[type-var]
        by_span: dict[tuple[datetime, datetime], list[str]] = {}
        for key, span in spans.items():
            by_span.setdefault(span, []).append(key)
        rows: dict[str, list[Any]] = {}
        for (d0, d1), keys in by_span.items():
            for row in self._read(session, account, sorted(keys), d0, d1):
                rows.setdefault(row[0], []).append(row)
        self._loaded[(account, as_of)] = (spans, rows)

    def _read(self, session: Session, account: str, keys: list[str], d0: datetime, d1: datetime) -> list[Any]:
        """Day rows ``(key, day, scope, hours JSON, settles_at)`` of ``keys`` over days [d0, d1], days parsed."""
        t = RollupDayRow.__table__  # type: ignore[attr-defined]
        # raw values (text on SQLite): one parse per row, not the column type's processing
        found = session.execute(select(t.c.key, type_coerce(t.c.day, String), t.c.scope, t.c.hours,
                                       type_coerce(t.c.settles_at, String)).where(
            t.c.account == account, t.c.key.in_(keys), t.c.day >= d0, t.c.day <= d1)).all()
        moment = _moment
        return [(key, moment(day), scope, hours, moment(settles) if settles is not None else None)
                for key, day, scope, hours, settles in found]

    def _rows(self, session: Session, account: str, keys: list[str], d0: datetime, d1: datetime,
              as_of: datetime) -> list[Any]:
        got = self._loaded.get((account, as_of))
        if got is not None and all(k in got[0] and got[0][k][0] <= d0 and d1 <= got[0][k][1] for k in keys):
            return [r for k in keys for r in got[1].get(k, ()) if d0 <= r[1] <= d1]
        return self._read(session, account, keys, d0, d1)

    def _shape(self, start: datetime, end: datetime, as_of: datetime) -> _Shape:
        """The per-hour tables of a window, shared by every series with the same bounds (most of a pack's), and
        by every evaluation of the process at that moment (a pure function of the bounds)."""
        return _shape_of(start, end, as_of)

    @classmethod
    def of(cls, session: Session) -> Rollups | None:
        if _ROW_LEVEL.get():
            return None
        found = session.info.get("sellerguard_rollups")
        if found is None:
            found = session.info["sellerguard_rollups"] = cls()
        return found

    def _state(self, session: Session, account: str) -> tuple[set[str], set[datetime]]:
        if account not in self._covered:
            cover_t, dirty_t = RollupCoverRow.__table__, RollupDirtyRow.__table__  # type: ignore[attr-defined]
            self._covered[account] = {k for k, in session.execute(
                select(cover_t.c.key).where(cover_t.c.account == account))}
            self._dirty[account] = {_aware(d) for d, in session.execute(  # type: ignore[misc]
                select(dirty_t.c.day).where(dirty_t.c.account == account))}
        return self._covered[account], self._dirty[account]

    def rolled(self, session: Session, account: str, group: Group, start: datetime, end: datetime,
               as_of: datetime) -> tuple[GroupRows, Ranges] | None:
        covered, dirty = self._state(session, account)
        keys = [k for k, _ in group_keys(group)]
        if not covered or not set(keys) <= covered or as_of <= start:
            return None
        d0, d1 = store_rollups.day_of(start), store_rollups.day_of(max(as_of, end))
        found = self._rows(session, account, keys, d0, d1, as_of)  # type: ignore[arg-type]
        marked = {d for d in dirty if d0 <= d <= d1}  # type: ignore[operator]
        bad = marked | {day for _, day, _, _, settles in found if settles is not None and settles > as_of}
        shape = self._shape(start, end, as_of)
        split = shape.split
        plan = _Plan(start, as_of, bad, split)
        ok_known, day_runs = shape.ok_known, shape.day_runs
        unknown_at: set[int] = set()  # hours the rollups hold events of unknown deadline in, not whole in the window
        index = {k: i for i, k in enumerate(keys)}
        k = len(keys)
        data = GroupRows()
        split_group = getattr(group[0][1], "split", None) == "category"
        sums: dict[tuple[str | None, int, bool], list[float]] = data.rows
        loads, hour_columns = json.loads, _hour_columns
        for key, day, scope, hours, _ in found:
            i = index[key]
            base = (day - shape.d0) // HOUR  # type: ignore[operator]
            if scope == UNKNOWN_SCOPE:
                # whether a deadline is known does not depend on the moment: only marked days are stale here
                if i == 0 and day not in marked:
                    for e in loads(hours):
                        if e[5]:
                            if ok_known[base + e[0]]:
                                data.unknown += int(e[5])
                            else:
                                unknown_at.add(base + e[0])
                continue
            if day in bad:  # read from the records (marked, or not settled at as_of)
                continue
            runs = day_runs(base)
            if not runs:
                continue
            name = scope if split_group else None
            first_col, d_col, e_col = i == 0, 2 + i, 2 + k + i
            # columns: hour, events, units, defects, defect events, unknown; hours sorted and distinct (``compute``),
            # so a run of hours is a slice (all 24 present: the hours are the indexes). The counts are whole numbers:
            # summed per run or per hour, the floats are the same
            columns = hour_columns(hours)
            if not columns:
                continue
            hour_col, events_col, units_col, defects_col, defect_events_col, _ = columns
            dense = len(hour_col) == 24
            for lo, hi, b, w in runs:
                if not dense:
                    lo, hi = bisect_left(hour_col, lo), bisect_left(hour_col, hi)
                if lo == hi:
                    continue
                slot = (name, b, w)
                acc = sums.get(slot)
                if acc is None:
                    acc = sums[slot] = [0.0] * (2 + 2 * k)
                if first_col:
                    acc[0] += sum(units_col[lo:hi])
                    acc[1] += sum(events_col[lo:hi])
                acc[d_col] += sum(defects_col[lo:hi])
                acc[e_col] += sum(defect_events_col[lo:hi])
        if any(m.gate_unit == "unique_buyers" for m, _ in group):
            b = RollupBuyerRow.__table__  # type: ignore[attr-defined]
            for key, hour, scope, buyer in session.execute(select(b.c.key, b.c.hour, b.c.scope, b.c.buyer).where(
                    b.c.account == account, b.c.key.in_(keys), b.c.hour >= _floor_hour(start), b.c.hour < end)):
                hour = _aware(hour)
                if plan.usable(hour) and hour < end:  # type: ignore[arg-type,operator]
                    data.buyers.setdefault((scope if split_group else None, index[key]), set()).add(buyer)
        metric, params = group[0]
        if needs_ship_by(params.events, params) and not data.unknown:
            # ``unknown`` only tells event_series_many whether to list them from the records (it counts them there):
            # once the rollups hold one, nothing more is needed; else only the marked days and the cut hours the
            # rollups say hold one (a part of an hour without any has none) are read from the records
            hours_of = [(start, min(_ceil_hour(start), end)), (max(_floor_hour(end), start), end)]
            hours_of += [(h, h + HOUR) for h in split]
            pieces = [(max(lo, start), min(hi, end)) for lo, hi in hours_of
                      if (_floor_hour(lo) - shape.d0) // HOUR in unknown_at]  # type: ignore[operator]
            pieces += [(max(d, start), min(d + DAY, end)) for d in marked]  # type: ignore[type-var]
            data.unknown += unknown_count(session, session.get_bind().dialect.name, account, metric, params,
                                          as_of, _merge(pieces))
        return data, plan.leftovers()


def source(session: Session) -> Rollups | None:
    """The rollups for this session's evaluation, or None when row-level evaluation is asked for."""
    return Rollups.of(session)


def daily_counts(session: Session, account: str, metric: Metric, start: date,
                 end: date) -> list[tuple[date, float, float]]:
    """Per UTC day of ``[start, end)``: ``(day, numerator, denominator)`` of an event metric (``rate``, ``count``,
    calendar-clock ``response_time``), in the metric's unit, as known at 00:00 UTC of ``end`` (deadlines passed
    by then count). numerator = defects (successes for a ``successes`` metric; a ``count`` metric's denominator
    is its events). Read from the rollups where they hold, else from the records: exact either way.
    Raises ValueError for metrics without daily counts (average, business-clock replies, periodic, reported)."""
    params = event_params(metric)
    if params is None:
        raise ValueError(f"{metric.id}: a {metric.calculator} metric has no daily counts")
    days = (end - start).days
    if days <= 0:
        return []
    dialect = session.get_bind().dialect.name
    _sqlite_functions(session, dialect)
    one = metric.model_copy(update={"window_kind": "days", "window_days": days, "window_months": None,
                                    "window_weeks": None, "window_align": "instant", "lag_days": 0,
                                    "fallback_window": None})
    from sellerguard.rules.calculators import event_series_many

    as_of = datetime.combine(end, time(0), tzinfo=UTC)
    [series] = event_series_many(session, dialect, account, [(one, params)], as_of, days)
    successes = getattr(params, "numerator", "defects") == "successes"
    return [(start + timedelta(days=i), series.eligible[i] - series.defects[i] if successes else series.defects[i],
             series.eligible[i]) for i in range(days)]
