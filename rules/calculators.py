"""Calculators: turn a metric of a pack into daily counts over its window, with SQL aggregates.

Every calculator returns a ``Series``: per day of the window (plus the lag days after it), how many events
were eligible and how many were defects (for ``average``: how many ratings and the sum of their scores).
One GROUP BY query over an indexed (account, time) range produces it, so the cost grows with the window,
never with the history. The value, the headroom and the forecast are all derived from the Series
(``sellerguard.rules.assess``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.util import ClauseAdapter

from sellerguard.rules import sla, windows
from sellerguard.rules.calendars import BusinessCalendar
from sellerguard.rules.events import (
    MESSAGES,
    ORDERS,
    POPULATIONS,
    RATINGS,
    Ctx,
    MissingColumn,
    buyer_of,
    deadline_known,
    deadlines_needed,
    defect_clause,
    messages_to_answer,
    need,
    needs_ship_by,
    population_filters,
    unit_weight,
)
from sellerguard.rules.handling import derive_ship_by, handling_calendar
from sellerguard.rules.packs import EventParams, Metric, ResponseParams
from sellerguard.store.tables import ReportedMetricRow, UTCDateTime

DAY = timedelta(days=1)
MAX_UNKNOWN_REFS = 20  # orders named in status when their ship-by is unknown


@dataclass
class Series:
    """Daily buckets from ``start``: bucket i covers [start + i days, start + i+1 days); the window is
    [start, end), the buckets after it (the lag, up to ``as_of``) feed the forecast."""

    kind: str  # rate | successes | count | average
    start: datetime
    window_days: int  # buckets inside the window (a months window: its real number of days, rounded up)
    lag_days: int  # buckets after the window, up to as_of
    eligible: list[float]  # length window_days + lag_days (average: number of ratings)
    defects: list[float]  # (average: sum of scores)
    numerator: float = 0.0  # exact totals of the window, in the metric's unit (bucket edges are day fractions)
    denominator: float = 0.0
    end_at: datetime | None = None
    defect_events: float | None = None  # defective events (orders, cases...) whatever the unit
    eligible_events: float | None = None
    unique_buyers: float | None = None  # distinct buyers among the defective events (gate_unit unique_buyers)
    unknown: int = 0  # events left out because their ship-by is unknown (never counted on time)
    unknown_refs: list[str] = field(default_factory=list)
    scope: str | None = None  # the category of a per-category series
    parts: list[Series] = field(default_factory=list)  # per-category series (split = "category")

    @property
    def end(self) -> datetime:
        return self.end_at if self.end_at is not None else self.start + self.window_days * DAY

    def gate(self, gate_unit: str) -> float:
        """The count a gate compares: defects in the metric's unit, defective events, or unique buyers."""
        if gate_unit == "unique_buyers" and self.unique_buyers is not None:
            return self.unique_buyers
        if gate_unit == "events" and self.defect_events is not None:
            return self.defect_events
        return self.numerator  # defects (a successes metric keeps defects here too)


@lru_cache(maxsize=1 << 16)
def _sqlite_text(dt: datetime) -> str:
    """SQLite's stored form of a moment; cached: the cut hours of a window recur in every series (thousands)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _bucket(col: Any, start: datetime, dialect: str) -> Any:
    if dialect == "sqlite":
        # +1e-9 day (~0.1 ms): a row exactly on a day edge lands in the later bucket despite float error
        return cast(func.julianday(col) - func.julianday(literal(_sqlite_text(start))) + 1e-9, Integer)
    return cast(func.floor(func.extract("epoch", col - literal(start)) / 86400), Integer)


def window_bounds(metric: Metric, as_of: datetime, length: int | None = None) -> tuple[datetime, datetime]:
    """``[start, end)`` of the metric's window of ``length`` (days, months or weeks by its kind)."""
    return windows.bounds(metric.window_kind, length or metric.window_length, metric.lag_days, as_of,
                          tz=metric.tz, align=metric.window_align)


def _window_key(metric: Metric) -> tuple[Any, ...]:
    return (metric.window_kind, metric.window_length, metric.lag_days, metric.window_align, metric.timezone,
            metric.fallback_window)


def population_key(metric: Metric, params: Any) -> tuple[Any, ...]:
    """Metrics with equal keys read the same rows: one query serves them all (``event_series_many``)."""
    return (*population_core(params), _window_key(metric))


def population_core(params: Any) -> tuple[Any, ...]:
    """What decides which rows a population holds and what each weighs, whatever the window."""
    return (params.events, params.anchor, getattr(params, "fulfilment", "any"),
            getattr(params, "exclude_buyer_cancelled", False), getattr(params, "exclude_cancelled", False),
            getattr(params, "unit", "events"), getattr(params, "tracked_only", False),
            getattr(params, "buyer_country", None), getattr(params, "split", None),
            getattr(params, "derive_ship_by", False), needs_ship_by(params.events, params),
            *_later_options(params))


