"""A lean keep-alive GET transport for per-order detail calls (issue 21): http.client over pooled connections.

``requests`` spends ~1.2-1.5 ms of CPU per small GET on loopback (request preparation, hooks, cookie merging,
urllib3's pool bookkeeping); the same GET over a kept-alive ``http.client`` connection takes ~0.3 ms. An eBay
backfill makes one ``shipping_fulfillment`` call per shipped order, so that difference is most of its HTTP cost.

``LeanTransport.request`` answers exactly what ``requests.Session.request`` would for the calls it takes, as a
``requests.Response`` (status, reason, headers, decoded body, url), so ``HttpClient``'s error table, retries,
rate buckets, token refresh, request ids and masking stay the same code. It takes a call only when nothing
requests would do differently applies, and hands every other call to the session:

- a plain GET without query parameters or other arguments, on http or https;
- the session is a bare ``PooledSession`` (no mounted adapter other than requests' own, nothing patched:
  the ``responses`` mock patches ``HTTPAdapter.send``), with no cookies, auth, proxies, client cert or hooks;
- the environment gives the host no proxy and ``~/.netrc`` no login (both read once per host: the session's
  cache), and TLS verification is on (``verify`` True or a CA bundle path);
- a redirect answer (3xx with Location) is re-sent through the session, which follows it; an answer setting a
  cookie is returned and the transport then steps aside for good (the session would have kept the cookie).

Errors are the ones requests raises (``ConnectTimeout``, ``ReadTimeout``, ``ConnectionError``, ``SSLError``,
``ChunkedEncodingError``, ``ContentDecodingError``), so ``HttpClient._send`` sorts them the same way. A kept
connection the server closed while idle is re-opened once, before anything of the answer was read (as urllib3
does). Connections: at most ``MAX_IDLE`` kept per host; any number in flight (one per calling thread).
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import weakref
import zlib
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

_SEND = HTTPAdapter.send  # requests' own; a mock (responses) replaces it on the class


def _requests_own_send() -> bool:
    """Whether ``HTTPAdapter.send`` is requests' own (not a test mock, even one patched before this import)."""
    send = HTTPAdapter.send
    return send is _SEND and getattr(send, "__module__", None) == "requests.adapters"
