"""Storage for metric history, kept apart from ``sellerguard.store.tables`` (the store knows no metric).

One row per (account, metric, day): the primary key is also the index every read uses (one account's metric over
a range of days); ``ix_metric_history_day`` serves pruning and "every metric on day D" (``status --since``).
Sizing (docs/dashboard.md): 228 bytes per row with its indexes on SQLite (measured), so 1,000 accounts x 100
metrics x 730 days = 73 million rows is about 17 GB; the default retention (``[history] retention = "730d"``) bounds it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from sellerguard.store.tables import ts


class MetricHistoryRow(SQLModel, table=True):
    """A metric as evaluated on one UTC day: the day's last evaluation wins (``as_of`` says when it was)."""

    __tablename__ = "metric_history"
    __table_args__ = (Index("ix_metric_history_day", "day"),)
    account: str = Field(primary_key=True, max_length=100)
    metric: str = Field(primary_key=True, max_length=100)
    day: date = Field(primary_key=True)
    marketplace: str = Field(max_length=50)
    as_of: datetime = ts(nullable=False)  # type: ignore[assignment]
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    threshold: float | None = None
    warn: float | None = None
    comparator: str = Field(default="<=", max_length=2)
    level: str = Field(max_length=10)
    headroom: float | None = None
    breach_forecast: datetime | None = ts()
    reported_value: float | None = None