def _later_options(params: Any) -> tuple[Any, ...]:
    """Population options added after rollups existed, as (name, value) only when set: the populations (and
    rollup keys) that existed before keep their key."""
    senders = tuple(getattr(params, "senders", None) or ("buyer",))
    found = {"delivered_only": getattr(params, "delivered_only", False),
             "shipped_only": getattr(params, "shipped_only", False),
             "handling_calendar": getattr(params, "handling_calendar", None),
             "senders": senders if senders != ("buyer",) else None,
             "per_thread": getattr(params, "per_thread", False)}
    return tuple((name, value) for name, value in found.items() if value)


def defect_key(params: Any) -> tuple[Any, ...]:
    return (tuple(params.defects), getattr(params, "count_open_claims", False),
            getattr(params, "respond_hours", None), getattr(params, "hours", None),
            getattr(params, "compare", "instant"), tuple(sorted((getattr(params, "tracking_exempt_below", {})
                                                                 or {}).items())),
            *(("first_confirmation",) if getattr(params, "first_confirmation", False) else ()))


def _kind(metric: Metric, params: Any) -> str:
    if metric.calculator == "count":
        return "count"
    return "successes" if params.numerator == "successes" else "rate"


def _category_join(source: Any, orders: Any, dialect: str) -> tuple[Any, Any]:
    """``source`` LEFT JOINed with the order's lines (a JSON array), and the line's category as SQL: the
    category name, else its id. An order without lines keeps one row with no category."""
    lines = orders.c.get("lines")
    if lines is None:
        raise MissingColumn("orders.lines")
    if dialect == "sqlite":
        each = func.json_each(lines).table_valued("value").alias("line")
        name = func.coalesce(func.json_extract(each.c.value, "$.category_name"),
                             func.json_extract(each.c.value, "$.category_id"))
    else:
        each = func.jsonb_array_elements(lines).table_valued("value").lateral("line")
        name = func.coalesce(each.c.value.op("->>")("category_name"), each.c.value.op("->>")("category_id"))
    return source.outerjoin(each, true()), name


MANY_RANGES = 4  # more ranges than this are joined as a VALUES table (one index seek each) than OR-ed


@dataclass(frozen=True)
class BoundRanges:
    """Ranges as NAMED bind parameters instead of values: ``n`` ranges OR-ed (``n <= MANY_RANGES``), or, for
    ``n = None``, many ranges joined from one parameter. A statement built with them serves any ranges of that
    form (``range_params`` gives the values), so it is built once and re-executed (``prepared_rows``)."""

    n: int | None

    @classmethod
    def of(cls, ranges: list[tuple[datetime, datetime]]) -> BoundRanges:
        return cls(len(ranges) if len(ranges) <= MANY_RANGES else None)


Ranges = list[tuple[datetime, datetime]] | BoundRanges


def _many(ranges: Ranges) -> bool:
    return ranges.n is None if isinstance(ranges, BoundRanges) else len(ranges) > MANY_RANGES


def range_params(ranges: list[tuple[datetime, datetime]], dialect: str) -> dict[str, Any]:
    """The values of the named parameters a ``BoundRanges.of(ranges)`` statement reads."""
    if len(ranges) <= MANY_RANGES:
        return {f"sg_lo{i}": lo for i, (lo, _) in enumerate(ranges)} | {
            f"sg_hi{i}": hi for i, (_, hi) in enumerate(ranges)}
    out: dict[str, Any] = {"sg_rlo": ranges[0][0], "sg_rhi": ranges[-1][1]}
    if dialect == "sqlite":
        out["sg_ranges"] = json.dumps([[_sqlite_text(lo), _sqlite_text(hi)] for lo, hi in ranges])
    else:
        out["sg_ranges_lo"], out["sg_ranges_hi"] = [lo for lo, _ in ranges], [hi for _, hi in ranges]
    return out


def _in_ranges(col: Any, ranges: Ranges, dialect: str = "") -> Any:
    """``col`` inside any of the half-open ``[lo, hi)`` ranges (SQL); many ranges: one IN over a VALUES table
    would not seek, so ``_join_ranges`` is used for those."""
    if isinstance(ranges, BoundRanges):
        if ranges.n is None:
            col = _unindexed(col, ranges, dialect)
            return and_(col >= bindparam("sg_rlo", type_=col.type), col < bindparam("sg_rhi", type_=col.type))
        return or_(*[and_(col >= bindparam(f"sg_lo{i}", type_=col.type), col < bindparam(f"sg_hi{i}", type_=col.type))
                     for i in range(ranges.n)]) if ranges.n else false()
    if len(ranges) > MANY_RANGES:
        col = _unindexed(col, ranges, dialect)
        return and_(col >= ranges[0][0], col < ranges[-1][1])  # the rest is the join's
    return or_(*[and_(col >= lo, col < hi) for lo, hi in ranges]) if ranges else false()


