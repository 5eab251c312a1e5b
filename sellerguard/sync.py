"""Run connectors: pages -> normalized records -> store, one account at a time, one failure at a time.

Each Batch a connector yields is written with its cursor in one transaction. A failure (auth, outage, bad
payload) ends that account's sync with a SyncOutcome saying what and where; the batches already stored stay,
the cursor stays where they left it, and the other accounts carry on. Nothing here prints.
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from sellerguard import connectors, keys
from sellerguard.clock import Clock, SystemClock
from sellerguard.config import AccountConfig, Config, config_error
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.errors import ConfigError, ConnectorError, InputError, SellerguardError, StoreError
from sellerguard.http import AppScope, BucketBackend, app_scope, shared_buckets
from sellerguard.oauth import credential_refused
from sellerguard.schema import Account
from sellerguard.store import Store
from sellerguard.store import rollups as store_rollups
from sellerguard.store.lookup import rows_by_key
from sellerguard.store.tables import RECORD_TABLES, SyncRun

log = logging.getLogger("sellerguard.sync")
Progress = Callable[[str, str, Batch], None]  # (account id, stream, batch)


@dataclass
class SyncOutcome:
    account: str
    marketplace: str
    ok: bool
    records: int = 0
    changed: int = 0
    error_kind: str | None = None  # config | wait | payload | store | internal (the first failed stream's)
    error: str | None = None  # one line, no secrets: the first failure, then which other streams failed
    retry_after: float | None = None
    stopped: bool = False  # asked to stop between batches (SIGTERM)
    failed_streams: dict[str, str] = field(default_factory=dict)  # stream -> error kind
    busy: bool = False  # another process held this account's sync lock: nothing was done


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str  # one line, without the "account: stream: " prefix
    retry_after: float | None = None


def describe_failure(exc: BaseException, stream: str = "-") -> Failure:
    """Any exception as a kind and one line: what the user reads. Never raises.

    Known errors keep their kind; database trouble (full disk, read-only file, locked) is kind "store" or
    "wait"; anything else is kind "internal" (a bug: its traceback goes to the debug log, not to the user).
    """
    try:
        return _describe(exc, stream)
    except Exception:  # a str() that raises (lone surrogates, a broken __str__) must not escape either
        return Failure("internal", f"internal error: {type(exc).__name__} (a bug; the traceback is in the debug log)")


def _describe(exc: BaseException, stream: str) -> Failure:
    if isinstance(exc, ConnectorError):
        return Failure(exc.kind, _one_line(str(exc)), exc.retry_after)
    if isinstance(exc, ValidationError):
        # a connector let a payload through that the schema refuses: a bad payload, named by field
        err = exc.errors(include_url=False)[0]
        field_name = ".".join(str(p) for p in err["loc"]) or "(record)"
        value = _one_line(repr(err.get("input")))[:80]
        return Failure("payload", _one_line(f"bad payload: {field_name}: {err['msg']} (value {value})"))
    if isinstance(exc, StoreError):
        return Failure("store", _one_line(str(exc)))
    if isinstance(exc, InputError):
        return Failure("payload", _one_line(str(exc)))
    if isinstance(exc, SellerguardError):  # ConfigError and the rest
        return Failure("config", _one_line(str(exc)))
    if isinstance(exc, DBAPIError | sqlite3.Error):
        text = _one_line(str(getattr(exc, "orig", None) or exc)).lower()
        if "locked" in text or "busy" in text:
            return Failure("wait", "the database is busy (locked by another process); retry later")
        if "readonly" in text or "read-only" in text:
            return Failure("store", "the database is read-only: cannot save the synced data (check file permissions)")
        if "full" in text:
            return Failure("store", "the disk is full: cannot save the synced data")
        return Failure("store", f"the database refused the write: {text[:200]}")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return Failure("store", "the disk is full: cannot save the synced data")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return Failure("store", f"cannot write: {exc.strerror} ({exc.filename or 'the database'})")
    return Failure("internal", f"internal error: {type(exc).__name__} (a bug; the traceback is in the debug log)")


def _one_line(text: str) -> str:
    """Whitespace folded, unprintable characters escaped: one line whatever the marketplace sent."""
    text = " ".join(text.split())
    return text.encode("ascii", "backslashreplace").decode("ascii") if not text.isprintable() else text


class _State:
    def __init__(self, store: Store, account: str, clock: Clock) -> None:
        self._store, self._account, self._clock = store, account, clock

    def get(self, key: str) -> str | None:
        return self._store.state(self._account, key)

    def put(self, key: str, value: str | None) -> None:
        self._store.put_state(self._account, key, value, now=self._clock.now())


class StoreBuckets(BucketBackend):
    """Rate buckets in the store, so every process syncing an account spends one quota (issue 19.5).

    One connector-state row per bucket (``rate:<account>:<marketplace>:<bucket>`` = "<tokens> <ISO time>"),
    read and written under ``Store.lock`` (a PostgreSQL advisory lock or a file lock beside the SQLite file).
    A taker reserves its token (the level may go negative) and sleeps outside the lock; a fast bucket takes a
    block of tokens per round trip when the level holds them (``SharedBucket.block``).
    """

    def __init__(self, store: Store, account: str) -> None:
        self._store, self._account = store, account

    def take(self, key: str, rate: float, burst: float, now: datetime, *, drain: bool = False) -> float:
        return self._take(key, rate, burst, now, 1, drain)[0]

    def take_block(self, key: str, rate: float, burst: float, now: datetime, want: int) -> tuple[float, int]:
        """Up to ``want`` tokens in one store round trip when the level holds them now, else one reserved."""
        return self._take(key, rate, burst, now, want, False)

    def _take(self, key: str, rate: float, burst: float, now: datetime, want: int,
              drain: bool) -> tuple[float, int]:
        def update(raw: str | None) -> tuple[str, tuple[float, int]]:
            tokens, at = burst, now
            if raw:
                try:
                    level, stamp = raw.split(" ", 1)
                    tokens, at = float(level), datetime.fromisoformat(stamp)
                except ValueError:
                    tokens, at = burst, now  # unreadable: start full rather than fail the sync
            tokens = min(burst, tokens + max(0.0, (now - at).total_seconds()) * rate)
            wait, granted = 0.0, 0
            if drain:
                tokens = min(tokens, 0.0)
            elif tokens >= 1:
                granted = max(1, min(want, int(tokens)))
                tokens -= granted
            else:
                granted, tokens = 1, tokens - 1  # a reservation: the level goes negative, the taker waits
                wait = -tokens / rate if rate > 0 else 0.0
            return f"{tokens!r} {max(now, at).isoformat()}", (wait, granted)

        wait, granted = self._store.update_state(self._account, f"rate:{key}", update)
        return float(wait), int(granted)


def stored_updates(store: Store, account: str, kind: str, external_ids: Iterable[str]) -> dict[str, datetime]:
    """{external id: updated_at} of the account's stored records of ``kind`` among ``external_ids`` (absent: not
    stored, or stored without one): ``SyncContext.stored``, so connectors skip per-record detail calls for records
    the marketplace did not change since they were stored (issue 21)."""
    table = RECORD_TABLES[kind].__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        return {e: u for e, u in rows_by_key(conn, table, ["external_id", "updated_at"], "external_id",
                                             [(account, i) for i in external_ids]) if u is not None}


def account_record(acc: AccountConfig) -> Account:
    return Account(id=acc.id, marketplace=acc.marketplace, region=acc.region, seller_id=acc.seller_id,
                   display_name=acc.display_name)


def connector_options(module: Any, acc: AccountConfig) -> Any:
    model = getattr(module, "Options", None)
    if model is None:
        if acc.options:
            raise ConfigError(f"accounts[{acc.id}].options: the {acc.marketplace} connector takes no options")
        return None
    try:
        return model.model_validate(acc.options)
    except ValidationError as exc:
        raise config_error(exc, f"accounts[{acc.id}].options", acc.options) from None


def check_accounts(config: Config) -> None:
    """Fail fast, naming the config file: every account's marketplace has a connector and valid options."""
    where = str(config.source or "config")
    for acc in config.accounts:
        try:
            connector_options(connectors.get(acc.marketplace), acc)
            from sellerguard.consent import PROVIDERS, check_region

            if acc.marketplace in PROVIDERS:
                check_region(acc)  # a region or site the marketplace does not have is refused, never ignored
        except ConfigError as exc:
            inner = f"{exc.where}: {exc.message}" if exc.where else exc.message
            if inner.startswith("unknown marketplace"):
                inner = f"accounts[{acc.id}].marketplace: {inner}"
            raise ConfigError(inner, where=where) from None


