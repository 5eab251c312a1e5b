"""Empty, migrated test databases without running Alembic for every test.

Alembic costs ~0.1 s CPU per SQLite file and 0.6-1.1 s wall per PostgreSQL schema (DDL in seven transactions,
each fsynced), and ~900 tests start on an empty store. Each test process migrates once and then:

- ``sqlite_copy(path)``: writes a byte copy of a migrated, empty SQLite database at ``path`` (mode 0600, as
  ``Store`` creates it); ``Store(f"sqlite:///{path}")`` then finds the head revision and migrates nothing.
- ``pg_schema(prefix)``: yields a URL whose search_path is an empty schema at the head revision. Afterwards the
  schema is emptied (DELETE in foreign-key order, sequences restarted), renamed, and handed to the next test of
  this process; it is dropped instead when the test changed it (other relations, functions, types, triggers or
  revision) or left rows locked (the DELETE waits at most 5 s). The new name keeps what a test leaked away from
  the next one: the store's advisory locks are keyed by schema name, and a leaked connection's search_path names
  the old schema.

Migrations themselves are tested where they are the subject (tests/test_store.py, tests/test_schema.py), on
databases of their own.
"""

from __future__ import annotations

import atexit
import contextlib
import graphlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

PG_URL = os.environ.get("SELLERGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_sqlite_template: bytes | None = None


def sqlite_copy(path: Path) -> Path:
    """Create ``path`` as an empty SQLite database at the head revision; returns ``path``.

    Raises FileExistsError when ``path`` exists (a test's own file is never overwritten).
    """
    global _sqlite_template
    if _sqlite_template is None:
        from sellerguard.store import Store

        folder = Path(tempfile.mkdtemp(prefix="sellerguard-template-"))
        try:
            store = Store(f"sqlite:///{folder / 'template.db'}")
            with store.engine.connect() as conn:  # everything into the main file: no -wal to copy
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            store.close()
            _sqlite_template = (folder / "template.db").read_bytes()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_sqlite_template)
    return path


# -- PostgreSQL -------------------------------------------------------------------------------------------

_FINGERPRINT = """
SELECT (SELECT string_agg(relname::text || ':' || relkind::text, ',' ORDER BY relname)
        FROM pg_class WHERE relnamespace = n.oid),
       (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid),
       (SELECT count(*) FROM pg_type WHERE typnamespace = n.oid),
       (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = n.oid)
FROM pg_namespace n WHERE nspname = :schema
"""


@dataclass
class _Schema:
    name: str
    fingerprint: tuple[object, ...]
    delete_order: list[str]  # tables, referencing ones first; alembic_version kept
    sequences: list[str]
    revision: str


_admin: Engine | None = None
_unreachable: str | None = None
_free: list[_Schema] = []  # emptied schemas of this process, any prefix (at most as many as were in use at once)


def _admin_engine() -> Engine:
    global _admin, _unreachable
    if _unreachable is not None:
        pytest.skip(_unreachable)
    if _admin is None:
        try:
            engine = create_engine(PG_URL)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the server is optional on a developer laptop
            _unreachable = f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"
            pytest.skip(_unreachable)
        _admin = engine
        atexit.register(_drop_pool)
    return _admin


def _url(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"


def _describe(name: str) -> _Schema:
    """The shape of a freshly migrated schema, to recognise it unchanged after a test."""
    admin = _admin_engine()
    with admin.connect() as conn:
        fingerprint = tuple(conn.execute(text(_FINGERPRINT), {"schema": name}).one())
        tables = list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": name})
                      .scalars())
        refs = conn.execute(text(
            "SELECT c.relname, p.relname FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid "
            "JOIN pg_class p ON p.oid = f.confrelid JOIN pg_namespace n ON n.oid = f.connamespace "
            "WHERE f.contype = 'f' AND n.nspname = :s"), {"s": name}).all()
        sequences = list(conn.execute(text(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = :s"), {"s": name}).scalars())
        revision = conn.execute(text(f'SELECT version_num FROM "{name}".alembic_version')).scalar_one()
    # a referenced table is emptied after the tables that reference it
    graph: dict[str, set[str]] = {t: set() for t in tables if t != "alembic_version"}
    for child, parent in refs:
        if child != parent and parent in graph and child in graph:
            graph[parent].add(child)
    order = list(graphlib.TopologicalSorter(graph).static_order())
    return _Schema(name, fingerprint, order, sequences, revision)


def _new_schema(prefix: str) -> _Schema:
    from sellerguard.store import Store

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with _admin_engine().begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    try:
        Store(_url(name)).close()
        return _describe(name)
    except BaseException:
        _drop(name)
        raise


def _empty(schema: _Schema, prefix: str) -> bool:
    """Empty ``schema`` for the next test; False when it must be dropped instead (see the module doc)."""
    try:
        with _admin_engine().begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '5s'"))
            if tuple(conn.execute(text(_FINGERPRINT), {"schema": schema.name}).one()) != schema.fingerprint:
                return False
            revisions = conn.execute(text(f'SELECT version_num FROM "{schema.name}".alembic_version')).scalars()
            if list(revisions) != [schema.revision]:
                return False
            for table in schema.delete_order:
                conn.execute(text(f'DELETE FROM "{schema.name}"."{table}"'))
            for seq in schema.sequences:
                conn.execute(text(f'ALTER SEQUENCE "{schema.name}"."{seq}" RESTART'))
            # a new name: the store's advisory locks are keyed by schema name, and a connection the test leaked
            # (its search_path names the old schema) no longer reaches this one
            renamed = f"{prefix}_{uuid.uuid4().hex[:10]}"
            conn.execute(text(f'ALTER SCHEMA "{schema.name}" RENAME TO "{renamed}"'))
        schema.name = renamed
        return True
    except Exception:
        return False


def _drop(name: str) -> None:
    with _admin_engine().begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))


def _drop_pool() -> None:
    for schema in _free:
        with contextlib.suppress(Exception):  # the server went away at exit: nothing to clean
            _drop(schema.name)
    _free.clear()
    if _admin is not None:
        _admin.dispose()


@contextmanager
def pg_schema(prefix: str = "sg") -> Iterator[str]:
    """A URL on an empty PostgreSQL schema at the head revision, for one test; skips when no server answers."""
    schema = _free.pop() if _free else _new_schema(prefix)  # the name keeps the prefix it was last used with
    try:
        yield _url(schema.name)
    finally:
        if _empty(schema, prefix):
            _free.append(schema)
        else:
            _drop(schema.name)
