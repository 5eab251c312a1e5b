"""Write a StatusReport into the metric history and read it back.

``record`` is idempotent per (account, metric, UTC day of the report's ``as_of``): a later evaluation on the same
day overwrites the row, so a restarted daemon or a repeated ``status --record`` never adds a second row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, select

from sellerguard.history.tables import MetricHistoryRow
from sellerguard.rules.report import StatusReport
from sellerguard.store import Store
from sellerguard.store.db import _insert

_KEY = ("account", "metric", "day")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def history_rows(report: StatusReport, day: date | None = None) -> list[dict[str, Any]]:
    """One row (a dict of ``MetricHistoryRow`` columns) per account and metric of ``report``, for ``day``
    (default: the UTC day of ``report.as_of``)."""
    day = day or report.as_of.date()
    rows = []
    for acc in report.accounts:
        for m in acc.metrics:
            rows.append({
                "account": acc.account, "metric": m.id, "day": day, "marketplace": acc.marketplace,
                "as_of": report.as_of, "value": _finite(m.value), "numerator": _finite(m.numerator),
                "denominator": _finite(m.denominator), "threshold": _finite(m.threshold), "warn": _finite(m.warn),
                "comparator": m.comparator, "level": m.level, "headroom": _finite(m.headroom),
                "breach_forecast": m.breach_forecast, "reported_value": _finite(m.reported_value),
            })
    return rows


def record(store: Store, report: StatusReport, *, day: date | None = None) -> int:
    """Upsert the report's metrics as the history of ``day``; returns the number of rows written."""
    rows = history_rows(report, day)
    if not rows:
        return 0
    table = MetricHistoryRow.__table__  # type: ignore[attr-defined]
    stmt = _insert(store.dialect)(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(_KEY),
                                      set_={c: stmt.excluded[c] for c in rows[0] if c not in _KEY})
    with Session(store.engine) as session, session.begin():
        session.connection().execute(stmt, rows)
    return len(rows)


def prune(store: Store, before: date) -> int:
    """Delete the rows of days before ``before``; returns how many went."""
    with Session(store.engine) as session, session.begin():
        result = session.connection().execute(delete(MetricHistoryRow).where(MetricHistoryRow.day < before))
    return int(result.rowcount or 0)


def prune_older_than(store: Store, retention: timedelta, now: datetime) -> int:
    return prune(store, (now - retention).date())


def series(store: Store, account: str, metric: str, since: date, until: date | None = None) -> list[MetricHistoryRow]:
    """The metric's rows from ``since`` to ``until`` (inclusive), oldest first."""
    query = select(MetricHistoryRow).where(MetricHistoryRow.account == account, MetricHistoryRow.metric == metric,
                                           MetricHistoryRow.day >= since)
    if until is not None:
        query = query.where(MetricHistoryRow.day <= until)
    with Session(store.engine) as session:
        return list(session.exec(query.order_by(MetricHistoryRow.day)).all())  # type: ignore[arg-type]


def recorded_ids(store: Store, account: str | None = None) -> list[str]:
    """The account ids with any history, or with ``account`` the metric ids it has history of (sorted)."""
    column = MetricHistoryRow.account if account is None else MetricHistoryRow.metric
    query = select(column).distinct()
    if account is not None:
        query = query.where(MetricHistoryRow.account == account)
    with Session(store.engine) as session:
        return sorted(session.exec(query).all())  # type: ignore[call-overload]


def all_series(store: Store, since: date, accounts: Iterable[str] | None = None,
               ) -> dict[tuple[str, str], list[MetricHistoryRow]]:
    """Every (account, metric)'s rows since ``since``, oldest first (the dashboard reads them in one query)."""
    query = select(MetricHistoryRow).where(MetricHistoryRow.day >= since)
    if accounts is not None:
        query = query.where(MetricHistoryRow.account.in_(list(accounts)))  # type: ignore[attr-defined]
    out: dict[tuple[str, str], list[MetricHistoryRow]] = {}
    with Session(store.engine) as session:
        for row in session.exec(query.order_by(MetricHistoryRow.day)).all():  # type: ignore[arg-type]
            out.setdefault((row.account, row.metric), []).append(row)
    return out


def day_rows(store: Store, day: date) -> dict[tuple[str, str], MetricHistoryRow]:
    """Every metric's row of one day, by (account, metric)."""
    with Session(store.engine) as session:
        rows = session.exec(select(MetricHistoryRow).where(MetricHistoryRow.day == day)).all()
    return {(r.account, r.metric): r for r in rows}


def latest_day_on_or_before(store: Store, day: date) -> date | None:
    """The newest recorded day not after ``day`` (``status --since`` compares with it when ``day`` has no rows)."""
    with Session(store.engine) as session:
        return session.exec(select(func.max(MetricHistoryRow.day)).where(MetricHistoryRow.day <= day)).one()


def recorded_days(store: Store, since: date, until: date) -> dict[date, set[str]]:
    """{day: accounts with rows that day} between ``since`` and ``until`` (the backfill skips those)."""
    with Session(store.engine) as session:
        rows = session.exec(select(MetricHistoryRow.day, MetricHistoryRow.account).distinct()
                            .where(MetricHistoryRow.day >= since, MetricHistoryRow.day <= until)).all()
    out: dict[date, set[str]] = {}
    for day, account in rows:
        out.setdefault(day, set()).add(account)
    return out