def _unindexed(col: Any, ranges: Ranges, dialect: str) -> Any:
    """``col`` for a comparison beside ``_join_ranges``: on SQLite ``+col``, which the planner cannot serve from
    an index, so it seeks once per joined range instead of scanning the whole span and testing every row against
    every range (90 cut hours: 170 ms -> 0.1 ms per query on 5,000 orders)."""
    if dialect != "sqlite" or not _many(ranges):
        return col
    return UnaryExpression(col, operator=operators.custom_op("+"), type_=col.type)


def _join_ranges(source: Any, col: Any, ranges: Ranges, dialect: str) -> Any:
    """``source`` joined with the ranges (sorted, disjoint) when there are many: an index seek per range.

    The ranges travel as ONE bound parameter (SQLite: a JSON array read by ``json_each``; PostgreSQL: two
    arrays read by ``unnest``), so the statement's text does not change with their number: SQLAlchemy compiles
    it once per process instead of once per call (a VALUES table of ~90 cut hours cost ~25 ms to compile)."""
    if not _many(ranges):
        return source
    named = isinstance(ranges, BoundRanges)
    if dialect == "sqlite":
        data = None if named else json.dumps([[_sqlite_text(lo), _sqlite_text(hi)] for lo, hi in ranges])
        param = bindparam("sg_ranges", type_=String) if named else bindparam(None, data, type_=String)
        each = func.json_each(param).table_valued("value").alias("anchor_ranges")
        lo_, hi_ = func.json_extract(each.c.value, "$[0]"), func.json_extract(each.c.value, "$[1]")
        return source.join(each, and_(col >= lo_, col < hi_))
    table = _pg_ranges(ranges)
    return source.join(table, and_(col >= table.c.lo, col < table.c.hi))


def _pg_ranges(ranges: Ranges) -> Any:
    """PostgreSQL: the ranges as a table ``anchor_ranges(lo, hi)`` (``unnest`` of two bound arrays)."""
    stamps = ARRAY(DateTime(timezone=True))
    if isinstance(ranges, BoundRanges):
        los, his = bindparam("sg_ranges_lo", type_=stamps), bindparam("sg_ranges_hi", type_=stamps)
    else:
        los = bindparam(None, [lo for lo, _ in ranges], type_=stamps)
        his = bindparam(None, [hi for _, hi in ranges], type_=stamps)
    return func.unnest(los, his).table_valued("lo", "hi").render_derived(name="anchor_ranges")


def _per_range(q: Any, table: Any, anchor: Any, account: Any, spans: Any) -> Any:
    """PostgreSQL: ``q`` (a select over ``table``) reading ``table`` through ``LATERAL (SELECT .. WHERE anchor in
    the range .. OFFSET 0)`` per range of ``spans``: one index range scan per range. Joined plainly with the ranges,
    PostgreSQL scans the whole span once and tests every row against every range (93 cut hours x 3,749 orders:
    348,499 comparisons, ~110 ms per statement at 20k x 4; the cut-hour statements of one evaluation 931 -> 208 ms,
    same rows). OFFSET 0 keeps the planner from flattening the subquery back into that join; only ``table`` is
    adapted (the ranges the lateral reads stay the outer ``anchor_ranges``)."""
    picked = (select(table).where(table.c.account == account, anchor >= spans.c.lo, anchor < spans.c.hi)
              .correlate(spans).offset(0).lateral(f"{table.name}_in_ranges"))
    return ClauseAdapter(picked, adapt_from_selectables={table}).traverse(q)


def _derived_table(session: Session, account: str, params: Any, metric: Metric,
                   ranges: list[tuple[datetime, datetime]]) -> Any:
    """A VALUES table (ref, ship_by) for the ranges' orders with no ship-by but a payment and handling time."""
    if params.derive_ship_by == "tiktok":  # order type + region (rules/sla.py, rules-B)
        return sla.tiktok_table(session, account, params, min(lo for lo, _ in ranges), max(hi for _, hi in ranges))
    o = ORDERS
    anchor = o.c[params.anchor]
    rows = session.execute(
        select(o.c.external_id, need(o, "paid_at"), need(o, "handling_days"))
        .select_from(_join_ranges(o, anchor, ranges, session.get_bind().dialect.name)).where(
            o.c.account == account, _in_ranges(anchor, ranges, session.get_bind().dialect.name), o.c.ship_by.is_(None),
            o.c.paid_at.is_not(None), o.c.handling_days.is_not(None))
    ).all()
    if not rows:
        return None
    data = derive_ship_by([tuple(r) for r in rows], handling_calendar(params, metric.timezone))  # type: ignore[misc]
    return values(column("ref", String), column("ship_by", UTCDateTime()), name="derived_ship_by").data(data).cte()


