"""The loopback marketplace sandbox: real HTTP on 127.0.0.1, one path prefix per marketplace.

``http://127.0.0.1:PORT/amazon/orders/2026-01-01/orders`` is Amazon's real path under the ``/amazon`` prefix, so
a connector only needs its ``base_url`` pointed here. Each ``sellerguard/sandbox/<marketplace>.py`` module
registers its routes with ``register(sandbox)`` and renders the shared ``World`` in that marketplace's shapes.

Faults on request, in process (``sandbox.inject(...)``) or over HTTP (``POST /_sandbox/faults``): a status
with Retry-After (429, 5xx), a delay, a malformed body, or expired tokens. ``POST /_sandbox/inject`` turns clean
orders into defects (late shipment, negative feedback, seller cancel) as a live marketplace would.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sellerguard.clock import Clock, SystemClock
from sellerguard.sandbox.world import WAccount, World

_NOT_MARKETPLACES = {"server", "world", "authorize"}


@dataclass
class Request:
    method: str
    path: str  # the marketplace's own path, prefix removed
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes / str sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Fault:
    marketplace: str  # "*" for any
    path: re.Pattern[str]
    status: int | None = None
    retry_after: str | None = None
    body: Any = None
    delay_s: float = 0
    malformed: bool = False
    times: int = 1


Handler = Callable[[Request], Reply | None]  # None: not mine, the next matching route answers


@dataclass
class _Token:
    account: str
    expires_at: datetime


class Sandbox:
    def __init__(self, world: World | None = None, *, clock: Clock | None = None, host: str = "127.0.0.1",
                 port: int = 0, seed: int = 7, scale: float = 1.0) -> None:
        self.clock = clock or SystemClock()
        self.world = world or World(self.clock.now(), seed=seed, scale=scale)
        self.host, self._port = host, port
        self._routes: list[tuple[str, str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, str]] = []  # (marketplace, method, path) of every request
        self._server: ThreadingHTTPServer | None = None
        self.marketplaces: list[str] = []
        for info in pkgutil.iter_modules(__import__("sellerguard.sandbox", fromlist=["x"]).__path__):
            if info.name.startswith("_") or info.name in _NOT_MARKETPLACES:
                continue
            module = importlib.import_module(f"sellerguard.sandbox.{info.name}")
            if hasattr(module, "register"):
                module.register(self)
                self.marketplaces.append(getattr(module, "MARKETPLACE", info.name))
        from sellerguard.sandbox import authorize  # consent pages and code exchanges, across marketplaces

        authorize.register(self)

    # -- routes and tokens (used by the marketplace modules) --------------------------------------------

    def route(self, marketplace: str, method: str, pattern: str, *,
              first: bool = False) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            entry = (marketplace, method.upper(), re.compile(pattern), handler)
            if first:
                self._routes.insert(0, entry)
            else:
                self._routes.append(entry)
            return handler

        return add

    def issue_token(self, marketplace: str, account: str, ttl_s: float, prefix: str = "sbx") -> tuple[str, datetime]:
        token = f"{prefix}-{marketplace}-{secrets.token_hex(12)}"
        expires = self.clock.now() + timedelta(seconds=ttl_s)
        with self._lock:
            self._tokens[token] = _Token(account, expires)
        return token, expires

    def token_account(self, token: str | None) -> WAccount | None:
        """The world account a live token belongs to; None when unknown or expired."""
        if not token:
            return None
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry.expires_at <= self.clock.now():
            return None
        return self.world.accounts.get(entry.account)

    def expire_tokens(self, marketplace: str = "*") -> None:
        with self._lock:
            for token, entry in self._tokens.items():
                if marketplace == "*" or f"-{marketplace}-" in token:
                    entry.expires_at = datetime(2000, 1, 1, tzinfo=UTC)

    # -- faults -----------------------------------------------------------------------------------------

    def inject(self, marketplace: str = "*", path: str = ".*", *, status: int | None = None,
               retry_after: str | None = None, body: Any = None, delay_s: float = 0, malformed: bool = False,
               times: int = 1) -> None:
        with self._lock:
            self._faults.append(Fault(marketplace, re.compile(path), status, retry_after, body, delay_s,
                                      malformed, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, marketplace: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.marketplace in ("*", marketplace) and fault.path.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- serving ----------------------------------------------------------------------------------------

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        segments = parts.path.split("/", 2)
        marketplace = segments[1] if len(segments) > 1 else ""
        path = "/" + (segments[2] if len(segments) > 2 else "")
        query = parse_qs(parts.query, keep_blank_values=True)
        if marketplace == "_sandbox":
            return self._control(method, path, body)
        with self._lock:
            self.log.append((marketplace, method, path))
        fault = self._take_fault(marketplace, path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)  # a real slow response, on the server's own thread
            if fault.status is not None:
                hdrs = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return Reply(fault.status, fault.body if fault.body is not None else {"error": "injected fault"}, hdrs)
        request = Request(method, path, query, {k.lower(): v for k, v in headers.items()}, body)
        for mp, m, pattern, handler in self._routes:
            if mp == marketplace and m == method and (match := pattern.fullmatch(path)):
                request.match = match
                reply = handler(request)
                if reply is None:
                    continue
                if fault is not None and fault.malformed:
                    reply = Reply(reply.status, b'{"truncated": [', reply.headers)
                return reply
        return Reply(404, {"error": f"no sandbox route for {method} /{marketplace}{path}"})

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        data = json.loads(body or b"{}")
        if method == "POST" and path == "/faults":
            self.inject(**data)
            return Reply(204, b"")
        if method == "POST" and path == "/expire-tokens":
            self.expire_tokens(data.get("marketplace", "*"))
            return Reply(204, b"")
        if method == "POST" and path == "/inject":
            ids = self.world.inject(data["account"], data["kind"], int(data.get("count", 1)), self.clock.now())
            return Reply(200, {"orders": ids})
        if method == "GET" and path == "/accounts":
            return Reply(200, [{"id": a.id, "marketplace": a.marketplace, "profile": a.profile}
                               for a in self.world.accounts.values()])
        return Reply(404, {"error": "unknown sandbox control path"})

    def base_url(self, marketplace: str) -> str:
        return f"{self.url}/{marketplace}"

    @property
    def url(self) -> str:
        assert self._server is not None, "sandbox not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Sandbox:
        sandbox = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    reply = sandbox.dispatch(self.command, self.path, dict(self.headers.items()), body)
                except Exception as exc:  # a sandbox bug must show as a 500, not a hung client
                    reply = Reply(500, {"error": f"sandbox error: {type(exc).__name__}: {exc}"})
                if isinstance(reply.body, bytes):
                    data = reply.body
                elif isinstance(reply.body, str):
                    data = reply.body.encode()
                else:
                    data = json.dumps(reply.body, default=str).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and demo read sandbox.log
                pass

        self._server = ThreadingHTTPServer((self.host, self._port), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name="sellerguard-sandbox", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
