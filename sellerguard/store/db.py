"""Open the database, migrate it, and write records idempotently.

SQLite (WAL mode) is the default, at a per-user data path; any SQLAlchemy URL works, PostgreSQL included.
Writes go through ``Store.write``: records and the cursors that cover them commit in one transaction, so a
failure mid-batch leaves neither behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, event, func, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError
from sqlmodel import Session, create_engine

from sellerguard.errors import StoreError
from sellerguard.store import rollups, sealed
from sellerguard.store.tables import RECORD_TABLES, AccountRow, SyncRun, UTCDateTime

if TYPE_CHECKING:  # the record models load only to write: a status never builds them (start-up, issue 21)
    from sellerguard.schema import Account, Record

ENV_DB = "SELLERGUARD_DB"
_MIGRATIONS = Path(__file__).parent / "migrations"


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_MIGRATE_LOCK = threading.Lock()
_REVISION = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+|None)['\"]?", re.M)


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(dict(_REVISION.findall(p.read_text())).get("revision", "")
                     for p in (_MIGRATIONS / "versions").glob("*.py")) - {""}


def _refuse_unknown(version: str | None, url: str) -> None:
    """A database written by a newer sellerguard: neither read it nor let Alembic fail on it."""
    if version is not None and version not in _known_revisions():
        raise StoreError(f"database {redact_url(url)} has schema {version}, newer than this sellerguard knows "
                         f"({_head_revision()}); upgrade sellerguard")


@cache
def _head_revision() -> str | None:
    revisions, parents = set(), set()
    for path in (_MIGRATIONS / "versions").glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    if len(heads) > 1:
        raise StoreError(f"migrations have several heads: {sorted(heads)}; merge them")
    return heads.pop() if heads else None


def default_db_url() -> str:
    """``$SELLERGUARD_DB`` if set, else ``sellerguard.db`` in the per-user data directory."""
    if url := os.environ.get(ENV_DB):
        return url
    import platformdirs

    data_dir = Path(platformdirs.user_data_dir("sellerguard", appauthor=False))
    return f"sqlite:///{data_dir / 'sellerguard.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases and for in-memory SQLite."""
    if not url.startswith("sqlite") or is_memory_url(url):
        return None
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database
    except Exception:
        return None
    return Path(database).expanduser() if database else None


def is_memory_url(url: str) -> bool:
    """``sqlite://``, ``sqlite:///``, ``sqlite:///:memory:``, ``...?mode=memory``: gone when the process ends."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return False
    if not parsed.drivername.startswith("sqlite"):
        return False
    return parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory" or \
        (parsed.database or "").startswith("file::memory:")


def _create_private(path: Path) -> None:
    """Create the database folder (0700) and an empty database file (0600) when missing: tokens live in it.

    SQLite gives its -wal and -shm files the database file's mode. Existing files and folders are left as
    they are (an operator may have chosen other modes on purpose).
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file")
    if not path.parent.is_dir():
        try:
            # each missing folder 0700 (mkdir(parents=True) would give the upper ones the umask's 0755)
            for folder in reversed([p for p in (path.parent, *path.parent.parents) if not p.exists()]):
                folder.mkdir(mode=0o700)
        except OSError as exc:
            reason = "a file is in the way" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
            raise StoreError(f"cannot create the database folder {path.parent}: {reason}") from None
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    except FileExistsError:
        if not path.is_file():  # a file where a folder of the path should be
            raise StoreError(f"cannot create the database {path}: a file is in the way") from None
    except OSError as exc:
        raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None