@dataclass
class GroupRows:
    """One population's rows read from the records (or from rollups), keyed by (scope, bucket, in window):
    ``[units, events, defects per column..., defective events per column...]``, the buyers of the defective
    events in the window per (scope, column), and the events of unknown deadline."""

    rows: dict[tuple[str | None, int, bool], list[float]] = field(default_factory=dict)
    buyers: dict[tuple[str | None, int], set[str]] = field(default_factory=dict)
    unknown: int = 0

    def add(self, key: tuple[str | None, int, bool], values_: list[float]) -> None:
        have = self.rows.get(key)
        if have is None:
            self.rows[key] = [float(v or 0) for v in values_]
        else:
            for i, v in enumerate(values_):
                have[i] += float(v or 0)


@dataclass
class Population:
    """The SQL of one population group: the selected rows before grouping, and what it needs to be read."""

    inner: Any
    columns: dict[tuple[Any, ...], Any]
    split: bool
    derived: Any
    ctx: Ctx
    anchor: Any


def defect_keys(group: list[tuple[Metric, Any]]) -> list[tuple[Any, ...]]:
    """The distinct defect definitions of a group, in column order."""
    return list(dict.fromkeys(defect_key(params) for _, params in group))


def population_select(session: Session, dialect: str, account: Any, group: list[tuple[Metric, Any]],
                      as_of: datetime, ranges: Ranges, bucket: Any,
                      in_window: Any, *, extra: tuple[str, ...] = (), also_at: datetime | None = None) -> Population:
    """The group's eligible rows with anchor in ``ranges``: bucket ``b``, in-window flag ``w``, unit weight
    ``u``, the buyer, one 0/1 column per defect definition; ``extra`` adds the deadline columns the rollups
    use to know when an hour stops changing (``ship_by``, ``deliver_by``, ``at``: the anchor).
    ``also_at`` adds each defect judged at that moment too (``z<n>``). ``bucket`` / ``in_window``: callables of
    the anchor column. ``account``: an id, or a bind parameter (a statement built once, ``prepared_rows``)."""
    first_metric, first = group[0]
    table = POPULATIONS[first.events].table
    anchor = table.c[first.anchor]
    derived = None
    if getattr(first, "derive_ship_by", False) and first.events == "orders" and ranges:
        assert not isinstance(ranges, BoundRanges), "a derived ship-by table holds one account's rows"
        derived = _derived_table(session, account, first, first_metric, ranges)
    ship_col = derived.c.ship_by if derived is not None else None
    columns: dict[tuple[Any, ...], Any] = {}
    more_at: list[Any] = []
    for metric, params in group:
        key = defect_key(params)
        if key not in columns:
            ctx = Ctx(as_of=as_of, params=params, dialect=dialect, timezone=metric.timezone,
                      derived_ship_by=ship_col)
            clause = defect_clause(params.events, params.defects, ctx)
            if also_at is not None:  # the same defect judged at another moment, as column z<n>
                early = defect_clause(params.events, params.defects, replace(ctx, as_of=also_at))
                more_at.append(case((early, 1), else_=0).label(f"z{len(columns)}"))
            columns[key] = case((clause, 1), else_=0).label(f"d{len(columns)}")
    base_ctx = Ctx(as_of=as_of, params=first, dialect=dialect, timezone=first_metric.timezone,
                   derived_ship_by=ship_col)
    weight = unit_weight(first.events, first).label("u")
    more = [buyer_of(first.events).label("buyer")]
    if "ship_by" in extra:
        more.append(base_ctx.ship_by(table).label("ship_by"))
    if "deliver_by" in extra:
        more.append(table.c.deliver_by.label("deliver_by"))
    if "at" in extra:
        more.append(anchor.label("at"))
    spans = _pg_ranges(ranges) if dialect == "postgresql" and _many(ranges) else None
    source: Any = _join_ranges(table, anchor, ranges, dialect) if spans is None else spans.join(table, true())
    if derived is not None:
        source = source.outerjoin(derived, derived.c.ref == table.c.external_id)
    split = getattr(first, "split", None) == "category"
    cat: list[Any] = []
    if split:
        holder: Any = table
        if first.events != "orders":
            holder = ORDERS.alias("lines_of")
            source = source.join(holder, (holder.c.account == table.c.account)
                                 & (holder.c.external_id == table.c.order_ref))
        source, name = _category_join(source, holder, dialect)
        cat = [func.coalesce(name, literal("(no category)")).label("cat"), table.c.id.label("rid")]
    inner_q = (
        select(bucket(anchor).label("b"), in_window(anchor).label("w"), weight, *cat, *more, *columns.values(),
               *more_at)
        .select_from(source)
        .where(table.c.account == account, _in_ranges(anchor, ranges, dialect),
               _unindexed(anchor, ranges, dialect) < as_of)
        .where(*population_filters(first.events, first, base_ctx))
    )
    if spans is not None:
        inner_q = _per_range(inner_q, table, anchor, account, spans)
    # an event counts once per category however many of its lines share it
    inner = (inner_q.distinct() if split else inner_q).subquery()
    return Population(inner, columns, split, derived, base_ctx, anchor)


