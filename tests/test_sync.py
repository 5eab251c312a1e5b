"""The sync runner: batches and cursors land together; one channel's failure stops only that channel."""

import errno
import logging
import sqlite3
import threading
import types
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import responses
from sqlalchemy import create_engine

from sellerguard import connectors
from sellerguard.config import parse_config
from sellerguard.connectors.contract import Batch
from sellerguard.errors import ConnectorError
from sellerguard.http import HttpClient
from sellerguard.schema import Order
from sellerguard.store import Store
from sellerguard.sync import stream_status, sync_accounts

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


# -- 18.1: no exception escapes a sync ------------------------------------------------------------------


def raising_module(exc, streams=("orders",)):
    def fetch(ctx, stream, cursor):
        yield Batch(orders(ctx.account.id, 0, 2), cursor="2")
        raise exc

    return types.SimpleNamespace(MARKETPLACE="fake", STREAMS=streams, fetch=fetch)


@pytest.mark.parametrize("exc", [
    OverflowError("cannot convert float infinity to integer"),  # expires_in: 1e308
    AttributeError("'NoneType' object has no attribute 'get'"),  # fulfillments: [null]
    ValueError("Invalid isoformat string: '2026-13-45'"),  # a date-shaped access_token_expire_in
    zlib.error("Error -3 while decompressing data: incorrect header check"),  # corrupt gzip
    UnicodeEncodeError("latin-1", "tok\ud800en", 3, 4, "ordinal not in range(256)"),  # a lone surrogate in a token
    KeyError("orders"),
])
def test_unexpected_exception_is_one_internal_line_with_the_traceback_in_the_debug_log(
        store, clock, config, monkeypatch, caplog, exc):
    monkeypatch.setattr(connectors, "get", lambda mp: raising_module(exc))
    with caplog.at_level(logging.DEBUG, logger="sellerguard.sync"):
        outcomes = sync_accounts(config, store, clock=clock)
    assert [o.error_kind for o in outcomes] == ["internal", "internal"]
    assert outcomes[0].error == (f"one: orders: internal error: {type(exc).__name__}"
                                 " (a bug; the traceback is in the debug log)")
    assert "\n" not in outcomes[0].error
    assert any(r.exc_info and r.exc_info[1] is exc for r in caplog.records)  # the traceback: debug log only
    assert store.last_sync("one").error_kind == "internal" and store.last_sync("two").error_kind == "internal"
    assert store.cursor("one", "orders") == "2"  # the stored batch and its cursor stay


def test_an_integer_over_2_63_is_a_store_error_line_not_a_traceback(store, clock, config, monkeypatch):
    def fetch(ctx, stream, cursor):
        yield Batch(orders(ctx.account.id, 0, 1), cursor=str(2**64))
        row = orders(ctx.account.id, 5, 1)[0].model_copy(update={"item_count": 2**64})
        yield Batch([row], cursor="x")

    monkeypatch.setattr(connectors, "get", lambda mp: types.SimpleNamespace(STREAMS=("orders",), fetch=fetch))
    outcome = sync_accounts(config, store, clock=clock, accounts=["one"])[0]
    assert not outcome.ok and outcome.error_kind == "payload"
    assert outcome.error == "one: orders: bad payload: a number too large to store (beyond 64 bits) in order records"
    assert store.count("order", account="one") == 1 and store.cursor("one", "orders") == str(2**64)
    assert store.last_sync("one") is not None


@pytest.mark.parametrize("token", ["tok\ud800en", "tok en\n", " ", "töken"])
@responses.activate
def test_a_garbled_token_in_a_header_is_one_line(store, clock, config, monkeypatch, token):
    """A lone surrogate or whitespace in a token would crash deep in http.client: one config line instead."""
    responses.get("https://api.example.test/x", json={"orders": []})

    def fetch(ctx, stream, cursor):
        http = HttpClient(base_url="https://api.example.test", marketplace="fake", clock=ctx.clock, sleep=ctx.sleep,
                          auth=lambda h: h.__setitem__("Authorization", f"Bearer {token}"))
        http.get_json("/x")
        yield from ()

    monkeypatch.setattr(connectors, "get", lambda mp: types.SimpleNamespace(STREAMS=("orders",), fetch=fetch))
    outcome = sync_accounts(config, store, clock=clock, accounts=["one"])[0]
    assert not outcome.ok and outcome.error_kind == "config" and "\n" not in outcome.error
    assert outcome.error == ("one: orders: fake: GET https://api.example.test/x: the Authorization header (a credential"
                             " or option) holds characters HTTP cannot send (whitespace, control or non-ASCII):"
                             " re-enter it")
    assert len(responses.calls) == 0


def test_full_disk_is_a_store_error_for_every_account(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    real_write = store.write

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write", full)
    outcomes = sync_accounts(config, store, clock=clock)
    assert [(o.ok, o.error_kind) for o in outcomes] == [(False, "store"), (False, "store")]
    assert outcomes[0].error == "one: orders: the disk is full: cannot save the synced data"
    monkeypatch.setattr(store, "write", real_write)
    assert store.last_sync("two").error_kind == "store"


def test_read_only_database_is_one_line_per_account(tmp_path, clock, config, monkeypatch):
    path = tmp_path / "ro.db"
    Store(f"sqlite:///{path}").close()
    ro = Store(f"sqlite:///{path}")
    ro.engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    outcomes = sync_accounts(config, ro, clock=clock)
    assert [(o.ok, o.error_kind) for o in outcomes] == [(False, "store"), (False, "store")]
    assert outcomes[0].error.startswith("one: the database is read-only")
    assert "the sync record could not be saved" in outcomes[0].error


def test_cli_sync_exits_3_with_a_line_and_a_record_for_every_account(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sellerguard.cli import cli

    mods = {"one": raising_module(OverflowError("huge")), "two": fake_module()}
    monkeypatch.setattr(connectors, "get", lambda mp: types.SimpleNamespace(
        STREAMS=("orders",), fetch=lambda ctx, s, c: mods[ctx.account.id].fetch(ctx, s, c)))
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "one"\nmarketplace = "fake"\n[[accounts]]\nid = "two"\nmarketplace = "fake"\n')
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "sync"], catch_exceptions=False)
    assert result.exit_code == 3
    assert "Error: one: orders: internal error: OverflowError" in result.output
    assert "two: 30 records" in result.output and "Traceback" not in result.output
    s = Store(db)
    assert s.last_sync("one").error_kind == "internal" and s.last_sync("two").ok
    s.close()


