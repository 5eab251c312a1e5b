"""Review of the sync core (issues 17/18): streams are independent, every exception is one line with a kind,
no cursor moves past records that were not stored."""

from __future__ import annotations

import errno
import sqlite3
import types
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sellerguard import connectors
from sellerguard.config import parse_config
from sellerguard.connectors.contract import Batch
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order
from sellerguard.sync import sync_account

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _validation_error() -> ValidationError:
    try:
        Order(account="a", external_id="", purchased_at="x")  # type: ignore[arg-type]
    except ValidationError as exc:
        return exc
    raise AssertionError


def _order(acc: str, i: int) -> Order:
    return Order(account=acc, external_id=f"o{i}", purchased_at=NOW - timedelta(hours=i), fulfilment="seller",
                 status="shipped")


def _module(error: BaseException):
    def fetch(ctx, stream, cursor):
        if stream == "first":
            yield Batch([_order(ctx.account.id, 1)], cursor=None)
            raise error  # after a batch without a cursor: its record is kept, no cursor moves
        yield Batch([_order(ctx.account.id, 10 + len(stream))], cursor=f"{stream}-done")

    return types.SimpleNamespace(MARKETPLACE="fake", STREAMS=("first", "second", "third"), fetch=fetch)


@pytest.mark.parametrize(("error", "kind"), [
    (ConnectorError("Amazon refused\naccess\r\n(HTTP 403)", kind="config"), "config"),
    (OverflowError("int too large"), "internal"),
    (AttributeError("'NoneType' object has no attribute 'get'"), "internal"),
    (zlib.error("Error -3 while decompressing data: incorrect header check"), "internal"),
    (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), "internal"),
    (RecursionError("maximum recursion depth exceeded"), "internal"),
    (MemoryError(), "internal"),
    (KeyError("orders"), "internal"),
    (BadStr(), "internal"),
    (sqlite3.OperationalError("database or disk is full"), "store"),
    (OSError(errno.ENOSPC, "No space left on device"), "store"),
    (_validation_error(), "payload"),
    (ValidationError.from_exception_data("Order", []), "internal"),
])
def test_one_failing_stream_is_one_line_with_a_kind_and_the_others_still_sync(store, clock, monkeypatch, error,
                                                                              kind):
    monkeypatch.setattr(connectors, "get", lambda mp: _module(error))
    acc = parse_config({"accounts": [{"id": "one", "marketplace": "fake"}]}).accounts[0]
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep)
    assert not outcome.ok and outcome.failed_streams == {"first": kind}
    assert outcome.error_kind == kind and "\n" not in outcome.error and "\r" not in outcome.error
    assert outcome.error.startswith("one: first: ") and len(outcome.error) < 400
    assert "Traceback" not in outcome.error
    assert store.cursor("one", "first") is None  # nothing past what was stored
    assert store.cursor("one", "second") == "second-done" and store.cursor("one", "third") == "third-done"
    assert store.count("order", account="one") == 3


def test_a_batch_the_store_refuses_moves_no_cursor(store, clock, monkeypatch):
    def fetch(ctx, stream, cursor):
        good = _order(ctx.account.id, 1)
        bad = good.model_copy(update={"item_count": 2**70})  # accepted by model_copy, refused by the driver
        yield Batch([good, bad], cursor="moved")

    monkeypatch.setattr(connectors, "get",
                        lambda mp: types.SimpleNamespace(MARKETPLACE="fake", STREAMS=("orders",), fetch=fetch))
    acc = parse_config({"accounts": [{"id": "one", "marketplace": "fake"}]}).accounts[0]
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep)
    assert not outcome.ok and outcome.error_kind in ("payload", "store") and "\n" not in outcome.error
    assert store.cursor("one", "orders") is None and store.count("order", account="one") == 0