def _group_statements(pop: Population, *, buyers: bool) -> tuple[Any, list[Any]]:
    """The GROUP BY over a population's selected rows, and (``buyers``) one DISTINCT buyers query per column."""
    inner, columns = pop.inner, pop.columns
    by = [inner.c.cat] if pop.split else []
    sums = [func.sum(inner.c[c.name] * inner.c.u) for c in columns.values()]
    events = [func.sum(inner.c[c.name]) for c in columns.values()]
    main = select(*by, inner.c.b, inner.c.w, func.sum(inner.c.u), func.count(), *sums, *events).group_by(
        *by, inner.c.b, inner.c.w)
    extra = [select(*by, inner.c.buyer).where(inner.c.w, inner.c[c.name] == 1).distinct()
             for c in columns.values()] if buyers else []
    return main, extra


def _collect(split: bool, rows: Any, buyer_rows: list[Any]) -> GroupRows:
    out = GroupRows()
    off = 1 if split else 0
    for r in rows:
        out.add((r[0] if split else None, int(r[off]), bool(r[off + 1])), list(r[off + 2:]))
    for i, found in enumerate(buyer_rows):
        for r in found:
            out.buyers.setdefault((r[0] if split else None, i), set()).add(str(r[-1]))
    return out


def group_rows(session: Session, pop: Population, *, buyers: bool) -> GroupRows:
    """Sum a population's selected rows per (scope, bucket, in window); buyers of defective in-window events."""
    main, extra = _group_statements(pop, buyers=buyers)
    return _collect(pop.split, session.execute(main).all(), [session.execute(q).all() for q in extra])


@dataclass
class _Prepared:
    main: Any
    buyers: list[Any]
    split: bool


PREPARED_MAX = 512  # statements kept per process (a pack's ~20 groups x a few windows and moments)
_PREPARED: dict[tuple[Any, ...], _Prepared] = {}


def prepared_rows(session: Session, dialect: str, account: str, group: list[tuple[Metric, Any]],
                  as_of: datetime, start: datetime, end: datetime, ranges: list[tuple[datetime, datetime]],
                  *, buyers: bool) -> GroupRows:
    """``group_rows`` of ``population_select`` for the bucketing of ``[start, end)`` at ``as_of``, from a statement
    built once per population shape and re-executed with the account and the ranges as named parameters: every
    account of a pack shares its groups' statements (building one costs ~1 ms of SQLAlchemy; the five eBay and
    five Amazon accounts of the 1M x 10 benchmark built each five times). Not for derived ship-by tables (their
    rows are an account's)."""
    shape = tuple((population_core(p), defect_key(p), m.timezone) for m, p in group)
    form = BoundRanges.of(ranges)
    key = (dialect, shape, as_of, start, end, form, buyers)
    got = _PREPARED.get(key)
    if got is None:
        pop = population_select(session, dialect, bindparam("sg_account", type_=String), group, as_of, form,
                                lambda a: _bucket(a, start, dialect), lambda a: a < end)
        main, extra = _group_statements(pop, buyers=buyers)
        if len(_PREPARED) >= PREPARED_MAX:
            _PREPARED.clear()
        got = _PREPARED[key] = _Prepared(main, extra, pop.split)
    params = {"sg_account": account, **range_params(ranges, dialect)}
    conn = session.connection()
    return _collect(got.split, conn.execute(got.main, params).all(),
                    [conn.execute(q, params).all() for q in got.buyers])


class RollupSource:
    """What rollups give a group's series (``sellerguard.rules.rollup.Rollups`` implements it): the rows of
    the hours they hold, and the anchor ranges left to read from the records."""

    def rolled(self, session: Session, account: str, group: list[tuple[Metric, Any]], start: datetime,
               end: datetime, as_of: datetime) -> tuple[GroupRows, list[tuple[datetime, datetime]]] | None:
        raise NotImplementedError


