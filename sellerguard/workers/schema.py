"""procrastinate's job tables in the store's own PostgreSQL schema (never on SQLite).

procrastinate ships its schema as one SQL file (``procrastinate.schema.SchemaManager.get_schema()``); migration
0006 runs it beside sellerguard's tables, in the current ``search_path`` schema, so a store in its own schema has
its own queue. Upgrading procrastinate past a release that changes its schema needs a new Alembic migration
that runs the files of ``SchemaManager.get_migrations_path()`` in between (pinned ``<4`` in pyproject for that).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import inspect, text

log = logging.getLogger(__name__)

JOBS_TABLE = "procrastinate_jobs"


def available() -> bool:
    """Whether procrastinate is installed (the ``postgres`` extra)."""
    import importlib.util

    return importlib.util.find_spec("procrastinate") is not None


def has_tables(conn: Any) -> bool:
    return bool(inspect(conn).has_table(JOBS_TABLE))


def create(conn: Any) -> None:
    """Run procrastinate's schema SQL on ``conn`` (a SQLAlchemy connection inside the caller's transaction).

    The raw driver cursor runs it: the file holds many statements, ``::`` casts and ``$$`` bodies that SQLAlchemy's
    ``text()`` would read as bind parameters.
    """
    from procrastinate.schema import SchemaManager

    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()


def drop(conn: Any) -> None:
    """Drop every procrastinate object of the current schema (the migration's downgrade)."""
    schema = conn.execute(text("SELECT current_schema()")).scalar()
    tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename LIKE "
                               "'procrastinate%'"), {"s": schema}).scalars().all()
    for table in tables:
        conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    functions = conn.execute(text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = :s AND p.proname LIKE 'procrastinate%'"), {"s": schema}).scalars().all()
    for function in functions:
        conn.execute(text(f"DROP FUNCTION IF EXISTS {function} CASCADE"))
    types = conn.execute(text(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE n.nspname = :s AND t.typname LIKE 'procrastinate%' AND t.typtype IN ('e', 'c')"),
        {"s": schema}).scalars().all()
    for name in types:
        conn.execute(text(f'DROP TYPE IF EXISTS "{name}" CASCADE'))


def ensure(store: Any) -> None:
    """Create the tables when a PostgreSQL store lacks them (migrated before procrastinate was installed).

    Raises ``StoreError`` for SQLite (workers need PostgreSQL) and when procrastinate is missing.
    """
    from sellerguard.errors import StoreError

    if store.dialect != "postgresql":
        raise StoreError("workers need a PostgreSQL store (this one is "
                         f"{store.dialect}); use `sellerguard run` for SQLite")
    if not available():
        raise StoreError("workers need procrastinate: pip install 'sellerguard[postgres]'")
    with store.engine.connect() as conn:
        if has_tables(conn):
            return
    with store.lock("procrastinate-schema"), store.engine.begin() as conn:
        if not has_tables(conn):
            log.info("creating procrastinate's job tables (the store was migrated before it was installed)")
            create(conn)