def make_context(acc: AccountConfig, store: Store, *, clock: Clock, sleep: Callable[[float], None]) -> SyncContext:
    module = connectors.get(acc.marketplace)
    return SyncContext(
        account=acc,
        state=_State(store, acc.id, clock),
        clock=clock,
        sleep=sleep,
        options=connector_options(module, acc),
        log=logging.getLogger(f"sellerguard.connectors.{acc.marketplace}"),
        lock=lambda name: store.lock(f"{acc.id}:{name}"),
        buyer_secret=keys.buyer_secret(store),  # created at first use, kept outside the records
        stored=lambda kind, ids: stored_updates(store, acc.id, kind, ids),
    )


STREAM_STATE = "sync:stream:"  # connector-state key prefix: the last outcome of each stream (JSON)
LOCK_WAIT_S = 30.0  # how long a sync waits for another process's sync of the same account


def sync_account(
    acc: AccountConfig,
    store: Store,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    streams: Iterable[str] | None = None,
    lock_wait_s: float = LOCK_WAIT_S,
) -> SyncOutcome:
    """Sync every stream of one account; never raises.

    Streams are independent: a failed stream is reported once and the next one still runs. Only one process
    syncs an account at a time (``Store.try_lock("sync:<account>")``: a PostgreSQL advisory lock, or a file lock
    beside the SQLite file). A busy account is waited for up to ``lock_wait_s`` (real seconds: an incremental
    sync is short), then skipped with kind "wait" and no sync record (the process holding the lock writes its own).
    """
    clock = clock or SystemClock()
    outcome = SyncOutcome(account=acc.id, marketplace=acc.marketplace, ok=False)
    try:
        release = store.try_lock(f"sync:{acc.id}")
        deadline = time.monotonic() + lock_wait_s
        while release is None and time.monotonic() < deadline and not should_stop():
            time.sleep(0.1)  # real time, not the injected sleep: the other process runs on the wall clock
            release = store.try_lock(f"sync:{acc.id}")
    except Exception as exc:
        release = None
        failure = describe_failure(exc)
        outcome.error_kind, outcome.error = failure.kind, f"{acc.id}: {failure.message}"
        log.debug("%s: cannot take the sync lock", acc.id, exc_info=True)
        return outcome
    if release is None:
        outcome.busy = True
        outcome.error_kind = "wait"
        outcome.error = f"{acc.id}: another sellerguard process is syncing this account right now; skipped"
        return outcome
    try:
        return _sync_locked(acc, store, outcome, clock=clock, sleep=sleep, progress=progress,
                            should_stop=should_stop, streams=streams)
    finally:
        try:
            release()
        except Exception:
            log.debug("%s: releasing the sync lock failed", acc.id, exc_info=True)


