"""Per-order detail calls (``HttpClient.get_each``) through the client's pooled requests session: the usual answers
and errors over one kept connection, redirects, cookies, mocks and certificate checks as requests does them. A
loopback server in a thread; no sleeps (retries sleep through the clock)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses

from sellerguard.errors import ConnectorError
from sellerguard.http import ExpiredShape, HttpClient


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
            self.send_header(k.replace("_", "-"), v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        kind, _, n = self.path.strip("/").partition("/")
        if kind == "item":
            self._send(200, json.dumps({"n": int(n), "auth": self.headers.get("Authorization")}).encode())
        elif kind == "gzip":
            self._send(200, gzip.compress(b'{"zipped": true}'), Content_Encoding="gzip")
        elif kind == "flaky":
            self.server.flaky += 1
            self._send(503, b"{}") if self.server.flaky == 1 else self._send(200, b'{"second": true}')
        elif kind == "close":
            self._send(200, b'{"closing": true}', Connection="close")
            self.close_connection = True
        elif kind == "moved":
            self._send(302, b"", Location="/item/7")
        elif kind == "cookie":
            self._send(200, b'{"cookie": true}', Set_Cookie="sid=abc; Path=/")
        elif kind == "expired":
            self._send(200, b'{"message": "invalid access token"}')
        else:
            self._send(404, b'{"errors": [{"message": "no such thing"}]}')


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.connections, srv.paths, srv.flaky = 0, [], 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _client(clock: Any, srv: ThreadingHTTPServer, **kw: Any) -> HttpClient:
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    return HttpClient(base_url=base, marketplace="example", clock=clock, sleep=clock.sleep,
                      auth=lambda h: h.update({"Authorization": "Bearer t"}), **kw)


def test_detail_calls_share_one_kept_connection(clock, server):
    http = _client(clock, server)
    assert http.get_each([f"/item/{n}" for n in range(20)]) == [{"n": n, "auth": "Bearer t"} for n in range(20)]
    assert server.connections == 1 and http.calls == 20  # type: ignore[attr-defined]
    assert http.get_each(["/gzip/1"]) == [{"zipped": True}]  # Content-Encoding decoded, as requests does


def test_concurrent_detail_calls_keep_page_order(clock, server):
    http = _client(clock, server)
    assert http.get_each([f"/item/{n}" for n in range(40)], workers=4) == \
        [{"n": n, "auth": "Bearer t"} for n in range(40)]
    assert server.connections <= 4  # type: ignore[attr-defined]


def test_errors_retries_and_closed_connections_behave_as_before(clock, server):
    http = _client(clock, server)
    assert http.get_each(["/flaky/1"]) == [{"second": True}]  # 503 retried (through the clock's sleep)
    assert len(clock.slept) == 1
    assert http.get_each(["/close/1", "/item/1", "/item/2"])[1:] == [{"n": 1, "auth": "Bearer t"},
                                                                     {"n": 2, "auth": "Bearer t"}]
    with pytest.raises(ConnectorError) as exc:
        http.get_each(["/missing/1"])
    assert exc.value.kind == "config" and "HTTP 404" in str(exc.value) and "no such thing" in str(exc.value)


def test_a_kept_connection_closed_by_the_server_is_reopened_once(clock, server):
    http = _client(clock, server)
    http.get_each(["/item/1"])
    url = f"{http.base_url}/item/1"
    pools = http.session.get_adapter(url).poolmanager.pools  # requests' own urllib3 pools
    kept = [conn for key in pools.keys() for conn in list(pools[key].pool.queue)  # noqa: SIM118 (no iter)
            if conn is not None and conn.sock is not None]
    assert kept  # the keep-alive connection requests' pool holds
    for conn in kept:
        conn.sock.shutdown(socket.SHUT_RDWR)  # as a server dropping an idle keep-alive connection
    assert http.get_each(["/item/2"]) == [{"n": 2, "auth": "Bearer t"}]


def test_unreachable_host_is_the_connection_rule(clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    http = HttpClient(base_url=f"http://127.0.0.1:{port}", marketplace="example", clock=clock, sleep=clock.sleep,
                      max_attempts=2)
    with pytest.raises(ConnectorError) as exc:
        http.get_each(["/item/1"])
    assert exc.value.kind == "wait" and "cannot reach the marketplace" in str(exc.value)


def test_redirects_and_cookies_as_requests_does(clock, server):
    http = _client(clock, server)
    assert http.get_each(["/moved/1"]) == [{"n": 7, "auth": "Bearer t"}]
    assert http.get_each(["/cookie/1"]) == [{"cookie": True}]
    assert http.session.cookies.get("sid") == "abc"  # the session keeps it and sends it from now on


def test_mocks_and_other_sessions_see_detail_calls(clock, server):
    http = _client(clock, server)
    url = f"{http.base_url}/item/1"
    with responses.RequestsMock() as mock:  # a mock of requests sees the calls
        mock.get(url, json={"mocked": True})
        assert http.get_each(["/item/1"]) == [{"mocked": True}]
    other = _client(clock, server, session=requests.Session())
    assert other.get_each(["/item/3"]) == [{"n": 3, "auth": "Bearer t"}]


def test_a_200_body_is_not_decoded_for_shapes_of_other_statuses(clock, server, monkeypatch):
    from sellerguard import http as http_module

    decoded = []
    real = http_module._json_or_none
    monkeypatch.setattr(http_module, "_json_or_none", lambda r: decoded.append(r.status_code) or real(r))
    http = _client(clock, server, expired=(ExpiredShape(status=401, text="invalid access token"),))
    assert http.get_json("/expired/1") == {"message": "invalid access token"}  # a 200 quoting it is data
    assert decoded == []
    anywhere = _client(clock, server, expired=(ExpiredShape(text="invalid access token"),), max_attempts=2)
    with pytest.raises(ConnectorError):  # a shape for any status still reads a 200 body
        anywhere.get_json("/expired/1")
    assert decoded


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key (PEM files), signed by itself."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_verifies_the_certificate_as_requests_does(clock, tmp_path, monkeypatch):
    import ssl

    cert, key = _self_signed(tmp_path)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.connections, srv.paths, srv.flaky = 0, [], 0  # type: ignore[attr-defined]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        base = f"https://127.0.0.1:{srv.server_address[1]}"
        untrusted = HttpClient(base_url=base, marketplace="example", clock=clock, sleep=clock.sleep, max_attempts=1)
        with pytest.raises(ConnectorError) as exc:  # not in the CA bundle: refused, as requests refuses it
            untrusted.get_each(["/item/1"])
        assert exc.value.kind == "wait" and "cannot reach the marketplace" in str(exc.value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)  # the environment's bundle, read once per host
        trusted = HttpClient(base_url=base, marketplace="example", clock=clock, sleep=clock.sleep)
        assert trusted.get_each(["/item/1", "/item/2"]) == [{"n": 1, "auth": None}, {"n": 2, "auth": None}]
        assert srv.connections >= 1  # type: ignore[attr-defined]
    finally:
        srv.shutdown()
        srv.server_close()