def redact_url(url: str) -> str:
    """A database URL fit for messages: the password never shows."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _row(record: Record) -> dict[str, Any]:
    """The record as column values; ``raw_hash`` becomes the hash of the whole normalized row.

    The connector's raw_hash (of the marketplace payload) is part of what is hashed, so an unchanged
    payload normalized the same way changes nothing, while a payload normalized differently (a connector
    that now fills a new column, after a migration) does update the stored row.
    """
    row = record.model_dump(exclude={"kind"})
    if "lines" in row:
        row["lines"] = list(row["lines"])  # JSON column: a list of {line_id, quantity, category_id, category_name}
    row["raw_hash"] = row_hash(row)
    for name in _decimals(record.kind):  # money is stored as exact decimal text
        if row[name] is not None:
            row[name] = str(row[name])
    return row


def row_hash(row: Mapping[str, Any]) -> str:
    """sha256 of the row's ``repr``: canonical, since a record dumps its fields in the model's order and holds only
    str, int, float, bool, None, Decimal, aware datetimes and (lines) dicts in field order. ~5x cheaper than
    sorted JSON (issue 21). Not the hash older releases stored: a row they wrote is rewritten, once, when next
    read from the marketplace."""
    return hashlib.sha256(f"r1{tuple(row.items())!r}".encode("utf-8", "backslashreplace")).hexdigest()


@cache
def _decimals(kind: str) -> tuple[str, ...]:
    """The record kind's Decimal fields (money), stored as exact decimal text."""
    from sellerguard.schema import RECORD_TYPES, fields_of_type

    return fields_of_type(RECORD_TYPES[kind], Decimal)


