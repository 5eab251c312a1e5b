"""The test stores handed out without an Alembic run per test (tests/db_templates.py) start empty at the head
revision, and what one test leaves behind never reaches the next."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from db_templates import pg_schema, sqlite_copy
from sqlalchemy import text

from sellerguard.schema import Order
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _order(ref: str) -> Order:
    return Order(account="a", external_id=ref, purchased_at=NOW, fulfilment="seller", status="shipped")


def test_sqlite_copy_is_an_empty_private_store_at_head(tmp_path):
    path = sqlite_copy(tmp_path / "a.db")
    assert os.stat(path).st_mode & 0o777 == 0o600
    store = Store(f"sqlite:///{path}", create=False)  # at head: opens read-only without migrating
    try:
        assert store.schema_version() == Store.head_version() and store.count("order") == 0
        store.write([_order("o1")])
    finally:
        store.close()
    other = Store(f"sqlite:///{sqlite_copy(tmp_path / 'b.db')}")
    assert other.count("order") == 0  # the template is untouched
    other.close()
    with pytest.raises(FileExistsError):
        sqlite_copy(path)


@pytest.mark.postgres
def test_a_pg_schema_comes_back_empty_renamed_and_unlocked_or_not_at_all():
    with pg_schema("sg_tmpl") as url:
        store = Store(url)
        store.write([_order("o1"), _order("o2")])
        store.try_lock("daemon")  # leaked: held until this connection closes
        first = store.engine.url.query["options"]
    with pg_schema("sg_tmpl") as url:
        again = Store(url)
        try:
            assert again.engine.url.query["options"] != first  # a new name: the leaked lock's key is not this one
            assert again.count("order") == 0 and again.schema_version() == Store.head_version()
            release = again.try_lock("daemon")
            assert release is not None
            release()
            again.write([_order("o3")])
            with again.engine.connect() as conn:  # sequences restarted: ids as in a fresh schema
                assert conn.execute(text("SELECT id FROM orders")).scalar() == 1
                conn.execute(text("CREATE TABLE stray (x int)"))  # a test that changes the schema ...
                conn.commit()
        finally:
            again.close()
    with pg_schema("sg_tmpl") as url:  # ... is not handed out again
        fresh = Store(url)
        try:
            with fresh.engine.connect() as conn:
                assert conn.execute(text("SELECT to_regclass('stray')")).scalar() is None
            assert fresh.count("order") == 0
        finally:
            fresh.close()
    store.close()
