"""Day rollups turn on by themselves once an account's volume makes them pay (rules/rollup.py ``catch_up``, what
every sync and import runs): below ``AUTO_FROM`` orders in ``AUTO_DAYS`` nothing is built and writes mark nothing."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg import store_on
from sqlalchemy import func, select

from sellerguard.rules import rollup
from sellerguard.schema import Account, Order
from sellerguard.store import Store
from sellerguard.store.rollup_tables import RollupCoverRow, RollupDirtyRow

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_on("sqlite", tmp_path, "sg")


def _orders(store: Store, n: int, first: int = 0) -> None:
    store.write([Order(account="shop", external_id=f"o{i}", purchased_at=NOW - timedelta(hours=i * 7),
                       fulfilment="seller", status="shipped") for i in range(first, first + n)])


def _count(store: Store, row: type) -> int:
    with store.session() as s:
        return int(s.execute(select(func.count()).select_from(row).where(row.account == "shop")).scalar_one())


def test_rollups_turn_on_at_volume_and_are_kept(store, monkeypatch):
    monkeypatch.setattr(rollup, "AUTO_FROM", 4)
    store.upsert_accounts([Account(id="shop", marketplace="ebay")])
    _orders(store, 3)
    rollup.catch_up(store, "shop")
    assert _count(store, RollupCoverRow) == 0  # 3 orders: below the volume, nothing built
    _orders(store, 1, first=3)
    assert _count(store, RollupDirtyRow) == 0  # ... and writes marked nothing
    rollup.catch_up(store, "shop")
    assert _count(store, RollupCoverRow) > 0  # 4 orders: built from the records
    _orders(store, 1, first=4)
    assert _count(store, RollupDirtyRow) > 0  # from now on writes mark their days ...
    rollup.catch_up(store, "shop")
    assert _count(store, RollupDirtyRow) == 0  # ... and the next sync recomputes them


def test_old_orders_do_not_count(store, monkeypatch):
    monkeypatch.setattr(rollup, "AUTO_FROM", 2)
    store.upsert_accounts([Account(id="shop", marketplace="ebay")])
    store.write([Order(account="shop", external_id=f"o{i}", purchased_at=NOW - timedelta(days=200 * i),
                       fulfilment="seller", status="shipped") for i in range(3)])
    rollup.catch_up(store, "shop")
    assert _count(store, RollupCoverRow) == 0  # one order per 90 days