def _sync_locked(acc: AccountConfig, store: Store, outcome: SyncOutcome, *, clock: Clock,
                 sleep: Callable[[float], None], progress: Progress | None, should_stop: Callable[[], bool],
                 streams: Iterable[str] | None) -> SyncOutcome:
    run = SyncRun(account=acc.id, started_at=clock.now())
    began = time.monotonic()
    errors: list[tuple[str, Failure]] = []
    try:
        module = connectors.get(acc.marketplace)
        ctx = make_context(acc, store, clock=clock, sleep=sleep)
        store.upsert_accounts([account_record(acc)])
        chosen = list(streams or module.STREAMS)
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt / SystemExit: the caller stops
        errors.append(("-", _failed(acc, "-", exc)))
        chosen = []
    buckets = shared_buckets.set((StoreBuckets(store, acc.id), acc.id))
    # the marketplace app's quotas, shared through the store with every account and process of that app (issue
    # 24); a scope a caller already set (a test) is kept
    app = app_scope.set(app_scope.get() or AppScope.of(store, acc.marketplace,
                                                       lambda n: acc.secret(n).get_secret_value()))
    refused: Failure | None = None  # the token endpoint refused this account's credential in this run
    try:
        for stream in chosen:
            if refused is not None:
                # every stream needs that credential: asking again is refused the same way (6 requests for eBay)
                errors.append((stream, refused))
                outcome.failed_streams[stream] = refused.kind
                _save_stream_state(store, acc.id, stream, clock, refused)
                continue
            try:
                _sync_stream(module, ctx, acc, store, stream, outcome, clock, progress, should_stop)
            except Exception as exc:
                failure = _failed(acc, stream, exc)
                errors.append((stream, failure))
                outcome.failed_streams[stream] = failure.kind
                _save_stream_state(store, acc.id, stream, clock, failure)
                if failure.kind == "config" and credential_refused(exc):  # not 5xx/429/timeouts: kind "wait"
                    refused = failure
            else:
                _save_stream_state(store, acc.id, stream, clock, None)
            if outcome.stopped:
                break
    finally:
        app_scope.reset(app)
        shared_buckets.reset(buckets)
    try:  # the day rollups of the days this sync's batches marked, once per sync (issue 21, rules/rollup.py)
        with store.session() as session:  # without rollups and below their volume: no need to load the rules
            due = store_rollups.pending(session, acc.id) or store_rollups.busy(session, acc.id)
        if due:
            from sellerguard.rules import rollup

            rollup.catch_up(store, acc.id)
    except Exception:  # the records are stored; the marked days are read from the records until the next sync
        log.debug("%s: day rollups not brought up to date", acc.id, exc_info=True)
    if errors:
        first_stream, first = errors[0]
        outcome.error_kind, outcome.retry_after = first.kind, first.retry_after
        needing = [s for s, f in errors if refused is not None and f is refused]  # streams the refusal ended
        also = [f"{s} ({f.kind})" for s, f in errors[1:] if f is not refused]
        if first is refused:  # one line for the account, not the same refusal per stream
            line = first.message + (f" (every stream needs it: {', '.join(needing)})" if len(needing) > 1 else "")
        else:
            line = first.message if first_stream == "-" else f"{first_stream}: {first.message}"
            if refused is not None:
                also.append(f"{', '.join(needing)} ({refused.kind}: {refused.message})")
        if also:
            line += "; also failed: " + ", ".join(also)
        outcome.error = f"{acc.id}: {line}"
    outcome.ok = not errors and not outcome.stopped
    run.finished_at = clock.now()
    run.ok, run.records = outcome.ok, outcome.records
    run.error_kind, run.error = outcome.error_kind, (outcome.error or None) and outcome.error[:500]
    try:
        store.record_sync(run)
    except Exception as exc:
        failure = describe_failure(exc)
        log.debug("%s: cannot record the sync run", acc.id, exc_info=True)
        note = f"the sync record could not be saved: {failure.message}"
        outcome.ok = False
        outcome.error_kind = outcome.error_kind or failure.kind
        outcome.error = f"{outcome.error}; {note}" if outcome.error else f"{acc.id}: {note}"
    if outcome.error:
        log.debug("sync failed: %s", outcome.error)  # the caller reports it once (CLI line, daemon guard)
    failed = ", ".join(f"{s} ({k})" for s, k in outcome.failed_streams.items()) or ("-" if outcome.ok else "all")
    log.info("%s: synced %d records (%d new or changed) in %.1f s; streams failed: %d (%s)%s", acc.id,
             outcome.records, outcome.changed, time.monotonic() - began, len(outcome.failed_streams), failed,
             "; stopped early" if outcome.stopped else "")  # one line per account sync, for operators
    return outcome


