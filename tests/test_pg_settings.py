"""PostgreSQL sessions carry the settings the evaluation needs (issue 21 item 4): no JIT, on every pooled
connection, also after the pool reset it; SQLite is untouched."""

from __future__ import annotations

from pg import pg_schema_url
from sqlalchemy import text

from sellerguard.store import Store


def test_postgres_connections_run_without_jit():
    with pg_schema_url("sg_jit") as url:
        store = Store(url)
        try:
            for _ in range(3):  # the same pooled connection, checked out again after a rollback on check-in
                with store.session() as session:
                    assert session.execute(text("SHOW jit")).scalar() == "off"
                    session.rollback()
            with store.engine.connect() as conn:  # outside an ORM session too
                assert conn.execute(text("SHOW jit")).scalar() == "off"
        finally:
            store.close()


def test_sqlite_gets_no_postgres_settings(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.close()
