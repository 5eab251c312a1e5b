"""The sync runner: batches and cursors land together; one channel's failure stops only that channel."""

import types
from datetime import UTC, datetime, timedelta

import pytest

from sellerguard import connectors
from sellerguard.config import parse_config
from sellerguard.connectors.contract import Batch
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order
from sellerguard.sync import sync_accounts

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def orders(account, start, n):
    return [Order(account=account, external_id=f"o{i}", purchased_at=NOW - timedelta(hours=i), fulfilment="seller",
                  status="shipped") for i in range(start, start + n)]


def fake_module(fail_after=None, error=None):
    def fetch(ctx, stream, cursor):
        start = int(cursor or 0)
        for page in range(3):
            if fail_after is not None and page == fail_after:
                raise error or ConnectorError("the marketplace is unavailable (HTTP 503)", kind="wait")
            first = start + page * 10
            yield Batch(orders(ctx.account.id, first, 10), cursor=str(first + 10), progress=1, total=3)

    return types.SimpleNamespace(MARKETPLACE="fake", STREAMS=("orders",), fetch=fetch)


@pytest.fixture
def config():
    return parse_config({"accounts": [{"id": "one", "marketplace": "fake"}, {"id": "two", "marketplace": "fake"}]})


def test_all_batches_and_the_final_cursor_are_stored(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    outcomes = sync_accounts(config, store, clock=clock)
    assert [(o.account, o.ok, o.records) for o in outcomes] == [("one", True, 30), ("two", True, 30)]
    assert store.cursor("one", "orders") == "30"
    assert store.last_sync("one", ok=True) is not None


def test_failure_keeps_stored_batches_and_their_cursor_only(store, clock, config, monkeypatch):
    modules = {"one": fake_module(fail_after=2), "two": fake_module()}
    monkeypatch.setattr(connectors, "get", lambda mp: modules[current[0]])
    current = ["one"]

    def get(mp):
        return modules[current[0]]

    monkeypatch.setattr(connectors, "get", get)
    outcome = sync_accounts(config, store, clock=clock, accounts=["one"])[0]
    assert not outcome.ok and outcome.error_kind == "wait"
    assert outcome.error == "one: orders: the marketplace is unavailable (HTTP 503)"
    assert store.count("order", account="one") == 20
    assert store.cursor("one", "orders") == "20"
    current[0] = "two"
    assert sync_accounts(config, store, clock=clock, accounts=["two"])[0].ok


def test_one_failing_account_does_not_stop_the_next(store, clock, config, monkeypatch):
    calls = []

    def get(mp):
        calls.append(mp)
        return fake_module(fail_after=0) if len(calls) == 1 else fake_module()

    monkeypatch.setattr(connectors, "get", get)
    outcomes = sync_accounts(config, store, clock=clock)
    assert [o.ok for o in outcomes] == [False, True]
    assert store.last_sync("one").error_kind == "wait"


def test_stop_request_ends_between_batches(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    seen = []
    outcomes = sync_accounts(config, store, clock=clock, progress=lambda a, s, b: seen.append(a),
                             should_stop=lambda: len(seen) >= 1)
    assert len(outcomes) == 1 and outcomes[0].stopped and not outcomes[0].ok
    assert store.count("order") == 10 and store.cursor("one", "orders") == "10"


def test_unknown_marketplace_is_a_config_error(store, clock):
    cfg = parse_config({"accounts": [{"id": "x", "marketplace": "nowhere"}]})
    outcome = sync_accounts(cfg, store, clock=clock)[0]
    assert outcome.error_kind == "config" and "unknown marketplace 'nowhere'" in outcome.error


def test_parallel_workers_keep_config_order_and_results(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    outcomes = sync_accounts(config, store, clock=clock, workers=2)
    assert [(o.account, o.ok, o.records) for o in outcomes] == [("one", True, 30), ("two", True, 30)]
    assert store.count("order") == 60


def test_error_prefix_when_the_account_id_prefixes_the_marketplace(store, clock, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module(fail_after=0))
    cfg = parse_config({"accounts": [{"id": "fa", "marketplace": "fake"}]})
    outcome = sync_accounts(cfg, store, clock=clock)[0]
    assert outcome.error == "fa: orders: the marketplace is unavailable (HTTP 503)"