# -- 17.5: streams are independent ----------------------------------------------------------------------


def test_a_failed_stream_is_reported_once_and_the_others_still_sync(store, clock, config, monkeypatch):
    def fetch(ctx, stream, cursor):
        if stream == "messages":
            raise ConnectorError("not found: the seller did not grant the Identity scope (HTTP 404)", kind="config",
                                 where="fake: GET /identity")
        if stream == "returns":
            raise ConnectorError("the marketplace is unavailable (HTTP 503)", kind="wait")
        yield Batch(orders(ctx.account.id, 0 if stream == "orders" else 10, 3), cursor="c")

    mod = types.SimpleNamespace(STREAMS=("orders", "messages", "feedback", "returns"), fetch=fetch)
    monkeypatch.setattr(connectors, "get", lambda mp: mod)
    outcome = sync_accounts(config, store, clock=clock, accounts=["one"])[0]
    assert not outcome.ok and outcome.records == 6  # orders and feedback still synced
    assert outcome.failed_streams == {"messages": "config", "returns": "wait"}
    assert outcome.error_kind == "config"
    assert outcome.error == ("one: messages: fake: GET /identity: not found: the seller did not grant the Identity"
                             " scope (HTTP 404); also failed: returns (wait)")
    assert store.cursor("one", "feedback") == "c"
    status = stream_status(store, "one", mod.STREAMS)
    assert {s: v["ok"] for s, v in status.items()} == {"orders": True, "messages": False, "feedback": True,
                                                       "returns": False}
    assert status["returns"]["error_kind"] == "wait"
    assert store.last_sync("one").error.endswith("also failed: returns (wait)")


# -- 19.5: one sync per account across processes --------------------------------------------------------


def test_a_busy_account_is_skipped_not_synced_twice(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    release = store.try_lock("sync:one")  # another process (a file lock beside the SQLite file)
    try:
        outcomes = sync_accounts(config, store, clock=clock, lock_wait_s=0.2)
    finally:
        release()
    assert [(o.account, o.ok, o.busy, o.error_kind) for o in outcomes] == [("one", False, True, "wait"),
                                                                         ("two", True, False, None)]
    assert outcomes[0].error == "one: another sellerguard process is syncing this account right now; skipped"
    assert store.count("order", account="one") == 0 and store.last_sync("one") is None
    assert sync_accounts(config, store, clock=clock, accounts=["one"])[0].ok  # released: syncs again


def test_a_sync_waits_for_the_other_process_then_runs(store, clock, config, monkeypatch):
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    release = store.try_lock("sync:one")
    timer = threading.Timer(0.3, release)
    timer.start()
    outcome = sync_accounts(config, store, clock=clock, accounts=["one"], lock_wait_s=10)[0]
    timer.join()
    assert outcome.ok and outcome.records == 30


def test_a_sync_spends_its_marketplace_apps_shared_quota(store, clock, monkeypatch):
    """`sellerguard sync` by hand counts its calls against the app's quotas like workers do (issue 24); a scope
    the caller set is kept."""
    from sellerguard.http import AppScope, app_scope

    seen = []

    def fetch(ctx, stream, cursor):
        seen.append(app_scope.get())
        yield Batch([], cursor="c", progress=1, total=1)

    monkeypatch.setattr(connectors, "get", lambda mp: types.SimpleNamespace(MARKETPLACE="etsy", STREAMS=("s",),
                                                                            fetch=fetch))
    monkeypatch.setenv("SG_TEST_ETSY_KEY", "app-keystring")
    config = parse_config({"accounts": [{"id": "shop", "marketplace": "etsy",
                                         "credentials": {"keystring": "env:SG_TEST_ETSY_KEY"}}]})
    sync_accounts(config, store, clock=clock)
    assert isinstance(seen[0], AppScope) and seen[0].marketplace == "etsy"
    assert app_scope.get() is None  # reset after the sync
    mine = AppScope(store, "etsy", "caller")
    token = app_scope.set(mine)
    try:
        sync_accounts(config, store, clock=clock)
    finally:
        app_scope.reset(token)
    assert seen[1] is mine


def test_rollups_are_brought_up_to_date_only_where_there_are_some_or_volume(store, clock, config, monkeypatch):
    """Small accounts without rollups never load the rules at the end of a sync; busy ones (rules.rollup turns
    rollups on by volume) and accounts with rollups do."""
    from sellerguard.rules import rollup
    from sellerguard.store import rollups as store_rollups

    caught = []
    monkeypatch.setattr(connectors, "get", lambda mp: fake_module())
    monkeypatch.setattr(rollup, "catch_up", lambda store, account: caught.append(account))
    sync_accounts(config, store, clock=clock)
    assert caught == []
    monkeypatch.setattr(store_rollups, "busy", lambda session, account: account == "two")
    sync_accounts(config, store, clock=clock)
    assert caught == ["two"]
