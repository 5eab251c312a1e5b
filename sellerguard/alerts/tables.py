"""Storage for alerts: what each target last heard, silences, and the outbox of messages to deliver.

Kept apart from ``sellerguard.store.tables`` because the store knows nothing about notifying. No buyer PII:
rows hold account ids, metric ids, order ids and rendered (escaped) message bodies, never names or addresses.
Webhook URLs are never stored: an outbox row names its target, the URL is resolved from the config at send time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from sellerguard.redact import scrub_column
from sellerguard.store.tables import ts


class AlertStateRow(SQLModel, table=True):
    """One alert as one target knows it: the level last seen and the level last notified."""

    __tablename__ = "alert_state"
    target: str = Field(primary_key=True, max_length=100)
    account: str = Field(primary_key=True, max_length=100)
    item: str = Field(primary_key=True, max_length=300)  # metric id, "deadline:<kind>:<ref>" or "sync"
    level: str = Field(max_length=10)  # effective level at the last evaluation
    notified_level: str = Field(default="ok", max_length=10)  # what the target last heard
    firing_since: datetime | None = ts()
    last_notified_at: datetime | None = ts()
    updated_at: datetime | None = ts()


class SilenceRow(SQLModel, table=True):
    """A time-bounded mute, with a reason, like an Alertmanager silence; patterns use shell wildcards."""

    __tablename__ = "alert_silence"
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=100)
    item: str = Field(max_length=300)
    starts_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    ends_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    reason: str = Field(max_length=500)
    created_by: str | None = Field(default=None, max_length=100)


class OutboxRow(SQLModel, table=True):
    """One HTTP body for one target, written before it is sent and marked sent after a 2xx (at-least-once)."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(max_length=100)
    kind: str = Field(max_length=20)  # alert / digest / test
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=10)  # pending / sending / sent / failed / folded
    attempts: int = 0  # failures counted toward the target's backoff (a 429 does not count)
    created_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    # pending: not before this (the target's pause); sending: the claim expires then (a crash mid-send)
    next_attempt_at: datetime = ts(nullable=False)  # type: ignore[assignment]
    sent_at: datetime | None = ts()
    last_error: str | None = Field(default=None, max_length=500)
    # JSON [{"key": "<account>/<item>", "reason": "new", "at": ISO}]: what this message tells, including the
    # events of older undelivered messages folded into it; None for digests, tests and rows of older releases
    events: str | None = Field(default=None, sa_column=Column(Text, nullable=True))

scrub_column(OutboxRow, "last_error")  # a delivery error may echo the webhook URL or an SMTP password
