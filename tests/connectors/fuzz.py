"""Connector fuzzing (issue 18): real sandbox responses, one mutated per run, fed through ``sync_accounts``.

The loopback sandbox answers in process (``Sandbox.dispatch`` behind ``responses``, no sockets), so a run is a
real ``sellerguard sync`` of one small account: the real connector, HTTP core, schema and store. One response of
the run (chosen by index) is mutated: a key dropped, a value replaced (wrong type, null, huge/negative number,
NaN/Infinity, a malformed or far-off date, unicode, NUL, whitespace), the body truncated, HTML with 200, a body of
``123``, empty or corrupt gzip. Then ``check`` sorts what happened into the issue's four outcomes:

- ``traceback``: an exception escaped the sync, or an outcome of kind "internal" (an unexpected exception);
- ``implausible``: a stored value no marketplace sends (date out of range, negative or absurd count or money,
  NaN/Infinity, an empty/"nan"/control-character id, NUL or a lone surrogate in text);
- ``dropped``: a record of the clean run missing after the mutated sync reported success, or still missing after
  a clean sync that followed it (the cursor moved past records that were never stored);
- ``bad_state``: the clean sync after the mutated one fails (something bad was kept in connector state).

Used by tests/connectors/test_fuzz.py (a few hundred seeded examples per connector) and scripts/fuzz_table.py
(1,000 per connector, the issue's table).
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import math
import pkgutil
import re
import shutil
import tempfile
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from sqlalchemy import MetaData, select

import sellerguard.sandbox as sandbox_package
from sellerguard import connectors, keys
from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.demo import demo_accounts
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox import server as server_module
from sellerguard.sandbox.server import Reply
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
from sellerguard.store import Store
from sellerguard.store.tables import RECORD_TABLES
from sellerguard.sync import sync_account

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOST = "sandbox.fuzz.invalid"
OUTCOMES = ("traceback", "implausible", "dropped", "bad_state")
# Not a connector fault, counted apart: one whole record removed from an answer that carries no count to check it
# against (a data line of a flat-file report, an object of a page without a total). The damaged answer reads exactly
# like a real one; no reader can tell.
UNDETECTABLE = "undetectable_drop"
# Not a drop either, counted apart: a record derived from an order's status word (a cancellation from "cancelled")
# missing because the mutation garbled that word, while the order itself is stored with status "unknown", the
# project's whole-enum rule for a value it does not know (logged once). Kept recognisable, not lost silently.
KEPT_UNKNOWN = "kept_as_unknown"
MARKETPLACES = ("amazon", "ebay", "walmart", "etsy", "tiktok", "mercadolibre", "bol", "shopify")

# Replacement values: wrong types, nulls, huge/negative numbers, NaN/Infinity, bad and far-off dates, unicode, NUL
VALUES: list[Any] = [
    None, "", " ", "x", 0, -1, -50, -(10**20), 2**63, 2**64 + 7, 10**30, 1.5, 1e308, -1e308,
    math.nan, math.inf, -math.inf, "NaN", "Infinity", "-5", "1e308", True, False, [], {}, [None], {"x": None},
    "\x00", "a\x00b", "\ud800", "tok en", " padded ", "\u202eevil", "😀" * 3, "<html>", "null", "nan",
    "2026-13-45T99:99:99Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "2126-01-01T00:00:00Z", "2026-11-20", "20261120", "yesterday", 1_700_000_000_000_000, -1_700_000_000,
    "12345678901234567890123456789", "x" * 5000,
]
# Account options for a cheap run: bol asks once per day of the backfill (90 requests of empty days otherwise)
OPTIONS: dict[str, dict[str, Any]] = {"bol": {"backfill_days": 21}}
BODY_OPS = ("truncate", "html200", "body123", "empty", "empty_gzip", "corrupt_gzip", "json_null", "json_list")
NODE_OPS = ("drop", "value", "value", "value", "stringify", "wrap_list")


@dataclass(frozen=True)
class Mutation:
    target: int  # which response of the run (0-based, in request order)
    op: str  # one of BODY_OPS or NODE_OPS
    node: int = 0  # which node of the JSON tree (modulo the node count)
    value: int = 0  # which VALUES entry (modulo)
    cut: float = 0.5  # where to truncate (fraction of the body)
    stream: str = ""  # the stream whose run it is in; "" = target counts across every stream's clean run

    def describe(self) -> str:
        extra = f" value={show(VALUES[self.value % len(VALUES)])}" if self.op == "value" else ""
        where = f"{self.stream} " if self.stream else ""
        return f"{where}response #{self.target} {self.op} node={self.node} cut={self.cut:.3f}{extra}"


def show(v: Any) -> str:
    return repr(v)[:40].encode("ascii", "backslashreplace").decode()


# -- mutating one response --------------------------------------------------------------------------------


def _nodes(doc: Any, limit: int = 5000) -> list[tuple[Any, Any]]:
    """(container, key) of every value in a JSON tree, depth-first, in a stable order."""
    out: list[tuple[Any, Any]] = []
    stack = [doc]
    while stack and len(out) < limit:
        node = stack.pop()
        if isinstance(node, dict):
            for k in reversed(list(node)):
                out.append((node, k))
                stack.append(node[k])
        elif isinstance(node, list):
            for i in reversed(range(len(node))):
                out.append((node, i))
                stack.append(node[i])
    return out


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if body is None:
        return b""
    return json.dumps(body, default=str).encode("utf-8", "surrogatepass")


def mutate(reply: Reply, m: Mutation) -> Reply:
    """A copy of ``reply`` with mutation ``m`` applied (a node op on a non-JSON body mutates its text)."""
    status, headers, ctype = reply.status, dict(reply.headers), reply.content_type
    if m.op in BODY_OPS:
        raw = _encode(reply.body)
        if m.op == "truncate":
            body: Any = raw[: int(len(raw) * m.cut)]
        elif m.op == "html200":
            status, ctype = 200, "text/html"
            body = b"<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        elif m.op == "body123":
            body = b"123"
        elif m.op == "empty":
            body = b""
        elif m.op == "empty_gzip":
            body = gzip.compress(b"")
        elif m.op == "corrupt_gzip":
            gz = raw if raw[:2] == b"\x1f\x8b" else gzip.compress(raw)
            body = gz[:10] + bytes(b ^ 0x5A for b in gz[10:40]) + gz[40: max(41, int(len(gz) * m.cut))]
        elif m.op == "json_null":
            body = b"null"
        else:
            body = b"[]"
        return Reply(status, body, headers, ctype)
    doc = reply.body
    if isinstance(doc, bytes | str):
        return Reply(status, _mutate_text(doc, m), headers, ctype)
    doc = copy.deepcopy(doc)
    nodes = _nodes(doc)
    if not nodes:
        return Reply(status, VALUES[m.value % len(VALUES)], headers, ctype)
    parent, key = nodes[m.node % len(nodes)]
    if m.op == "drop":
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif m.op == "value":
        parent[key] = copy.deepcopy(VALUES[m.value % len(VALUES)])
    elif m.op == "stringify":
        parent[key] = json.dumps(parent[key], default=str) if not isinstance(parent[key], str) else 12345
    else:  # wrap_list
        parent[key] = [parent[key]]
    return Reply(status, json.dumps(doc, default=str, allow_nan=True).encode("utf-8", "surrogatepass"), headers,
                 ctype)


_COUNT_KEY = re.compile(r"total|count", re.I)


def record_removed(reply: Reply, m: Mutation) -> bool:
    """``m`` (applied to ``reply``) removes whole records from an answer that carries no count: an object of a
    list in a JSON body without any total/count field outside its lists, a list of objects replaced by ``[]`` in
    such a body (Walmart's unpublished counts with ``"payload": []`` is its real "nothing unpublished"), the only key
    of a body dropped (``{}`` is bol's real empty page), or a data line (not the header) of a flat file, which never
    has one."""
    if m.op == "value" and VALUES[m.value % len(VALUES)] == [] and not isinstance(reply.body, bytes | str):
        nodes = _nodes(reply.body)
        if not nodes:
            return False
        parent, key = nodes[m.node % len(nodes)]
        old = parent[key]
        return isinstance(old, list) and bool(old) and all(isinstance(x, dict) for x in old) and \
            not _has_count(reply.body)
    if m.op != "drop":
        return False
    doc = reply.body
    if isinstance(doc, bytes | str):
        raw = _encode(doc)
        try:
            text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8", "surrogatepass")
        except (OSError, UnicodeDecodeError, EOFError):
            return False
        lines = text.split("\n")
        i = m.node % max(1, len(lines))
        return i > 0 and bool(lines[i].strip())
    nodes = _nodes(doc)
    if not nodes:
        return False
    parent, key = nodes[m.node % len(nodes)]
    if parent is doc and isinstance(doc, dict) and len(doc) == 1:
        # the only key, a list of records, dropped: ``{}`` is left, bol's own "nothing" (an empty page)
        value = doc[key]
        return isinstance(value, list) and bool(value) and all(isinstance(x, dict) for x in value)
    return isinstance(parent, list) and isinstance(parent[key], dict) and not _has_count(doc)


def _has_count(doc: Any) -> bool:
    """A total/count field anywhere outside the lists of records (``paging.total``, ``meta.totalCount``...)."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if _COUNT_KEY.search(str(k)) and isinstance(v, int | str) and not isinstance(v, bool):
                    return True
                if isinstance(v, dict):
                    stack.append(v)
    return False


def _mutate_text(doc: bytes | str, m: Mutation) -> bytes:
    """Flat files (TSV/CSV, maybe gzip): replace one cell, drop one line, or drop a column of the header."""
    raw = _encode(doc)
    zipped = raw[:2] == b"\x1f\x8b"
    try:
        text = (gzip.decompress(raw) if zipped else raw).decode("utf-8", "surrogatepass")
    except (OSError, UnicodeDecodeError):
        return raw[: len(raw) // 2]
    lines = text.split("\n")
    i = m.node % max(1, len(lines))
    sep = "\t" if "\t" in lines[0] else ","
    cells = lines[i].split(sep)
    j = m.value % max(1, len(cells))
    if m.op == "drop":
        if i == 0 and len(cells) > 1:
            del cells[j]
            lines[0] = sep.join(cells)
        else:
            del lines[i]
    else:
        value = VALUES[m.value % len(VALUES)]
        cells[j] = "" if value is None else str(value)
        lines[i] = sep.join(cells)
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    return gzip.compress(data, compresslevel=1) if zipped else data


# -- one run ------------------------------------------------------------------------------------------------


def small_world(row: tuple[Any, ...], recent: int = 6) -> World:
    """The sandbox world cut to a few orders: the most recent ones plus one of each event kind (cancel, claim,
    return, feedback), and their messages: every stream has something to read, a run stays fast."""
    world = World(NOW, accounts=[row])
    for acc in world.accounts.values():
        keep = list(acc.orders[-recent:])
        for attr in ("cancel", "claim", "ret", "feedback"):
            keep += [o for o in acc.orders if getattr(o, attr, None) is not None][:1]
        ids = {o.id for o in keep}
        acc.orders = [o for o in acc.orders if o.id in ids]
        acc.messages = [m for m in acc.messages if m.order_id in ids][:4] or acc.messages[-2:]
    return world


def _fresh(world: World) -> World:
    """A deep copy of ``world`` for one run (the sandbox changes its world); its generation lock is a new one."""
    lock = getattr(world, "_gen_lock", None)
    return copy.deepcopy(world, {id(lock): threading.RLock()} if lock is not None else None)


def _refresh_token(query: str, body: bytes) -> str | None:
    """The refresh token a token request presents (query or form), to tell a lost reply from a bad state."""
    for source in (query, body.decode("utf-8", "replace") if body else ""):
        values = parse_qs(source).get("refresh_token")
        if values:
            return values[0]
    return None


class _Traces(logging.Handler):
    """Keeps the last frames of each traceback the sync runner logs at DEBUG (kind "internal")."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)[-2:]
            where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.line}" for f in reversed(frames))
            self.found.append(f"{type(exc).__name__}: {str(exc)[:120]} at {where}")


class _Box(Sandbox):
    """The sandbox without a server: the fake transport hands each request to ``dispatch``.

    A new one per run (the sandbox keeps tokens and state); the marketplace modules it registers are listed once
    per process (``pkgutil.iter_modules`` reads the package folder: ~3 % of an example's CPU otherwise)."""

    _modules: list[Any] | None = None

    def __init__(self, world: World, **kwargs: Any) -> None:
        if _Box._modules is None:
            _Box._modules = list(pkgutil.iter_modules(sandbox_package.__path__))
        with mock.patch.object(server_module.pkgutil, "iter_modules", lambda path: iter(_Box._modules or ())):
            super().__init__(world, **kwargs)

    @property
    def url(self) -> str:
        return f"http://{HOST}"


@dataclass
class Run:
    outcomes: list[Any] = field(default_factory=list)
    crash: str | None = None  # a traceback that escaped the sync
    responses: int = 0
    ids: dict[str, set[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    implausible: list[str] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)  # tracebacks the sync runner logged (kind "internal")
    mutated_path: str | None = None
    record_removed: bool = False  # the mutation removed a whole record from an answer without a count (undetectable)
    spent: str | None = None  # the refresh token presented by the request whose reply was mutated
    presented: list[str] = field(default_factory=list)  # refresh tokens presented, in order
    replies: list[tuple[str, Reply]] = field(default_factory=list)  # (path, clean reply) per response, in order
    unknown: set[str] = field(default_factory=set)  # ids of the orders stored with status "unknown"


@dataclass
class Finding:
    outcome: str  # one of OUTCOMES
    mutation: Mutation
    detail: str


class _Transport:
    """requests' transport replaced for one sync (``HTTPAdapter.send``, where ``responses`` patches too): each
    request goes to the in-process sandbox, one reply is mutated. No sockets, no URL registry to match."""

    def __init__(self, box: Sandbox, run: Run, mutation: Mutation | None) -> None:
        self.box, self.run, self.mutation = box, run, mutation

    def send(self, adapter: Any, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.hostname != HOST:  # nothing leaves the process
            raise requests.ConnectionError(f"the fuzz harness has no network: {parts.scheme}://{parts.netloc}")
        headers = dict(request.headers)
        headers["Host"] = parts.netloc
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        reply = self.box.dispatch(request.method or "GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                                  headers, body)
        run = self.run
        index = run.responses
        run.responses += 1
        presented = _refresh_token(parts.query, body)
        if presented is not None:
            run.presented.append(presented)
        run.replies.append((parts.path, reply))
        if self.mutation is not None and index == self.mutation.target:
            run.record_removed = record_removed(reply, self.mutation)
            reply = mutate(reply, self.mutation)
            run.mutated_path, run.spent = parts.path, presented
        data = json.dumps(reply.body, default=str).encode() if isinstance(reply.body, dict | list) else _encode(
            reply.body)
        response = requests.Response()
        response.status_code = reply.status
        response.headers = CaseInsensitiveDict({"Content-Type": reply.content_type, **reply.headers})
        response._content, response._content_consumed = data, True
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.reason = HTTPStatus(reply.status).phrase if reply.status in _STATUSES else ""
        response.url, response.request, response.connection = request.url or "", request, adapter
        return response


_STATUSES = {s.value for s in HTTPStatus}


class Harness:
    """One marketplace: a small world, one store reused (emptied between runs), and each stream's clean run.

    An example drives one stream (the one holding the mutated response) through ``sync_account``, the runner
    ``sellerguard sync`` uses for each account: connector fetch -> normalize -> schema -> store write -> cursor.
    """

    def __init__(self, marketplace: str, workdir: Path | None = None, per_day: int = 1,
                 store: Store | None = None) -> None:
        self.marketplace = marketplace
        row = next(r for r in DEFAULT_ACCOUNTS if r[1] == marketplace)
        self.account_row = (*row[:5], per_day, row[6])
        self.world = small_world(self.account_row)
        entries = demo_accounts(_Box(_fresh(self.world)))
        for entry in entries:
            entry["options"] = {**entry.get("options", {}), **OPTIONS.get(marketplace, {})}
        config = parse_config({"accounts": entries})
        self.account = config.accounts[0]
        self._own_store = store is None
        self._own_dir: Path | None = None
        if store is None:
            if workdir is None:
                workdir = self._own_dir = Path(tempfile.mkdtemp(prefix=f"sg-fuzz-{marketplace}-"))
            store = Store(f"sqlite:///{Path(workdir) / 'fuzz.db'}")
        self.store = store
        # One process: the store's named locks (the account's sync lock, each rate bucket's read-modify-write) as
        # process locks, what it uses for an in-memory database. On a SQLite file each is a lock file opened,
        # flocked and removed per marketplace request (~10 % of an example's CPU); what is fuzzed is fetch ->
        # normalize -> schema -> store write -> cursor, not cross-process exclusion (tests/test_store.py has that).
        store._lock_path = lambda name: None  # type: ignore[method-assign]
        keys.configure(self.store, key=config.store.key, config_path=config.source)
        self._tables = _data_tables(self.store)
        self.streams: tuple[str, ...] = tuple(connectors.get(marketplace).STREAMS)
        self.baselines: dict[str, Run] = {}
        self._refs: dict[tuple[str, str], str] = {}  # (kind, external id) -> order_ref, of the clean runs
        self.last: tuple[Run, Run] | None = None  # the (mutated, clean) runs of the last ``check``
        for stream in self.streams:
            base = self.run(stream, None)
            if base.crash or not all(o.ok for o in base.outcomes):
                why = base.crash or self._errors(base)
                raise AssertionError(f"{marketplace}: the clean run of {stream} fails: {why}")
            self.baselines[stream] = base
            self._refs.update(order_refs(self.store))
        self.baseline = Run(responses=sum(b.responses for b in self.baselines.values()))

        for base in self.baselines.values():
            for kind, ids in base.ids.items():
                self.baseline.ids.setdefault(kind, set()).update(ids)
        self.baseline.counts = {k: len(v) for k, v in self.baseline.ids.items()}

    def close(self) -> None:
        """Close the store it opened and remove the folder it made (nothing of a store passed in)."""
        if self._own_store:
            self.store.close()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    @staticmethod
    def _errors(run: Run) -> list[str]:
        return [o.error for o in run.outcomes if not o.ok]

    def _reset(self) -> None:
        """Empty every table (the schema and the store's key stay): the next run starts from a new database."""
        with self.store.engine.begin() as conn:
            for name in self._tables:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')

    def find(self, stream: str, path_part: str, op: str, key: str | None = None) -> Mutation:
        """The mutation ``op`` of the first response of ``stream``'s clean run whose path holds ``path_part``; with
        ``key``, of the first such response holding ``key``, at that key's node (``drop`` of a page's list key)."""
        for target, (path, reply) in enumerate(self.baselines[stream].replies):
            if path_part not in path:
                continue
            node = 0
            if key is not None:
                node = next((i for i, (_, k) in enumerate(_nodes(reply.body)) if k == key), -1)
                if node < 0:
                    continue  # an answer without the key (bol's empty day is {}): the next one
            return Mutation(target, op, node=node, stream=stream)
        raise LookupError(f"{self.marketplace} {stream}: no response under {path_part!r} in the clean run")

    def locate(self, mutation: Mutation) -> Mutation:
        """The mutation with its stream and its response index within that stream's run."""
        if mutation.stream:
            return mutation
        at = mutation.target % max(1, self.baseline.responses)
        for stream, base in self.baselines.items():
            if at < base.responses:
                return replace(mutation, target=at, stream=stream)
            at -= base.responses
        return replace(mutation, target=0, stream=self.streams[0])

    def run(self, stream: str, mutation: Mutation | None, *, then_clean: bool = False) -> Any:
        """Sync ``stream`` on an emptied store against a fresh copy of the world (``mutation`` applied); with
        ``then_clean``, a clean sync of the same stream 10 minutes later: (first, second)."""
        self._reset()
        clock = FixedClock(NOW)
        box = _Box(_fresh(self.world), clock=clock)
        first = self._sync(box, stream, clock, mutation)
        if not then_clean:
            return first
        clock.advance(minutes=10)
        return first, self._sync(box, stream, clock, None, after=first)

    def _sync(self, box: Sandbox, stream: str, clock: FixedClock, mutation: Mutation | None,
              after: Run | None = None) -> Run:
        run = Run()
        transport = _Transport(box, run, mutation)
        traces = _Traces()
        sync_log = logging.getLogger("sellerguard.sync")
        sync_log.addHandler(traces)
        level = sync_log.level
        sync_log.setLevel(logging.DEBUG)
        try:
            with mock.patch.object(HTTPAdapter, "send", lambda adapter, request, **kw: transport.send(
                    adapter, request, **kw)):
                run.outcomes = [sync_account(self.account, self.store, clock=clock, sleep=clock.sleep,
                                             streams=[stream], lock_wait_s=0)]
        except BaseException:  # what the fuzz test is looking for
            run.crash = traceback.format_exc(limit=-4)
        finally:
            sync_log.removeHandler(traces)
            sync_log.setLevel(level)
        run.traces = traces.found
        if after is not None and not run.crash and run.outcomes and not any(o.changed for o in run.outcomes):
            # nothing written (records are only upserted): the store holds what ``after`` saw
            run.ids, run.counts, run.implausible = after.ids, after.counts, after.implausible
            run.unknown = after.unknown
        else:
            run.ids, run.counts = stored_ids(self.store)
            run.implausible = implausible(self.store)
            run.unknown = unknown_orders(self.store)
        return run

    def _kept_unknown(self, run: Run, missing: dict[str, set[str]]) -> bool:
        """Every missing record hangs off an order the run stored with status "unknown" (``KEPT_UNKNOWN``)."""
        refs = [self._refs.get((kind, i)) for kind, ids in missing.items() for i in ids]
        return bool(refs) and all(ref is not None and ref in run.unknown for ref in refs)

    def check(self, mutation: Mutation) -> list[Finding]:
        """Run the mutation, then a clean sync; the findings (empty: all four outcomes held)."""
        mutation = self.locate(mutation)
        base = self.baselines[mutation.stream]
        first, second = self.run(mutation.stream, mutation, then_clean=True)
        self.last = (first, second)
        found: list[Finding] = []
        internal = [o.error for o in first.outcomes if o.error_kind == "internal"]
        if first.crash or internal:
            trace = " | ".join(first.traces)
            found.append(Finding("traceback", mutation, first.crash or f"{internal[0]} :: {trace}"))
        bad = first.implausible or second.implausible
        dropped = UNDETECTABLE if first.record_removed else "dropped"
        if bad:
            found.append(Finding("implausible", mutation, bad[0]))
        if first.outcomes and all(o.ok for o in first.outcomes):
            short = {k: f"{first.counts.get(k, 0)} of {n}" for k, n in base.counts.items()
                     if first.counts.get(k, 0) < n}
            lost = {k: ids - first.ids.get(k, set()) for k, ids in base.ids.items() if ids - first.ids.get(k, set())}
            if short and dropped != UNDETECTABLE and self._kept_unknown(first, lost):
                dropped = KEPT_UNKNOWN
            if short:
                found.append(Finding(dropped, mutation, f"sync ok but fewer records than the clean run: {short}"))
        # A single-use refresh token (Mercado Libre) spent by the marketplace whose reply we garbled is gone for
        # anyone: not a connector fault when the clean sync presents that same old token again and is refused.
        if first.spent is not None and second.presented[:1] == [first.spent]:
            return found
        missing = {k: sorted(ids - second.ids.get(k, set()))[:3] for k, ids in base.ids.items()
                   if ids - second.ids.get(k, set()) and not _renamed(mutation, ids, second.ids.get(k, set()))}
        if missing and dropped == "dropped" and self._kept_unknown(
                second, {k: base.ids[k] - second.ids.get(k, set()) for k in missing}):
            dropped = KEPT_UNKNOWN
        if missing and not any(f.outcome == dropped for f in found):
            found.append(Finding(dropped, mutation, f"still missing after a clean sync: {missing}"))
        if second.crash or not second.outcomes or not all(o.ok for o in second.outcomes):
            found.append(Finding("bad_state", mutation,
                                 second.crash or "; ".join(self._errors(second)) or "no outcome"))
        return found


def _data_tables(store: Store) -> list[str]:
    """Every table but Alembic's, children first: what ``_reset`` empties."""
    meta = MetaData()
    meta.reflect(store.engine)
    return [t.name for t in reversed(meta.sorted_tables) if t.name != "alembic_version"]


def _renamed(m: Mutation, expected: set[str], stored: set[str]) -> bool:
    """The record is there under the id the mutated response gave it (an id replaced by another plausible id):
    stored as sent, not dropped."""
    if m.op not in ("value", "stringify"):
        return False
    # stringify turns a string id into the number 12345 (mutate): a numeric id is stored as "12345"
    text = "12345" if m.op == "stringify" else str(VALUES[m.value % len(VALUES)]).strip()  # may be stripped
    extra = [i for i in stored - expected if text and text.lower() in i.lower()]  # ids may be upper-cased
    return 0 < len(expected - stored) <= len(extra)


def random_mutation(rng: Any, responses_in_run: int) -> Mutation:
    """A mutation drawn from ``rng`` (random.Random): the script's 1,000-per-connector runs."""
    op = rng.choice(BODY_OPS) if rng.random() < 0.25 else rng.choice(NODE_OPS)
    return Mutation(target=rng.randrange(max(1, responses_in_run)), op=op, node=rng.randrange(10_000),
                    value=rng.randrange(len(VALUES)), cut=rng.random())


@contextmanager
def quiet() -> Iterator[None]:
    """Connectors rightly warn about the garbage fed to them: silence them (levels restored after), keeping the
    sync runner's DEBUG tracebacks for the findings."""
    names = ("sellerguard.connectors", "sellerguard.http", "sellerguard.rules")
    before = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def mutations() -> Any:
    """The Hypothesis strategy of mutations (the target is taken modulo the clean run's response count)."""
    from hypothesis import strategies as st

    return st.builds(Mutation, target=st.integers(0, 10_000),
                     op=st.sampled_from(BODY_OPS + NODE_OPS + NODE_OPS),
                     node=st.integers(0, 10_000), value=st.integers(0, len(VALUES) - 1),
                     cut=st.floats(0, 1))


# -- what the store holds ------------------------------------------------------------------------------------


def unknown_orders(store: Store) -> set[str]:
    """External ids of the orders stored with status "unknown"."""
    with store.engine.connect() as conn:
        return {i for (i,) in conn.exec_driver_sql("SELECT external_id FROM orders WHERE status = 'unknown'")}


def order_refs(store: Store) -> dict[tuple[str, str], str]:
    """{(kind, external id): order_ref} of every stored record that hangs off an order."""
    found: dict[tuple[str, str], str] = {}
    with store.engine.connect() as conn:
        for kind, table in RECORD_TABLES.items():
            if "order_ref" not in table.__table__.c:  # type: ignore[attr-defined]
                continue
            name = table.__tablename__  # type: ignore[attr-defined]
            for external_id, ref in conn.exec_driver_sql(
                    f'SELECT external_id, order_ref FROM "{name}" WHERE order_ref IS NOT NULL'):
                found[(kind, external_id)] = ref
    return found


def stored_ids(store: Store) -> tuple[dict[str, set[str]], dict[str, int]]:
    """{record kind: external ids} and their counts, in one query."""
    tables = {RECORD_TABLES[k].__tablename__: k for k in RECORD_TABLES}  # type: ignore[attr-defined]
    union = " UNION ALL ".join(f"SELECT '{name}', external_id FROM \"{name}\"" for name in tables)
    ids: dict[str, set[str]] = {}
    with store.engine.connect() as conn:
        for name, external_id in conn.exec_driver_sql(union):
            ids.setdefault(tables[name], set()).add(external_id)
    return ids, {k: len(v) for k, v in ids.items()}


_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MONEY = re.compile(r"amount|total|price|subtotal|refund|fee|cost", re.I)
EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)
LATEST = NOW + timedelta(days=8)  # the clean follow-up sync runs 10 minutes later


def implausible(store: Store) -> list[str]:
    """Stored values no marketplace would send; each as "kind.column=value (external id)".

    Read through the tables' own column types (dates as datetimes, JSON as lists), one SELECT per table."""
    problems: list[str] = []
    with store.engine.connect() as conn:
        for kind, table in RECORD_TABLES.items():
            for row in conn.execute(_select_all(table)).mappings():
                where = f"{kind}[{show(row.get('external_id'))}]"
                for col, v in row.items():
                    bad = _bad_value(col, v)
                    if bad:
                        problems.append(f"{where}.{col}={show(v)}: {bad}")
    return problems


_SELECTS: dict[Any, Any] = {}


def _select_all(table: Any) -> Any:
    """``SELECT *`` of a record table, built once (SQLAlchemy caches its compiled form by the statement)."""
    if table not in _SELECTS:
        _SELECTS[table] = select(table.__table__)
    return _SELECTS[table]


def _bad_value(col: str, v: Any) -> str | None:
    if v is None or col in ("id", "raw_hash"):
        return None
    if isinstance(v, datetime):
        aware = v if v.tzinfo else v.replace(tzinfo=UTC)
        # promises, deadlines and a projected metric's window (eBay's next evaluation) lie ahead
        ahead = col.endswith("_by") or "deadline" in col or col == "window_end"
        latest = LATEST + timedelta(days=120) if ahead else LATEST
        return "date out of range" if not EARLIEST <= aware <= latest else None
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return "negative or absurd count" if v < 0 or v > 10**9 else None
    if isinstance(v, float):
        if not math.isfinite(v):
            return "not finite"
        return "negative" if v < 0 and "delta" not in col else None
    if isinstance(v, Decimal):
        v = str(v)
    if isinstance(v, str):
        is_id = col in ("external_id", "account", "order_id", "order_ref") or col.endswith("_id")
        if is_id and (not v.strip() or v.strip().lower() in ("nan", "null", "none") or _CONTROL.search(v)):
            return "not an id"
        if "\x00" in v or re.search(r"[\ud800-\udfff]", v):
            return "NUL or lone surrogate in text"
        if _MONEY.search(col):
            try:
                amount = Decimal(v)
            except InvalidOperation:
                return None
            if not amount.is_finite() or amount < 0 or amount > 10**9:
                return "not a plausible amount"
    if isinstance(v, list):
        for item in v:
            if isinstance(item, dict):
                for k, x in item.items():
                    if bad := _bad_value(k, x):
                        return f"{k}: {bad}"
    return None
