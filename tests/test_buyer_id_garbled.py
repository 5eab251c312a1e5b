"""A buyer id holding a lone surrogate or a control character is a payload error, not an internal error.

Found by the 1,000-payload fuzz table (seed 99, Mercado Libre): a buyer id of ``'\\ud800'`` reached the buyer-key
HMAC, whose ``.encode()`` raised UnicodeEncodeError: the account's sync ended as kind ``internal``. Every connector
keys buyers through ``SyncContext.buyer_key`` and ``import`` through the same ``pseudonym.buyer_key``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.connectors.contract import SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.pseudonym import buyer_key


@pytest.mark.parametrize("raw", ["b\ud800", "bob\x00", "\x1b[31mbob"])
def test_a_garbled_buyer_id_is_refused(raw):
    with pytest.raises(ValueError, match="not a buyer id"):
        buyer_key(b"secret", "mercadolibre", raw)


def test_connectors_get_a_payload_error():
    account = parse_config({"accounts": [{"id": "ml", "marketplace": "mercadolibre"}]}, where="t").accounts[0]
    ctx = SyncContext.__new__(SyncContext)
    object.__setattr__(ctx, "account", account)
    object.__setattr__(ctx, "buyer_secret", b"secret")
    with pytest.raises(ConnectorError) as caught:
        ctx.buyer_key("b\ud800")
    assert caught.value.kind == "payload" and "buyer id" in str(caught.value)
    assert len(ctx.buyer_key("12345678")) == 64


def test_import_refuses_it_in_one_line_and_creates_nothing(tmp_path: Path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"kind":"order","account":"a","external_id":"o1","purchased_at":"2026-11-01T00:00:00Z",'
                   '"fulfilment":"seller","status":"shipped","buyer_id":"b\\ud800"}\n')
    db = tmp_path / "sg.db"
    run = CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", "import", str(src)])
    assert run.exit_code == 3 and "buyer_id: not a buyer id" in run.output
    assert not db.exists()
