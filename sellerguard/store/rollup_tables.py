"""Storage for hour rollups of metric populations (issue 21): counts per account, population key and UTC hour.

The store knows no marketplace: ``key`` is an opaque id the rules derive from a metric's population and defect
definition (``sellerguard.rules.rollup``), ``scope`` an opaque sub-population (a category name, or '').
Kept apart from ``sellerguard.store.tables``, as the alert tables are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from sellerguard.store.tables import UTCDateTime, ts


class RollupHourRow(SQLModel, table=True):
    """One population key's counts over one UTC hour of its anchor, as they stand for every evaluation moment
    at or after ``settles_at`` (NULL: for every moment). Hours without events have no row."""

    __tablename__ = "rollup_hour"
    account: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=40)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    scope: str = Field(default="", primary_key=True, max_length=200)
    events: int = 0  # eligible events (average: ratings)
    units: float = 0.0  # eligible events weighted by the metric's unit (average: ratings)
    defects: float = 0.0  # defects in the unit (average: sum of scores)
    defect_events: int = 0  # defective events whatever the unit
    unknown: int = 0  # events left out because their deadline is unknown (never on time)
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
    """An hour of an account whose records changed after its rollups were computed: read from the records until
    the rollups are recomputed (written by every record write, in its transaction)."""

    __tablename__ = "rollup_dirty"
    account: str = Field(primary_key=True, max_length=100)
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
