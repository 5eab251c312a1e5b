"""A throwaway PostgreSQL schema per test on the shared server, or a clear skip when no server answers.

    with pg_schema_url() as url:      # a URL whose search_path is a fresh schema, dropped afterwards
        store = Store(url)

``store_on`` hands out empty stores at the head revision without an Alembic run per test (tests/db_templates.py):
a copy of a migrated SQLite file, or a migrated PostgreSQL schema emptied after the previous test of this process.
``pg_schema_url`` stays a bare new schema, for tests that migrate it themselves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from db_templates import pg_schema, sqlite_copy
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("SELLERGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema_url(prefix: str = "sg") -> Iterator[str]:
    try:
        admin = create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the server is optional on a developer laptop
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def store_on(backend: str, tmp_path: Any, prefix: str = "sg") -> Iterator[Any]:
    """A fresh Store on SQLite (in ``tmp_path``) or PostgreSQL (a throwaway schema), closed afterwards."""
    from sellerguard.store import Store

    if backend == "postgres":
        with pg_schema(prefix) as url:
            store = Store(url)
            try:
                yield store
            finally:
                store.close()
        return
    store = Store(f"sqlite:///{sqlite_copy(tmp_path / 'test.db')}")
    try:
        yield store
    finally:
        store.close()
