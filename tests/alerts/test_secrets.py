"""Secrets in every shape: a webhook URL echoed back as its last path segment, upper-cased, percent-encoded or
-decoded, JSON-escaped or split into a JSON array; a base_url with user:password@. Each is looked for, case-
insensitively, in the logs, every byte of the database and the CLI's output (issue 20 item 4)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import responses
from click.testing import CliRunner
from db_templates import sqlite_copy
from sqlmodel import Session

from sellerguard import redact
from sellerguard.alerts.tables import OutboxRow
from sellerguard.cli import cli
from sellerguard.store import Store

WEBHOOK = "https://hooks.example.test/services/T0AB12CD/B0EF34GH/XyZsecretPathToken987"
SECRET_PARTS = ["XyZsecretPathToken987", "T0AB12CD", "B0EF34GH"]
PASSWORD = "Pa55-w0rd-Q7"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

ECHOES = {
    "last segment": "no_service for XyZsecretPathToken987",
    "upper-cased path": "NO ROUTE: /SERVICES/T0AB12CD/B0EF34GH/XYZSECRETPATHTOKEN987",
    "percent-encoded": f"bad url {quote(WEBHOOK, safe='')}",
    "percent-decoded path": "route%20/services/T0AB12CD/B0EF34GH/XyZsecretPathToken987 unknown",
    "JSON-escaped": json.dumps({"url": WEBHOOK.replace("/", "\\/")}),
    "JSON-split": json.dumps({"error": "invalid_token", "path": ["services", "T0AB12CD", "B0EF34GH",
                                                               "XyZsecretPathToken987"]}),
    "long body": "x" * 5000 + " XyZsecretPathToken987",
}


def db_bytes(path: Path) -> bytes:
    """Every byte SQLite keeps: the file, its WAL and its shared memory."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


def assert_clean(text: str | bytes, secrets: list[str], where: str) -> None:
    low = text.lower() if isinstance(text, str) else text.lower().decode("latin-1")
    for s in secrets:
        assert s.lower() not in low, f"{s!r} found in {where}"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SG_SECRET_HOOK", WEBHOOK)
    cfg = tmp_path / "sg.toml"
    cfg.write_text(
        '[[accounts]]\nid = "eb1"\nmarketplace = "ebay"\n'
        f'base_url = "http://sguser:{PASSWORD}@127.0.0.1:9"\n'
        'credentials = { client_id = "env:SG_SECRET_ID", client_secret = "env:SG_SECRET_CS", '
        'refresh_token = "env:SG_SECRET_RT" }\n'
        '\n[[notify]]\nname = "ops"\ntype = "slack"\nurl = "env:SG_SECRET_HOOK"\n'
    )
    monkeypatch.setenv("SG_SECRET_ID", "SandboxApp-sellergu-SBX-0000")
    monkeypatch.setenv("SG_SECRET_CS", "SBX-client-secret-4242")
    monkeypatch.setenv("SG_SECRET_RT", "v^1.1#refresh-token-7777")
    db = sqlite_copy(tmp_path / "sg.db")  # an empty store at the head revision
    yield ["--config", str(cfg), "--db", f"sqlite:///{db}"], db
    redact.install(None)


@pytest.mark.parametrize("shape", list(ECHOES))
@responses.activate
def test_a_refusal_echoing_the_webhook_secret_leaks_nowhere(env, shape, caplog):
    args, db = env
    caplog.set_level(logging.DEBUG)
    responses.post(WEBHOOK, status=404, body=ECHOES[shape])
    runner = CliRunner()
    test = runner.invoke(cli, [*args, "notify", "--test"])
    assert test.exit_code != 0 and "ops (slack): failed (HTTP 404" in test.output
    # the same refusal through the outbox: the stored error and the log line
    store = Store(f"sqlite:///{db}")
    with Session(store.engine) as s, s.begin():
        s.add(OutboxRow(target="ops", kind="alert", body="{}", created_at=NOW, next_attempt_at=NOW))
    store.close()
    flush = runner.invoke(cli, [*args, "notify", "--flush"])
    assert "failed 1" in flush.output
    assert_clean(test.output + flush.output, SECRET_PARTS, f"CLI output ({shape})")
    assert_clean(caplog.text, SECRET_PARTS, f"logs ({shape})")
    assert_clean(db_bytes(db), SECRET_PARTS, f"database ({shape})")
    assert len(test.output) < 400  # a status line and a fixed-size excerpt, never the body


def test_variants_cover_case_encoding_and_user_info():
    r = redact.Redactor([WEBHOOK, f"http://sguser:{PASSWORD}@api.example.test/v1"])
    for shape, text in ECHOES.items():
        assert "XyZsecretPathToken987".lower() not in r(text).lower(), shape
    assert PASSWORD not in r(f"GET http://sguser:{PASSWORD}@api.example.test/v1/orders failed")
    assert PASSWORD not in r(f"password={quote(PASSWORD)}")
    assert r("services ok") == "services ok"  # ordinary words stay
    assert len(redact.excerpt("y" * 10_000, [WEBHOOK])) == redact.EXCERPT_MAX


def test_a_base_url_password_leaks_nowhere(env, caplog, monkeypatch):
    """sync against http://sguser:<password>@127.0.0.1:9 (refused): the sync error (stored), the log, the CLI's
    output and the stale-data alert never show the password."""
    from datetime import timedelta

    from sellerguard import sync
    from sellerguard.alerts.stale import sync_alert

    args, db = env
    # the same retries of the refused connection, without really waiting between them (~10 s of backoff)
    slept: list[float] = []
    real_sync = sync.sync_accounts
    monkeypatch.setattr(sync, "sync_accounts", lambda *a, **kw: real_sync(*a, **{"sleep": slept.append, **kw}))
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    result = runner.invoke(cli, [*args, "sync", "--log-level", "DEBUG"])
    assert slept  # it did retry, through the CLI's own sync_accounts call
    status = runner.invoke(cli, [*args, "status"])
    secrets = [PASSWORD, f"sguser:{PASSWORD}", "SBX-client-secret-4242", "refresh-token-7777"]
    assert_clean(result.output + status.output, secrets, "CLI output")
    assert_clean(caplog.text, secrets, "logs")
    assert_clean(db_bytes(db), secrets, "database")
    store = Store(f"sqlite:///{db}")
    try:
        last = store.last_sync("eb1")
        assert last is not None and not last.ok  # it did fail, and said why
        alert = sync_alert(store, "eb1", "ebay", timedelta(0), datetime.now(UTC) + timedelta(hours=1))
        assert alert.detail and PASSWORD not in alert.detail
    finally:
        store.close()
