"""Storage models (``table=True``): they store, they do not validate; ``sellerguard.schema`` validates.

One table per record kind, each keyed by (account, external_id) and indexed on (account, <event time>) so that
windowed aggregates read only the rows of the window. Money is kept as exact decimal text. The store knows no
marketplace: ``account`` is an opaque id and ``metric_id`` an opaque string.

``orders.lines`` is a JSON array of ``{"line_id", "quantity", "category_id", "category_name"}`` objects (JSONB on
PostgreSQL, JSON text on SQLite); SQL reads it with ``json_each(orders.lines)`` on SQLite and
``jsonb_array_elements(orders.lines)`` on PostgreSQL (see ``LINES_JSON``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from sellerguard.redact import scrub_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; SQLite keeps naive UTC text, PostgreSQL timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LinesJSON(TypeDecorator[Any]):
    """JSON on SQLite (text, json_each), JSONB on PostgreSQL (jsonb_array_elements, comparable for upserts).

    The PostgreSQL dialect is imported when a PostgreSQL connection first compiles the type, not when this module
    loads (``JSON().with_variant(JSONB(), ...)`` imported it for every command, ~0.3 s of start-up: issue 21).
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect):  # type: ignore[no-untyped-def]
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


LINES_JSON = LinesJSON()


def ts(nullable: bool = True, index: bool = False) -> datetime | None:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class _Keyed(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    raw_hash: str | None = Field(default=None, max_length=64)


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"
    id: str = Field(primary_key=True, max_length=100)
    marketplace: str = Field(max_length=50)
    region: str | None = None
    seller_id: str | None = None
    display_name: str | None = None


class OrderRow(_Keyed, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_orders_key"),
        Index("ix_orders_account_purchased", "account", "purchased_at"),
        Index("ix_orders_account_ship_by", "account", "ship_by"),
        Index("ix_orders_account_deliver_by", "account", "deliver_by"),
    )
    purchased_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    updated_at: datetime | None = ts()
    ship_by: datetime | None = ts()
    deliver_by: datetime | None = ts()
    fulfilment: str = Field(max_length=20)
    status: str = Field(max_length=20)
    total: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    item_count: int = 1
    site: str | None = None
    buyer_key: str | None = Field(default=None, max_length=64)  # HMAC of the buyer id (sellerguard.keys)
    buyer_country: str | None = Field(default=None, max_length=2)
    paid_at: datetime | None = ts()
    handling_days: int | None = None  # business days
    seller_timezone: str | None = Field(default=None, max_length=64)
    order_type: str | None = Field(default=None, max_length=50)
    items_subtotal: str | None = None  # exact decimal text, order currency
    lines: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=Column(LINES_JSON, nullable=False, server_default=text("'[]'")),
    )


class ShipmentRow(_Keyed, table=True):
    __tablename__ = "shipment"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_shipment_key"),
        Index("ix_shipment_account_order", "account", "order_ref"),
        Index("ix_shipment_account_shipped", "account", "shipped_at"),
        # Not declared here: the partial index ix_shipment_account_untracked (account, shipped_at) WHERE
        # tracking_number IS NULL, which the deadline queue's tracking-upload query reads (rules/deadlines.py), lives
        # in migration 0008 only. Declaring it needs `postgresql_where`, and SQLAlchemy imports the PostgreSQL
        # dialect (~0.3 s) to check that keyword for every command, SQLite ones included (tests/test_startup.py).
    )
    order_ref: str = Field(max_length=200)
    shipped_at: datetime | None = ts()
    confirmed_at: datetime | None = ts()
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_validated: bool | None = None
    delivered_at: datetime | None = ts()
    item_count: int | None = None
    tracking_uploaded_at: datetime | None = ts()
    first_scan_at: datetime | None = ts()
    first_attempt_at: datetime | None = ts()


class CancellationRow(_Keyed, table=True):
    __tablename__ = "cancellation"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_cancellation_key"),
        Index("ix_cancellation_account_order", "account", "order_ref"),
        Index("ix_cancellation_account_at", "account", "cancelled_at"),
    )
    order_ref: str = Field(max_length=200)
    cancelled_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    initiated_by: str = Field(max_length=20)
    buyer_requested: bool = False
    reason: str | None = Field(default=None, max_length=200)
    item_count: int | None = None
    processed_at: datetime | None = ts()