MAX_IDLE = 10  # kept connections per host, as requests' default pool
_DEFAULTS = {"Accept-Encoding": "gzip, deflate", "Accept": "*/*", "Connection": "keep-alive"}
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class LeanTransport:
    """GETs over pooled ``http.client`` connections for ``session`` (a ``sellerguard.http.PooledSession``)."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session
        self.off = False  # set when an answer set a cookie: from then on every call goes through the session
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._hosts: dict[tuple[str, str], tuple[bool, Any]] = {}  # (scheme, netloc) -> (usable, verify)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        # kept connections are closed when the transport goes (as urllib3 closes a pool's): no socket left open
        weakref.finalize(self, _close_all, self._idle, self._lock)

    def close(self) -> None:
        _close_all(self._idle, self._lock)

    # -- eligibility ---------------------------------------------------------------------------------------

    def _host(self, scheme: str, netloc: str, url: str) -> tuple[bool, Any]:
        known = self._hosts.get((scheme, netloc))
        if known is None:
            s = self.session
            settings = s.merge_environment_settings(url, {}, None, None, None)
            verify = settings["verify"]
            adapter = s.get_adapter(url)
            usable = (type(adapter) is HTTPAdapter and not settings["proxies"].get(scheme)
                      and not settings["proxies"].get("all") and settings["cert"] is None
                      and (verify is True or isinstance(verify, str))
                      and adapter.max_retries.total == 0 and netloc.isascii()
                      and not (s.trust_env and requests.utils.get_netrc_auth(url)))
            known = (usable, verify)
            self._hosts[(scheme, netloc)] = known
        return known

    def takes(self, method: str, url: str, kw: dict[str, Any]) -> bool:
        """Whether this call can go over the lean path (else: the session)."""
        s = self.session
        if self.off or method != "GET" or kw or not _requests_own_send() or s.auth is not None \
                or len(s.cookies) or s.proxies or s.cert is not None or s.verify is not True \
                or any(s.hooks.values()):
            return False
        scheme, netloc = url.split("://", 1)[0].lower(), urlsplit(url).netloc
        return scheme in ("http", "https") and "?" not in url and self._host(scheme, netloc, url)[0]

    # -- the call ------------------------------------------------------------------------------------------

    def request(self, method: str, url: str, *, headers: dict[str, str], timeout: tuple[float, float],
                **kw: Any) -> requests.Response:
        """``session.request(method, url, headers=headers, timeout=timeout, **kw)``, lean when ``takes``."""
        if not self.takes(method, url, kw):
            return self.session.request(method, url, headers=headers, timeout=timeout, **kw)
        url = requests.utils.requote_uri(url)
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
        port = port or (443 if scheme == "https" else 80)
        target = parts.path or "/"
        sent = {**_DEFAULTS, **headers}
        if parts.netloc and "Host" not in sent:
            sent["Host"] = parts.netloc.rsplit("@", 1)[-1]
        key = (scheme, host, port)
        status, reason, pairs, body = self._exchange(key, parts.netloc, url, target, sent, timeout)
        if 300 <= status < 400 and any(k.lower() == "location" for k, _ in pairs):
            return self.session.request(method, url, headers=headers, timeout=timeout)
        return self._response(url, status, reason, pairs, body)

    def _exchange(self, key: tuple[str, str, int], netloc: str, url: str, target: str, headers: dict[str, str],
                  timeout: tuple[float, float]) -> tuple[int, str, list[tuple[str, str]], bytes]:
        for attempt in (0, 1):
            conn, reused = self._take(key, netloc, url, timeout)
            try:
                conn.timeout = timeout[1]
                if conn.sock is not None:
                    conn.sock.settimeout(timeout[1])
                conn.request("GET", target, headers=headers)
                answer = conn.getresponse()
            except _STALE:
                conn.close()
                if reused and attempt == 0:  # the server closed the kept connection while it was idle
                    continue
                raise requests.ConnectionError(f"connection to {key[1]} closed before an answer") from None
            except TimeoutError:
                conn.close()
                raise requests.ReadTimeout(f"{key[1]}: no answer within {timeout[1]} s") from None
            except ssl.SSLError as exc:
                conn.close()
                raise requests.exceptions.SSLError(str(exc)) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise requests.ConnectionError(f"{key[1]}: {type(exc).__name__}") from None
            try:
                raw = answer.read()
            except TimeoutError:
                conn.close()
                raise requests.ReadTimeout(f"{key[1]}: the answer stalled past {timeout[1]} s") from None
            except (http.client.IncompleteRead, OSError, http.client.HTTPException) as exc:
                conn.close()
                raise requests.exceptions.ChunkedEncodingError(f"{key[1]}: {type(exc).__name__}") from None
            pairs = answer.getheaders()
            if answer.will_close:
                conn.close()
            else:
                self._give(key, conn)
            return answer.status, answer.reason, pairs, raw
        raise AssertionError("unreachable")

    def _take(self, key: tuple[str, str, int], netloc: str, url: str,
              timeout: tuple[float, float]) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=timeout[0],
                                               context=self._context(self._host(scheme, netloc, url)[1]))
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout[0])
        try:
            conn.connect()
        except TimeoutError:
            conn.close()
            raise requests.ConnectTimeout(f"{host}: no connection within {timeout[0]} s") from None
        except ssl.SSLError as exc:
            conn.close()
            raise requests.exceptions.SSLError(str(exc)) from None
        except OSError as exc:
            conn.close()
            raise requests.ConnectionError(f"cannot connect to {host}: {type(exc).__name__}") from None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3
        return conn, False

    def _give(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _context(self, verify: Any) -> ssl.SSLContext:
        where = verify if isinstance(verify, str) else requests.certs.where()
        ctx = self._contexts.get(where)
        if ctx is None:
            import os

            ctx = ssl.create_default_context(**({"capath": where} if os.path.isdir(where) else {"cafile": where}))
            self._contexts[where] = ctx
        return ctx

    def _response(self, url: str, status: int, reason: str, pairs: list[tuple[str, str]],
                  raw: bytes) -> requests.Response:
        merged: dict[str, str] = {}
        for name, value in pairs:  # repeated headers joined as urllib3 does
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        head = CaseInsensitiveDict(merged)
        if "set-cookie" in head:
            self.off = True  # the session keeps cookies; from now on it makes the calls
            self.session.cookies.extract_cookies(requests.cookies.MockResponse(_Msg(pairs)),  # type: ignore[arg-type]
                                                 requests.cookies.MockRequest(requests.Request("GET", url).prepare()))
        coding = head.get("content-encoding", "").strip().lower()
        try:
            if coding in ("gzip", "x-gzip"):
                raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS) if raw else raw
            elif coding == "deflate":
                try:
                    raw = zlib.decompress(raw) if raw else raw
                except zlib.error:  # raw deflate, as urllib3 also accepts
                    raw = zlib.decompress(raw, -zlib.MAX_WBITS)
        except zlib.error as exc:
            raise requests.exceptions.ContentDecodingError(f"corrupt {coding} body: {exc}") from None
        response = requests.Response()
        response.status_code, response.reason, response.headers = status, reason, head
        response._content, response.url = raw, url  # type: ignore[attr-defined]
        response.encoding = requests.utils.get_encoding_from_headers(head)
        return response


def _close_all(idle: dict[Any, list[http.client.HTTPConnection]], lock: threading.Lock) -> None:
    with lock:
        conns = [conn for kept in idle.values() for conn in kept]
        idle.clear()
    for conn in conns:
        conn.close()


class _Msg:
    """What ``http.cookiejar`` reads of an answer's headers."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get_all(self, name: str, default: Any = None) -> list[str]:
        found = [v for k, v in self._pairs if k.lower() == name.lower()]
        return found or default