def _sync_stream(module: Any, ctx: SyncContext, acc: AccountConfig, store: Store, stream: str,
                 outcome: SyncOutcome, clock: Clock, progress: Progress | None,
                 should_stop: Callable[[], bool]) -> None:
    cursor = store.cursor(acc.id, stream)
    for batch in module.fetch(ctx, stream, cursor):
        cursors = {(acc.id, stream): batch.cursor} if batch.cursor is not None else None
        try:
            outcome.changed += store.write(batch.records, cursors, now=clock.now())
        except OverflowError:
            # the driver refuses an integer beyond 64 bits: a value no marketplace meant (nothing was written)
            kinds = sorted({r.kind for r in batch.records})
            raise ConnectorError(f"bad payload: a number too large to store (beyond 64 bits) in {', '.join(kinds)}"
                                 " records", kind="payload") from None
        outcome.records += len(batch.records)
        if progress is not None:
            progress(acc.id, stream, batch)
        if should_stop():
            outcome.stopped = True
            return


def _failed(acc: AccountConfig, stream: str, exc: Exception) -> Failure:
    failure = describe_failure(exc, stream)
    if failure.kind == "internal":
        log.debug("%s: %s: unexpected exception", acc.id, stream, exc_info=exc)
    message = failure.message
    if message.startswith(f"{acc.id}: "):  # errors built with where=account
        message = message.removeprefix(f"{acc.id}: ")
    if message.startswith(f"{stream}: "):
        message = message.removeprefix(f"{stream}: ")
    return Failure(failure.kind, message, failure.retry_after)