def event_series_many(
    session: Session, dialect: str, account: str, group: list[tuple[Metric, Any]], as_of: datetime,
    length: int | None = None, rollups: Any = None,
) -> list[Series]:
    """``rate`` / ``count`` for metrics sharing one population: one GROUP BY over the window, one defect
    column per distinct defect definition, each event weighted by its unit. The whole population logic of a
    metric (filters, unit, defects, gate counts, split) lives here and in ``events``. The whole hours the
    rollups hold (``sellerguard.rules.rollup``) are not read from the records; the result is the same.
    ``rollups``: None for the session's, False for none (row-level)."""
    first_metric, first = group[0]
    start, end = window_bounds(first_metric, as_of, length)
    gated = any(m.gate_unit == "unique_buyers" for m, _ in group)
    if rollups is None:  # the session's rollups, unless row-level evaluation is asked for (rules/rollup.py)
        from sellerguard.rules import rollup

        rollups = rollup.source(session)
    got = rollups.rolled(session, account, group, start, end, as_of) if rollups else None
    data, ranges = got if got is not None else (GroupRows(), [(start, as_of)])
    derives = bool(getattr(first, "derive_ship_by", False)) and first.events == "orders"
    pop = None
    if ranges:
        if derives:  # the derived ship-by table is the account's: a statement of its own
            pop = population_select(session, dialect, account, group, as_of, ranges,
                                    lambda a: _bucket(a, start, dialect), lambda a: a < end)
            part = group_rows(session, pop, buyers=gated)
        else:
            part = prepared_rows(session, dialect, account, group, as_of, start, end, ranges, buyers=gated)
        for key, vals in part.rows.items():
            data.add(key, vals)
        for key, found in part.buyers.items():
            data.buyers.setdefault(key, set()).update(found)
    unknown, refs = (0, [])
    if needs_ship_by(first.events, first) and (got is None or data.unknown):
        if pop is not None:
            derived, ctx, anchor = pop.derived, pop.ctx, pop.anchor
        else:
            derived, anchor = None, POPULATIONS[first.events].table.c[first.anchor]
            ctx = Ctx(as_of=as_of, params=first, dialect=dialect, timezone=first_metric.timezone)
        if got is not None and derives:  # derived only for the ranges read
            derived = _derived_table(session, account, first, first_metric, [(start, as_of)])
            ctx = replace(ctx, derived_ship_by=derived.c.ship_by if derived is not None else None)
        unknown, refs = _unknown_ship_by(session, account, first, ctx, anchor, start, end, derived)
    columns = defect_keys(group)  # population_select's column order
    split = getattr(first, "split", None) == "category"
    index = {key: i for i, key in enumerate(columns)}
    k = len(columns)
    rows = data.rows
    scopes = sorted({s for s, _, _ in rows if s is not None})
    out = []
    for metric, params in group:
        i = index[defect_key(params)]
        kind = _kind(metric, params)

        def fold(scope: str | None, i: int = i, kind: str = kind, metric: Metric = metric) -> Series:
            sel = [(key, v) for key, v in rows.items() if scope is None or key[0] == scope]
            series = _fold(kind, start, end, as_of, [(b, w, v[0], v[2 + i]) for (_, b, w), v in sel])
            series.defect_events = float(sum(v[2 + k + i] for (_, _, w), v in sel if w))
            series.eligible_events = float(sum(v[1] for (_, _, w), v in sel if w))
            if metric.gate_unit == "unique_buyers":
                if scope is None:
                    found = set().union(*[b for (_, j), b in data.buyers.items() if j == i])
                else:
                    found = data.buyers.get((scope, i), set())
                series.unique_buyers = float(len(found))
            series.scope = scope
            return series

        whole = fold(None)
        whole.unknown, whole.unknown_refs = unknown, refs
        if split:
            whole.parts = [fold(name) for name in scopes]
        out.append(whole)
    return out


