"""The SMTP password never leaves in the base64 a server may echo (AUTH PLAIN / LOGIN), nor in any other shape.

A loopback aiosmtpd server (STARTTLS, trustme CA) refuses every login and echoes what it was sent, in the shapes a
real server's 535 text has been seen to carry: the AUTH PLAIN blob, the AUTH LOGIN password, the password inside a
longer base64 text, and the password itself. The refusal must reach the outbox error with the code, and no shape of
the password."""

from __future__ import annotations

import base64
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sellerguard.alerts import email
from sellerguard.config import Config, parse_config
from sellerguard.redact import Redactor, base64_forms, basic_auth, config_secrets, smtp_auth

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
trustme = pytest.importorskip("trustme")
from aiosmtpd.smtp import AuthResult  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PASSWORD = "Echoed-Pass-93xq"
USER = "alerts@example.com"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# what the refusal echoes, from the decoded login and password aiosmtpd hands the authenticator
ECHOES: dict[str, Callable[[bytes, bytes], str]] = {
    "plain blob": lambda user, pw: _b64(b"\0" + user + b"\0" + pw),
    "login password": lambda user, pw: _b64(pw),
    "inside longer base64": lambda user, pw: _b64(b"debug=" + user + b";pass=" + pw + b";end"),
    "url-safe inside": lambda user, pw: base64.urlsafe_b64encode(b"xy" + pw + b"z").decode(),
    "clear text": lambda user, pw: pw.decode(),
}


class Echo:
    def __init__(self) -> None:
        self.shape = "plain blob"

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        echoed = ECHOES[self.shape](auth_data.login, auth_data.password)
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 credentials invalid: {echoed}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield ca.issue_cert("127.0.0.1"), path


@pytest.fixture(scope="module", params=["PLAIN", "LOGIN"])
def server(request: pytest.FixtureRequest, ca_file: tuple[Any, Path]) -> Iterator[tuple[Echo, int]]:
    """One server per mechanism (the other is not offered, so smtplib's last attempt is the one under test)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca_file[0].configure_cert(ctx)
    echo = Echo()
    other = "LOGIN" if request.param == "PLAIN" else "PLAIN"

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=_free_port(),
                                               tls_context=ctx, require_starttls=True, authenticator=echo,
                                               auth_required=True, auth_exclude_mechanism=[other])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        controller.start()
    try:
        yield echo, controller.port
    finally:
        controller.stop()


def _config(port: int, ca: Path) -> Config:
    smtp = {"host": "127.0.0.1", "port": port, "security": "starttls", "username": USER,
            "password": "env:SG_TEST_ECHO_PASSWORD", "ca_file": str(ca)}
    return parse_config({
        "accounts": [{"id": "shop-us", "marketplace": "ebay", "sync_every": "30m",
                      "credentials": {"client_id": "env:SG_TEST_ECHO_ID", "client_secret": "env:SG_TEST_ECHO_SECRET",
                                      "refresh_token": "env:SG_TEST_ECHO_SECRET"}}],
        "notify": [{"name": "mail", "type": "email", "sender": USER, "to": ["ops@example.com"], "smtp": smtp}],
    }, where="test")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_ECHO_PASSWORD", PASSWORD)
    monkeypatch.setenv("SG_TEST_ECHO_ID", "app-id-1234")
    monkeypatch.setenv("SG_TEST_ECHO_SECRET", "cert-secret-5678")


def _leaks(text: str) -> list[str]:
    """Every shape of the password found in ``text`` (case-insensitively, as the redactor matches)."""
    shapes = {PASSWORD, *base64_forms(PASSWORD), *smtp_auth(USER, PASSWORD)}
    return [s for s in shapes if s.lower() in text.lower()]


@pytest.mark.parametrize("shape", list(ECHOES))
def test_a_refused_login_keeps_the_code_and_no_shape_of_the_password(server, ca_file, shape):
    echo, port = server
    echo.shape = shape
    target = _config(port, ca_file[1]).notify[0]
    result = email.send(target, email.render_test("mail", NOW), "test", f"k-{shape}", NOW, timeout=5)
    assert (result.status, result.http_status) == ("failed", 535)
    assert "login refused: SMTP 535" in result.error and "credentials invalid" in result.error
    assert "***" in result.error and _leaks(result.error) == []


def test_the_process_wide_redactor_knows_the_smtp_and_basic_auth_blobs():
    redactor = Redactor(config_secrets(_config(25, Path("/nonexistent"))))
    plain = _b64(f"\0{USER}\0{PASSWORD}".encode())
    basic = basic_auth("app-id-1234", "cert-secret-5678")
    line = f"AUTH PLAIN {plain} / Authorization: Basic {basic} / {_b64(PASSWORD.encode())}"
    assert redactor(line) == "AUTH PLAIN *** / Authorization: Basic *** / ***"


def test_base64_forms_cover_every_offset_and_skip_short_runs():
    for prefix in (b"", b"a", b"ab", b"abc", b"\0user\0"):
        stream = _b64(prefix + PASSWORD.encode() + b"tail")
        assert any(form in stream for form in base64_forms(PASSWORD))
    assert base64_forms("abcd") == {"YWJjZA=="}  # 4 bytes: alone only, no embedded run of 8 characters
    assert Redactor(["abcd"])("YWJjZA== the word abcd, YWJj") == "*** the word ***, YWJj"


@pytest.mark.parametrize("suffix", [b"", b"t", b"ta", b"tai", b"tail!"])
@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"\0user\0", b"\xff\xfe\xfd\xfc"])
def test_the_whole_base64_token_is_masked_edges_included(prefix, suffix):
    """The edge characters mix the password's first/last bits with the neighbours': the whole token goes."""
    redactor = Redactor([PASSWORD])
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(prefix + PASSWORD.encode() + suffix).decode()
        assert redactor(f"said <{text}>, ok") == "said <***>, ok", text
