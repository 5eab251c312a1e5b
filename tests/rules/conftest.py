"""Fixtures for rules tests: a World that writes normalized records and evaluates packs against them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg import store_on

from sellerguard.config import PolicyOverride
from sellerguard.rules.engine import AccountRef, Engine
from sellerguard.rules.packs import Pack, load_packs, parse_pack
from sellerguard.rules.report import AccountStatus, MetricStatus
from sellerguard.schema import (
    Cancellation,
    Claim,
    Message,
    Order,
    Rating,
    ReportedMetric,
    Return,
    Shipment,
)
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # same moment as tests/conftest.py
D = timedelta(days=1)
H = timedelta(hours=1)


class World:
    """Writes records for one account; ``status()`` evaluates a pack as of a moment."""

    def __init__(self, store: Store, account: str = "acct") -> None:
        self.store = store
        self.account = account
        self.records: list[Any] = []
        self._n = 0
        self.calendars_dir: Path | None = None

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def order(self, purchased_at: datetime, *, fulfilment: str = "seller", status: str = "shipped",
              ship_by: datetime | None = None, deliver_by: datetime | None = None, ref: str | None = None,
              **facts: Any) -> str:
        """``facts``: any other Order field (item_count, buyer_key, buyer_country, lines, paid_at, ...)."""
        ref = ref or self._id("o")
        self.records.append(Order(account=self.account, external_id=ref, purchased_at=purchased_at,
                                  ship_by=ship_by, deliver_by=deliver_by, fulfilment=fulfilment, status=status,
                                  **facts))
        return ref

    def shipment(self, order_ref: str, **kw: Any) -> None:
        self.records.append(Shipment(account=self.account, external_id=self._id("s"), order_ref=order_ref, **kw))

    def negative_feedback(self, order_ref: str, at: datetime = NOW, removed: bool = False) -> None:
        self.records.append(Rating(account=self.account, external_id=self._id("r"), rating_kind="seller_feedback",
                                   score="1", score_normalized=1, negative=True, rated_at=at, order_ref=order_ref,
                                   removed=removed))

    def rating(self, score: float, at: datetime, kind: str = "shop_review") -> None:
        self.records.append(Rating(account=self.account, external_id=self._id("r"), rating_kind=kind,
                                   score=str(score), score_normalized=score, negative=score <= 2, rated_at=at))

    def claim(self, order_ref: str, *, kind: str = "a_to_z", at_fault: bool | None = True,
              closed: bool = True, at: datetime = NOW) -> None:
        self.records.append(Claim(account=self.account, external_id=self._id("c"), claim_kind=kind,
                                  order_ref=order_ref, opened_at=at, closed_at=at if closed else None,
                                  seller_at_fault=at_fault))

    def cancel(self, order_ref: str, *, by: str = "seller", buyer_requested: bool = False,
               at: datetime = NOW) -> None:
        self.records.append(Cancellation(account=self.account, external_id=self._id("x"), order_ref=order_ref,
                                         cancelled_at=at, initiated_by=by, buyer_requested=buyer_requested))

    def message(self, received_at: datetime, replied_at: datetime | None = None, **kw: Any) -> str:
        ref = self._id("m")
        self.records.append(Message(account=self.account, external_id=ref, thread_id=f"t-{ref}",
                                    received_at=received_at, first_reply_at=replied_at, **kw))
        return f"t-{ref}"

    def return_(self, order_ref: str, requested_at: datetime, resolved_at: datetime | None = None,
                dissatisfied: bool | None = None) -> None:
        self.records.append(Return(account=self.account, external_id=self._id("ret"), order_ref=order_ref,
                                   requested_at=requested_at, resolved_at=resolved_at, dissatisfied=dissatisfied))

    def reported(self, metric_id: str, value: float, as_of: datetime = NOW, scope: str | None = None) -> None:
        self.records.append(ReportedMetric(account=self.account, external_id=self._id("rm"), metric_id=metric_id,
                                           value=value, as_of=as_of, scope=scope))

    def orders(self, n: int, at: datetime, **kw: Any) -> list[str]:
        return [self.order(at, **kw) for _ in range(n)]

    def flush(self) -> None:
        if self.records:
            self.store.write(self.records)
            self.records = []

    def status(self, marketplace: str = "amazon", as_of: datetime = NOW, *, pack: Pack | None = None,
               policy: dict[str, PolicyOverride] | None = None, horizon: int = 14,
               stale_limit: timedelta | None = None) -> AccountStatus:
        self.flush()
        packs = {marketplace: pack} if pack is not None else load_packs()
        report = Engine(self.store, packs, calendars_dir=self.calendars_dir).evaluate(
            [AccountRef(self.account, marketplace, policy=policy or {}, stale_limit=stale_limit)], as_of, horizon)
        return report.accounts[0]

    def metric(self, metric_id: str, **kw: Any) -> MetricStatus:
        marketplace = metric_id.split(".")[0]
        acc = self.status(kw.pop("marketplace", marketplace), **kw)
        return next(m for m in acc.metrics if m.id == metric_id)


def one_metric_pack(**metric: Any) -> Pack:
    """A pack with one metric ``test.m`` built from keyword fields (sources and consequence filled in)."""
    body = {"name": "test metric", "consequence": "test", "source": "https://example.org/policy",
            "confirmed": True, **metric}
    return parse_pack({"marketplace": "test", "name": "t", "reviewed": "2026-11-23",
                       "metrics": {"test.m": body}}, where="test.toml")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every rules test runs on SQLite and, when reachable, PostgreSQL: the SQL differs by dialect."""
    yield from store_on(request.param, tmp_path, "sg")


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


@pytest.fixture
def make_pack():
    return one_metric_pack