class MessageRow(_Keyed, table=True):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_message_key"),
        Index("ix_message_account_received", "account", "received_at"),
    )
    thread_id: str = Field(max_length=200)
    order_ref: str | None = Field(default=None, max_length=200)
    received_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    first_reply_at: datetime | None = ts()
    needs_reply: bool = True
    sender: str = Field(default="buyer", max_length=20)
    marketplace_flag: str | None = Field(default=None, max_length=20)


class RatingRow(_Keyed, table=True):
    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_rating_key"),
        Index("ix_rating_account_rated", "account", "rated_at"),
        Index("ix_rating_account_order", "account", "order_ref"),
    )
    rating_kind: str = Field(max_length=30)
    score: str = Field(max_length=20)
    score_normalized: float | None = None
    negative: bool = False
    rated_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    order_ref: str | None = Field(default=None, max_length=200)
    removed: bool = False


class ClaimRow(_Keyed, table=True):
    __tablename__ = "claim"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_claim_key"),
        Index("ix_claim_account_opened", "account", "opened_at"),
        Index("ix_claim_account_order", "account", "order_ref"),
    )
    claim_kind: str = Field(max_length=30)
    order_ref: str | None = Field(default=None, max_length=200)
    opened_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    closed_at: datetime | None = ts()
    outcome: str | None = Field(default=None, max_length=100)
    seller_at_fault: bool | None = None


class ReturnRow(_Keyed, table=True):
    __tablename__ = "return_request"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_return_key"),
        Index("ix_return_account_requested", "account", "requested_at"),
        Index("ix_return_account_order", "account", "order_ref"),
    )
    order_ref: str = Field(max_length=200)
    requested_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    resolved_at: datetime | None = ts()
    refund_amount: str | None = None
    currency: str | None = Field(default=None, max_length=3)
    dissatisfied: bool | None = None
    reason: str | None = Field(default=None, max_length=200)
    reason_category: str | None = Field(default=None, max_length=30)


class ReportedMetricRow(_Keyed, table=True):
    __tablename__ = "reported_metric"
    __table_args__ = (
        UniqueConstraint("account", "external_id", name="uq_reported_metric_key"),
        Index("ix_reported_metric_account_metric", "account", "metric_id", "as_of"),
    )
    metric_id: str = Field(max_length=100)
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    window_start: datetime | None = ts()
    window_end: datetime | None = ts()
    status: str | None = Field(default=None, max_length=50)
    scope: str | None = Field(default=None, max_length=50)
    as_of: datetime = ts(nullable=False)  # type: ignore[assignment]


class SyncCursor(SQLModel, table=True):
    """Where each (account, stream) sync stopped; written in the same transaction as the records it covers."""

    __tablename__ = "sync_cursor"
    account: str = Field(primary_key=True, max_length=100)
    stream: str = Field(primary_key=True, max_length=100)
    cursor: str | None = None
    updated_at: datetime | None = ts()


class ConnectorState(SQLModel, table=True):
    """Small per-account state a connector must keep across runs: rotated refresh tokens, pending report ids.

    Values may be secrets (a rotated refresh token): never log them. Written and committed at once, because a
    single-use refresh token must be saved before the new access token is used.
    """

    __tablename__ = "connector_state"
    account: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=100)
    value: str
    updated_at: datetime | None = ts()


class SyncRun(SQLModel, table=True):
    """One row per sync attempt of an account: status reads it to call data stale, the daemon to back off."""

    __tablename__ = "sync_run"
    __table_args__ = (Index("ix_sync_run_account_started", "account", "started_at"),)
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=100)
    started_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    finished_at: datetime | None = ts()
    ok: bool = False
    records: int = 0
    error_kind: str | None = Field(default=None, max_length=20)
    error: str | None = Field(default=None, max_length=500)


RECORD_TABLES: dict[str, type[_Keyed]] = {
    "order": OrderRow,
    "shipment": ShipmentRow,
    "cancellation": CancellationRow,
    "message": MessageRow,
    "rating": RatingRow,
    "claim": ClaimRow,
    "return": ReturnRow,
    "reported_metric": ReportedMetricRow,
}

scrub_column(SyncRun, "error")  # a sync's error text may echo a secret (a URL with a token, a response body)