class Store:
    """One database. ``create=False`` opens only an existing sellerguard database (read-only commands: a
    mistyped ``--db`` must not create an empty one); ``migrate=False`` leaves the schema as it is."""

    def __init__(self, url: str, *, migrate: bool = True, create: bool = True) -> None:
        path = sqlite_path(url)
        if path is not None and "~" in url:  # SQLite would read "~" literally, relative to the working folder
            from sqlalchemy.engine import make_url

            url = make_url(url).set(database=str(path)).render_as_string(hide_password=False)
        self.url = url
        if path is not None:
            if create:
                _create_private(path)
            elif not path.is_file():
                raise StoreError(f"no database at {path} (nothing was synced or imported there; "
                                 "check --db, $SELLERGUARD_DB or [store] url)")
        try:
            self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            if "://" not in url and "@" not in url:  # a bare path (never echo what may hold a password)
                raise StoreError(f"cannot use database {url!r}: not a database URL; for a SQLite file give "
                                 f"sqlite:///{Path(url).expanduser().absolute()}") from None
            raise StoreError(f"cannot use database {redact_url(url)}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql":
            event.listen(self.engine, "connect", _postgres_settings)
        self._fernet: Any = None
        if migrate:
            if path is not None and path.exists() and not (os.access(path, os.W_OK)
                                                           and os.access(path.parent, os.W_OK | os.X_OK)):
                raise StoreError(f"database {path} is read-only for this user; a command that writes needs "
                                 "write access to it and its folder")
            self.migrate()
        elif not create:
            self.check_schema()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- schema ---------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision; each revision runs in its own transaction.

        An up-to-date database is recognised with one query, without importing Alembic (it costs a
        quarter of a second at every CLI start).
        """
        try:
            version = self.schema_version()
            if version == self.head_version():
                return
            _refuse_unknown(version, self.url)
            from alembic import command

            # Alembic is not safe to run twice at once, in threads or in processes
            with _MIGRATE_LOCK, self.lock("schema-migration"), self.engine.begin() as conn:
                command.upgrade(_alembic_config(conn), "head")
        except (OperationalError, DatabaseError) as exc:
            # drivers add hint lines ("Is the server running...?"): keep the error to one line
            reason = " ".join(str(exc.orig).split())
            raise StoreError(f"cannot open database {redact_url(self.url)}: {reason}") from None

    def check_schema(self) -> None:
        """For read-only use: the database must exist and be at this version's schema (never migrated here)."""
        try:
            version = self.schema_version()
        except (OperationalError, DatabaseError) as exc:
            reason = " ".join(str(exc.orig).split())
            path = sqlite_path(self.url)
            if path is not None and "readonly" in reason and not os.access(path.parent, os.W_OK | os.X_OK):
                # WAL: even a reader must create <db>-shm beside the file (a SQLite rule, not ours)
                reason = (f"SQLite needs write access to the folder {path.parent} even to read (it creates "
                          f"{path.name}-shm there); run this as the database's owner (docs/deploy.md)")
            raise StoreError(f"cannot open database {redact_url(self.url)}: {reason}") from None
        if version is None:
            raise StoreError(f"{redact_url(self.url)} is not a sellerguard database (no schema version; "
                             "check --db, $SELLERGUARD_DB or [store] url)")
        _refuse_unknown(version, self.url)
        if version != self.head_version():
            raise StoreError(f"database {redact_url(self.url)} has an older schema ({version}); "
                             "run `sellerguard migrate` (or any command that writes) to upgrade it")

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @staticmethod
    def head_version() -> str | None:
        """The newest revision among the migration files (the one no other revision follows)."""
        return _head_revision()

    # -- sessions -------------------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reads, or for writes the caller commits itself."""
        with Session(self.engine) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def lock(self, name: str, *, timeout_s: float = 60) -> Iterator[None]:
        """An exclusive lock on ``name`` that also holds across processes sharing this store.

        PostgreSQL: a session advisory lock; SQLite: a file lock beside the database file; in-memory: a
        process lock. Used for single-use token refreshes and for "one daemon per store".
        """
        if self.dialect == "postgresql":
            with self.engine.connect() as conn:
                key = _advisory_key(conn, name)
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            return
        path = self._lock_path(name)
        if path is None:
            with _PROCESS_LOCKS.setdefault(name, threading.Lock()):
                yield
            return
        deadline = time.monotonic() + timeout_s
        while True:
            fh = _take_file_lock(path)
            if fh is not None:
                break
            if time.monotonic() > deadline:
                raise StoreError(f"timed out waiting for lock '{name}'")
            time.sleep(0.05)
        try:
            yield
        finally:
            _release_file_lock(path, fh)

    def try_lock(self, name: str) -> Any:
        """Take ``name`` without waiting; returns a release() callable, or None when someone holds it."""
        if self.dialect == "postgresql":
            conn = self.engine.connect()
            key = _advisory_key(conn, name)
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                conn.close()
                return None

            def release_pg() -> None:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.close()

            return release_pg
        path = self._lock_path(name)
        if path is None:
            lk = _PROCESS_LOCKS.setdefault(name, threading.Lock())
            return lk.release if lk.acquire(blocking=False) else None
        fh = _take_file_lock(path)
        if fh is None:
            return None

        def release_file() -> None:
            _release_file_lock(path, fh)

        return release_file

    def _lock_path(self, name: str) -> Path | None:
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        safe = hashlib.sha256(name.encode()).hexdigest()[:16]
        return Path(database).with_name(f"{Path(database).name}.{safe}.lock")

    # -- writes ---------------------------------------------------------------------------------------

    def write(
        self,
        records: Iterable[Record],
        cursors: Mapping[tuple[str, str], str | None] | None = None,
        *,
        now: datetime | None = None,
    ) -> int:
        """Upsert records and move cursors in one transaction; returns how many rows were new or changed.

        Keyed by (kind, account, external_id); a record whose raw_hash is unchanged is left alone, so
        re-importing the same data changes nothing.
        """
        with self.transaction() as tx:
            return tx.write(records, cursors, now=now)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Several writes that commit together or not at all (an import of many batches)."""
        with Session(self.engine) as session, session.begin():
            yield Transaction(self, session)

    def _upsert(self, session: Session, kind: str, rows: list[dict[str, Any]]) -> int:
        """Insert or update ``rows`` (one record kind, the same columns each) where the hash differs; returns how
        many rows were inserted or really updated.

        SQLite: one prepared statement stepped per row (``executemany``) with values converted here, since
        SQLAlchemy's per-value bind processing and statement building were most of the write path's CPU
        (issue 21); the statement is SQLAlchemy's own upsert, compiled once. PostgreSQL: the same statement with
        RETURNING through SQLAlchemy (insertmanyvalues: a few multi-row statements per batch)."""
        columns = tuple(rows[0])
        if self.dialect == "sqlite":
            sql, values, convert = _sqlite_upsert(kind, columns, self.engine.dialect)
            params = []
            for row in rows:
                param = list(values(row))
                for i, f in convert:
                    param[i] = f(param[i])
                params.append(tuple(param))
            # sqlite3 sums the rows each step changed: an upsert whose WHERE is false changes none
            return int(session.connection().exec_driver_sql(sql, params).rowcount)
        stmt = _upsert_statement(kind, columns, self.dialect)
        # RETURNING yields only inserted or actually updated rows (executemany rowcounts are not reliable
        # across PostgreSQL drivers)
        return len(session.connection().execute(stmt, rows).all())

    def _put(self, session: Session, model: Any, values: dict[str, Any], key: tuple[str, ...]) -> None:
        """Insert or overwrite one row by its key in one statement (``merge`` races between processes)."""
        session.connection().execute(_put_statement(model.__table__, tuple(values), key, self.dialect), values)

    def upsert_accounts(self, accounts: Iterable[Account]) -> None:
        with self.engine.begin() as conn:  # every sync writes its account: one statement, no ORM session
            for acc in accounts:
                values = acc.model_dump()
                conn.execute(_put_statement(AccountRow.__table__, tuple(values), ("id",), self.dialect), values)

    # -- cursors and connector state ------------------------------------------------------------------

    # plain statements on a connection: connectors call these several times per sync (no ORM session per call)

    def cursor(self, account: str, stream: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(_CURSOR_GET, {"a": account, "s": stream}).scalar()

    def state(self, account: str, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(_STATE_GET, {"a": account, "k": key}).scalar()
        return sealed.unseal(self, account, key, value)

    def put_state(self, account: str, key: str, value: str | None, *, now: datetime | None = None) -> None:
        """Save (or with None, drop) one state value and commit at once."""
        with self.engine.begin() as conn:
            if value is None:
                conn.execute(_STATE_DROP, {"a": account, "k": key})
            else:  # tokens at rest are sealed
                conn.execute(_STATE_PUT_AT, {"a": account, "k": key, "v": sealed.seal(self, account, value), "t": now})

    def update_state(self, account: str, key: str, update: Any) -> Any:
        """Read-modify-write one state value atomically across processes (shared rate buckets, issue 19.5).

        ``update(old value or None) -> (new value, result)``; runs under ``lock(key)`` in one transaction with
        plain SQL (called once per marketplace request: no ORM round trips). Returns ``result``.
        """
        when = datetime.now(UTC)
        if self.dialect == "postgresql":
            # the lock inside the transaction, released by its commit: one pooled connection per take, not two
            # (a shared rate bucket takes once per marketplace request; workers ran out of connections)
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": _advisory_key(conn, f"state:{account}:{key}")})
                return self._update_state(conn, account, key, update, when)
        with self.lock(f"state:{account}:{key}"), self.engine.begin() as conn:
            return self._update_state(conn, account, key, update, when)

    def _update_state(self, conn: Any, account: str, key: str, update: Any, when: datetime) -> Any:
        old = conn.execute(_STATE_GET, {"a": account, "k": key}).scalar()
        new, result = update(old)
        conn.execute(_STATE_PUT_AT, {"a": account, "k": key, "v": new, "t": when})
        return result

    # -- sync runs ------------------------------------------------------------------------------------

    def record_sync(self, run: SyncRun) -> None:
        """Insert the run (one plain INSERT: every sync records one); ``run.id`` is set as the ORM would."""
        table = SyncRun.__table__  # type: ignore[attr-defined]
        values = {c.key: getattr(run, c.key) for c in table.columns if c.key != "id" or run.id is not None}
        with self.engine.begin() as conn:
            run.id = conn.execute(table.insert(), values).inserted_primary_key[0]

    def last_sync(self, account: str, *, ok: bool | None = None) -> SyncRun | None:
        with Session(self.engine) as session:
            q = select(SyncRun).where(SyncRun.account == account)
            if ok is not None:
                q = q.where(SyncRun.ok == ok)
            q = q.order_by(SyncRun.started_at.desc()).limit(1)  # type: ignore[attr-defined]
            return session.execute(q).scalars().first()

    # -- reads used by the CLI and tests --------------------------------------------------------------

    def count(self, kind: str, account: str | None = None) -> int:
        table = RECORD_TABLES[kind]
        with Session(self.engine) as session:
            q = select(func.count()).select_from(table)
            if account is not None:
                q = q.where(table.account == account)
            return int(session.execute(q).scalar_one())

    def counts(self) -> dict[str, int]:
        return {kind: self.count(kind) for kind in RECORD_TABLES}


class Transaction:
    def __init__(self, store: Store, session: Session) -> None:
        self._store = store
        self.session = session

    def write(
        self,
        records: Iterable[Record],
        cursors: Mapping[tuple[str, str], str | None] | None = None,
        *,
        now: datetime | None = None,
    ) -> int:
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            by_kind[record.kind].append(_row(record))
        batches = {kind: _dedupe(rows) for kind, rows in by_kind.items()}
        # the days whose rollups this write may change, before and after it (sellerguard/store/rollups.py): only
        # for accounts that have rollups, looked up once per write
        accounts = {r["account"] for kind, rows in batches.items() if kind in rollups.PLACES for r in rows}
        with_rollups = rollups.covered(self.session, accounts) if accounts else set()
        batch_orders = {(r["account"], r["external_id"]): r for r in batches.get("order", ())
                        if r["account"] in with_rollups}
        changed = 0
        dirty: set[tuple[str, datetime]] = set()
        for kind, rows in batches.items():
            if with_rollups:
                before, moving = rollups.before_write(self.session, kind, rows, with_rollups, batch_orders)
            changed += self._store._upsert(self.session, kind, rows)
            if with_rollups:
                dirty |= before | rollups.after_write(self.session, kind, moving, batch_orders)
        rollups.mark(self.session, self._store.dialect, dirty, _insert(self._store.dialect))
        if cursors:
            self.session.connection().execute(_CURSOR_PUT, [
                {"a": account, "s": stream, "c": cursor, "t": now} for (account, stream), cursor in cursors.items()])
        return changed


_CURSOR_PUT = text("INSERT INTO sync_cursor (account, stream, cursor, updated_at) VALUES (:a, :s, :c, :t) "
                   "ON CONFLICT (account, stream) DO UPDATE SET cursor = excluded.cursor, "
                   "updated_at = excluded.updated_at").bindparams(bindparam("t", type_=UTCDateTime()))
_CURSOR_GET = text("SELECT cursor FROM sync_cursor WHERE account = :a AND stream = :s")
_STATE_GET = text("SELECT value FROM connector_state WHERE account = :a AND key = :k")
_STATE_DROP = text("DELETE FROM connector_state WHERE account = :a AND key = :k")
_STATE_PUT = text("INSERT INTO connector_state (account, key, value, updated_at) VALUES (:a, :k, :v, :t) "
                  "ON CONFLICT (account, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
_STATE_PUT_AT = _STATE_PUT.bindparams(bindparam("t", type_=UTCDateTime()))  # an aware time, stored as the ORM does


@cache
def _put_statement(table: Any, columns: tuple[str, ...], key: tuple[str, ...], dialect: str) -> Any:
    """``INSERT .. ON CONFLICT (key) DO UPDATE`` of ``columns``, built once (``Store._put``)."""
    stmt = _insert(dialect)(table)
    return stmt.on_conflict_do_update(index_elements=list(key),
                                      set_={c: stmt.excluded[c] for c in columns if c not in key})


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the last row per key: one statement may not touch the same row twice."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        seen[(row["account"], row["external_id"])] = row
    return list(seen.values())


@cache
def _upsert_statement(kind: str, columns: tuple[str, ...], dialect: str) -> Any:
    """``INSERT .. ON CONFLICT (account, external_id) DO UPDATE .. WHERE raw_hash differs`` for these columns
    (built once: ``excluded`` proxies every column of the table each time it is built)."""
    table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    stmt = _insert(dialect)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account", "external_id"],
        set_={c: stmt.excluded[c] for c in columns if c not in ("account", "external_id")},
        where=table.c.raw_hash.is_distinct_from(stmt.excluded.raw_hash),
    )
    return stmt if dialect == "sqlite" else stmt.returning(table.c.id)


_SQLITE_UPSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, Any, list[tuple[int, Any]]]] = {}


def _sqlite_upsert(kind: str, columns: tuple[str, ...], dialect: Any) -> tuple[str, Any, list[tuple[int, Any]]]:
    """The upsert's SQL for SQLite, a getter of a row's parameters in order, and (position, converter) for those
    SQLAlchemy's bind processors would convert: UTC times become its naive text (``YYYY-MM-DD HH:MM:SS.ffffff``)
    without its per-value overhead, anything else goes through the type's own processor."""
    key = (kind, columns)
    if key not in _SQLITE_UPSERTS:
        table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
        compiled = _upsert_statement(kind, columns, "sqlite").compile(dialect=dialect, column_keys=list(columns))
        names = list(compiled.positiontup or ())
        convert = []
        for i, name in enumerate(names):
            type_ = table.c[name].type
            f = _sqlite_time if isinstance(type_, UTCDateTime) else type_.dialect_impl(dialect).bind_processor(dialect)
            if f is not None:
                convert.append((i, f))
        values = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        _SQLITE_UPSERTS[key] = (str(compiled), values, convert)
    return _SQLITE_UPSERTS[key]


def _sqlite_time(value: datetime | None) -> str | None:
    """``UTCDateTime`` on SQLite: aware in, naive UTC text out, as SQLAlchemy's DATETIME stores it."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} reached the store")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def _advisory_key(conn: Any, name: str) -> int:
    """A PostgreSQL advisory lock key for ``name`` within this store's schema: advisory locks are database-wide,
    so two stores in different schemas of one database must not block each other."""
    schema = conn.execute(text("SELECT current_schema()")).scalar() or ""
    return int.from_bytes(hashlib.sha256(f"{schema}:{name}".encode()).digest()[:8], "big", signed=True)


def _open_lock(path: Path) -> Any:
    """The lock file beside the database, owner-only like the database."""
    return os.fdopen(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600), "a")


def _take_file_lock(path: Path) -> Any:
    """The open, locked lock file, or None when another holder has it. Lock files exist only while held: the
    holder removes the file before unlocking (``_release_file_lock``), so one that was locked here may already
    be gone from the path; then the lock is on a dead file and the current one is taken instead."""
    while True:
        fh = _open_lock(path)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return None
        try:
            current = os.stat(path).st_ino == os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return fh
        fh.close()  # unlocks the dead file; its holder has released it


def _release_file_lock(path: Path, fh: Any) -> None:
    """Remove the lock file while still holding it, then unlock: no lock file stays behind (one per lock name,
    per account and state key, piled up), and a waiter that then locks the removed file sees it is gone."""
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def _insert(dialect: str) -> Any:
    """The dialect's INSERT with ON CONFLICT, imported on first write (reading commands never load it)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _postgres_settings(dbapi_conn: Any, _record: Any) -> None:
    """Per connection: no JIT. The evaluation's statements are short aggregates over indexed windows; JIT
    compiled ~90 functions per statement and made ``status`` 2x slower than on SQLite (issue 21). Committed,
    so the pool's rollback on check-in does not undo it."""
    cur = dbapi_conn.cursor()
    cur.execute("SET jit = off")
    cur.close()
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # the wait first: switching a fresh file to WAL needs its lock, and a second store opening the same new file
    # while the first migrates it must wait for it, not fail with "database is locked"
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