def _clip(ranges: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    return [(max(a, lo), min(b, hi)) for a, b in ranges if max(a, lo) < min(b, hi)]


def _unknown_query(account: str, params: Any, ctx: Ctx, anchor: Any, derived: Any) -> tuple[Any, Any, list[Any]]:
    o = ORDERS
    fields = deadlines_needed("orders", params)
    anchor = o.c[unknown_anchor(params)] if anchor is None or params.anchor in fields else anchor
    source: Any = o if derived is None else o.outerjoin(derived, derived.c.ref == o.c.external_id)
    terms = [t for t in population_filters("orders", params.model_copy(update={"defects": ["any"]}), ctx)]
    # ctx.params carries the metric's defects: deadline_known adds eBay's "deliver-by unless scanned in time"
    return source, anchor, [o.c.account == account, *terms, not_(deadline_known(o, ctx, fields))]


def unknown_anchor(params: Any) -> str:
    """The column that places an order of unknown deadline: the anchor, or the purchase when the anchor is
    the deadline itself."""
    return "purchased_at" if params.anchor in deadlines_needed("orders", params) else params.anchor


def unknown_count(session: Session, dialect: str, account: str, metric: Metric, params: Any, as_of: datetime,
                  ranges: list[tuple[datetime, datetime]]) -> int:
    """Orders of unknown deadline placed (``unknown_anchor``) in ``ranges``: 0 when the metric needs none."""
    if not ranges or not needs_ship_by(params.events, params):
        return 0
    derived = _derived_table(session, account, params, metric, ranges) if getattr(
        params, "derive_ship_by", False) else None
    ctx = Ctx(as_of=as_of, params=params, dialect=dialect, timezone=metric.timezone,
              derived_ship_by=derived.c.ship_by if derived is not None else None)
    source, anchor, where = _unknown_query(account, params, ctx, None, derived)
    q = (select(func.count()).select_from(_join_ranges(source, anchor, ranges, dialect))
         .where(*where, _in_ranges(anchor, ranges, dialect)))
    return int(session.execute(q).scalar_one())


def _unknown_ship_by(session: Session, account: str, params: Any, ctx: Ctx, anchor: Any, start: datetime,
                     end: datetime, derived: Any) -> tuple[int, list[str]]:
    """Orders of the population in the window whose deadline (ship-by: none stored, none derivable; deliver-by)
    is unknown. A metric placed by that deadline cannot place them: those are the orders bought in the window."""
    o = ORDERS
    source, anchor, where = _unknown_query(account, params, ctx, anchor, derived)
    q = select(o.c.external_id).select_from(source).where(*where, anchor >= start, anchor < end)
    n = session.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    refs = [r[0] for r in session.execute(q.order_by(o.c.external_id).limit(MAX_UNKNOWN_REFS)).all()] if n else []
    return int(n), refs


def event_series(
    session: Session, dialect: str, account: str, metric: Metric, params: EventParams, as_of: datetime,
    length: int | None = None,
) -> Series:
    """``rate`` / ``count`` for one metric."""
    return event_series_many(session, dialect, account, [(metric, params)], as_of, length)[0]


def average_series(
    session: Session, dialect: str, account: str, metric: Metric, params: Any, as_of: datetime,
    length: int | None = None,
) -> Series:
    """``average``: ratings and the sum of their normalized scores per day."""
    start, end = window_bounds(metric, as_of, length)
    t = RATINGS
    ctx = Ctx(as_of=as_of, params=params, dialect=dialect)
    inner = (
        select(
            _bucket(t.c.rated_at, start, dialect).label("b"),
            (t.c.rated_at < end).label("w"),
            t.c.score_normalized.label("s"),
        )
        .where(t.c.account == account, t.c.rated_at >= start, t.c.rated_at < as_of)
        .where(t.c.score_normalized.is_not(None), *population_filters("ratings", params, ctx))
        .subquery()
    )
    rows = session.execute(
        select(inner.c.b, inner.c.w, func.count(), func.sum(inner.c.s)).group_by(inner.c.b, inner.c.w)
    ).all()
    return _fold("average", start, end, as_of, [(b, w, n, s or 0.0) for b, w, n, s in rows])


def business_reply_series(
    session: Session, account: str, metric: Metric, params: ResponseParams, calendar: BusinessCalendar,
    as_of: datetime, length: int | None = None,
) -> Series:
    """``response_time`` on a business clock: due times need the calendar, so the window's messages are
    read (only the window's, by the indexed received_at range) and judged here."""
    start, end = window_bounds(metric, as_of, length)
    m = MESSAGES
    rows = session.execute(
        select(m.c.received_at, m.c.first_reply_at).where(
            m.c.account == account, m.c.received_at >= start, m.c.received_at < as_of,
            *messages_to_answer(m, params),
        )
    ).all()
    buckets: dict[tuple[int, bool], list[float]] = {}
    for received, replied in rows:
        received = _aware(received)
        due = calendar.add_hours(received, params.hours)
        late = _aware(replied) > due if replied is not None else due < as_of
        key = (int((received - start) / DAY), received < end)
        acc = buckets.setdefault(key, [0, 0])
        acc[0] += 1
        acc[1] += int(late)
    return _fold("rate", start, end, as_of, [(b, w, n, d) for (b, w), (n, d) in buckets.items()])


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _fold(kind: str, start: datetime, end: datetime, as_of: datetime,
          rows: list[tuple[Any, Any, Any, Any]]) -> Series:
    days = max(math.ceil((end - start) / DAY), 1)
    size = max(math.ceil((max(as_of, end) - start) / DAY), days)
    lag = size - days
    eligible = [0.0] * size
    defects = [0.0] * size
    num = den = 0.0
    for b, w, n, d in rows:
        i = min(max(int(b), 0), size - 1)
        eligible[i] += float(n)
        defects[i] += float(d)
        if w:
            den += float(n)
            num += float(d)
    return Series(kind, start, days, lag, eligible, defects, numerator=num, denominator=den, end_at=end)


def _reported_rows(session: Session, account: str, as_of: datetime) -> dict[str, list[ReportedMetricRow]]:
    """Per metric id, the newest stored rows of each scope as known at ``as_of`` (all rows sharing a scope's
    newest moment), in id order: ONE query per account and moment for every reported figure the evaluation
    looks up (it was two single-row queries per metric). Kept in the session's ``info`` for its evaluation."""
    cache = session.info.setdefault("sellerguard_reported", {})
    found = cache.get((account, as_of))
    if found is None:
        r = ReportedMetricRow.__table__  # type: ignore[attr-defined]
        newest = (select(r.c.metric_id, r.c.scope, func.max(r.c.as_of).label("at"))
                  .where(r.c.account == account, r.c.as_of <= as_of)
                  .group_by(r.c.metric_id, r.c.scope).subquery())
        q = (select(ReportedMetricRow).join(newest, and_(
            ReportedMetricRow.metric_id == newest.c.metric_id,
            ReportedMetricRow.scope.is_not_distinct_from(newest.c.scope),  # type: ignore[union-attr]
            ReportedMetricRow.as_of == newest.c.at))
            .where(ReportedMetricRow.account == account).order_by(ReportedMetricRow.id))
        found = {}
        for row in session.execute(q).scalars():
            found.setdefault(row.metric_id, []).append(row)
        cache[(account, as_of)] = found
    return found


def latest_reported(
    session: Session, account: str, metric_id: str, scope: str | None, as_of: datetime
) -> ReportedMetricRow | None:
    """The marketplace's newest own figure for this metric, as known at ``as_of`` (ties of moment: the last
    stored, as SQLite's backward walk of the (account, metric, as_of) index returned it)."""
    rows = [r for r in _reported_rows(session, account, as_of).get(metric_id, ())
            if scope is None or r.scope == scope]
    return max(rows, key=lambda r: (_aware(r.as_of), r.id or 0)) if rows else None


def newest_reported(
    session: Session, account: str, metric_id: str, scope: str | None, as_of: datetime
) -> list[ReportedMetricRow]:
    """Every row of the marketplace's newest report of this metric (one per scope: program, region, category)."""
    newest = latest_reported(session, account, metric_id, scope, as_of)
    if newest is None:
        return []
    at = _aware(newest.as_of)
    return [r for r in _reported_rows(session, account, as_of).get(metric_id, ())
            if _aware(r.as_of) == at and (scope is None or r.scope == scope)]


def window_volume(session: Session, account: str, metric: Metric, params: Any, as_of: datetime,
                  at_most: int | None = None) -> int:
    """All events of the population in the metric's normal window, before any filter: what a rule such as
    eBay's "400 transactions in the last 3 months" counts; with ``fallback_window.of = "sales"`` the seller's
    sales in that window (``sales_count``). Index-only (account, anchor) count; ``at_most`` stops counting there
    (the rule only asks whether the count reaches 400: 1M x 10 holds ~12,000 a window)."""
    start, end = window_bounds(metric, as_of)
    if metric.fallback_window is not None and metric.fallback_window.of == "sales":
        return sales_count(session, account, start, end, at_most)
    table = POPULATIONS[params.events].table
    anchor = table.c[params.anchor]
    return _count_once(session, (account, params.events, params.anchor, start, end, at_most),
                       select(table.c.id).where(table.c.account == account, anchor >= start, anchor < end), at_most)


def sales_count(session: Session, account: str, start: datetime, end: datetime, at_most: int | None = None) -> int:
    """The seller's sales bought in ``[start, end)``: orders by ``purchased_at``, cancelled ones left out (what
    Mercado Libre's 40-sale window switch and 10-sale minimum count). ``at_most`` stops counting there."""
    return _count_once(session, (account, "sales", start, end, at_most),
                       select(ORDERS.c.id).where(ORDERS.c.account == account, ORDERS.c.purchased_at >= start,
                                                 ORDERS.c.purchased_at < end, ORDERS.c.status != "cancelled"),
                       at_most)


def _count_once(session: Session, key: tuple[Any, ...], rows: Any, at_most: int | None) -> int:
    """The number of ``rows`` (at most ``at_most``), counted once per evaluation session (which reads and never
    writes): the groups of a pack sharing a population table, anchor and window ask the same count (eBay: three per
    account and moment), and every metric and period with a sales minimum asks the seller's sales again."""
    seen = session.info.setdefault("sellerguard_volumes", {})
    if key not in seen:
        if at_most is not None:
            rows = rows.limit(at_most)
        seen[key] = int(session.execute(select(func.count()).select_from(rows.subquery())).scalar_one())
    return seen[key]
