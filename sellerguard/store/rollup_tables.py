"""Storage for day rollups of metric populations (issue 21): counts per account, population key and UTC day.

The store knows no marketplace: ``key`` is an opaque id the rules derive from a metric's population and defect
definition (``sellerguard.rules.rollup``), ``scope`` an opaque sub-population (a category name, or '').
Kept apart from ``sellerguard.store.tables``, as the alert tables are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from sellerguard.store.tables import UTCDateTime, ts


class RollupDayRow(SQLModel, table=True):
    """One population key's counts over one UTC day of its anchor, hour by hour, as they stand for every
    evaluation moment at or after ``settles_at`` (NULL: for every moment). Days without events have no row.

    ``hours``: JSON ``[[hour 0-23, events, units, defects, defect_events, unknown], ...]`` for the hours with
    events (events: eligible events, or ratings for an average; units: events weighted by the metric's unit;
    defects: in the unit, or the sum of scores; defect_events: defective events whatever the unit; unknown:
    events left out because their deadline is unknown). One row per day keeps a window's read at O(days),
    the hours let windows that cut at any whole hour (local midnights, rolling 24 h from an hour) be summed."""

    __tablename__ = "rollup_day"
    account: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=40)
    day: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    scope: str = Field(default="", primary_key=True, max_length=200)
    hours: str = Field(sa_column=Column(Text(), nullable=False))
    settles_at: datetime | None = ts()


class RollupBuyerRow(SQLModel, table=True):
    """The distinct buyers (pseudonymous keys) among one hour's defective events: unique-buyer gates cannot be
    summed over hours, so the window's distinct count is taken over these sets."""

    __tablename__ = "rollup_buyer"
    account: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=40)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    scope: str = Field(default="", primary_key=True, max_length=200)
    buyer: str = Field(primary_key=True, max_length=100)


class RollupCoverRow(SQLModel, table=True):
    """A key whose rollup covers the account's whole history (built from the records, then maintained)."""

    __tablename__ = "rollup_cover"
    account: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=40)
    spec: str = Field(sa_column=Column(Text(), nullable=False))  # what the key stands for (JSON), for people
    built_at: datetime | None = ts()


class RollupDirtyRow(SQLModel, table=True):
    """A UTC day of an account whose records changed after its rollups were computed: read from the records
    until the rollups are recomputed (written by every record write, in its transaction)."""

    __tablename__ = "rollup_dirty"
    account: str = Field(primary_key=True, max_length=100)
    day: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