def _save_stream_state(store: Store, account: str, stream: str, clock: Clock, failure: Failure | None) -> None:
    """The stream's last outcome in connector state (``sync:stream:<name>``), for status to say which are stale."""
    value = {"ok": failure is None, "at": clock.now().isoformat()}
    if failure is not None:
        value |= {"error_kind": failure.kind, "error": failure.message[:300]}
    try:
        store.put_state(account, STREAM_STATE + stream, json.dumps(value))
    except Exception:
        log.debug("%s: %s: cannot save the stream's state", account, stream, exc_info=True)


def stream_status(store: Store, account: str, streams: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{stream: {"ok": bool, "at": ISO time, "error_kind"?, "error"?}} for the streams that have synced once."""
    found = {}
    for stream in streams:
        raw = store.state(account, STREAM_STATE + stream)
        if raw:
            try:
                found[stream] = json.loads(raw)
            except ValueError:
                continue
    return found


def sync_accounts(
    config: Config,
    store: Store,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    accounts: Iterable[str] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    workers: int = 1,
    lock_wait_s: float = LOCK_WAIT_S,
) -> list[SyncOutcome]:
    """Sync the enabled accounts (or those named); one account's failure never stops the others.

    With ``workers`` > 1, accounts sync concurrently (each has its own marketplace host and rate limits, so a
    slow one, paced by its marketplace, does not hold up the rest); outcomes keep the config's order.
    """
    keys.configure(store, key=config.store.key, config_path=config.source)  # where the buyer-key secret lives
    wanted = set(accounts) if accounts else None
    if wanted:
        for name in wanted:
            config.account(name)  # unknown ids are a config error
    chosen = [acc for acc in config.accounts if (acc.id in wanted if wanted else acc.enabled)]

    def one(acc: AccountConfig) -> SyncOutcome | None:
        if should_stop():
            return None
        try:
            return sync_account(acc, store, clock=clock, sleep=sleep, progress=progress, should_stop=should_stop,
                                lock_wait_s=lock_wait_s)
        except Exception as exc:  # sync_account never raises; this is the last line of defence
            log.debug("%s: sync crashed", acc.id, exc_info=True)
            failure = describe_failure(exc)
            return SyncOutcome(account=acc.id, marketplace=acc.marketplace, ok=False, error_kind=failure.kind,
                               error=f"{acc.id}: {failure.message}")

    if workers <= 1 or len(chosen) <= 1:
        results = [one(acc) for acc in chosen]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sellerguard-sync") as pool:
            results = list(pool.map(one, chosen))
    return [o for o in results if o is not None]
