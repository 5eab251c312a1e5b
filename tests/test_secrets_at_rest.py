"""Secrets at rest (issue 19 item 6): tokens are encrypted in the database with a key kept outside it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from sellerguard.cli import cli
from sellerguard.errors import StoreError
from sellerguard.store import Store
from sellerguard.store.sealed import PREFIX

TOKEN = "Atza|KNOWN-TOKEN-VALUE-0123456789"


def database_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if not p.name.endswith(".key"))


def test_a_stored_token_is_not_in_the_database_file(tmp_path):
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    store.put_state("amz", "access_token", TOKEN)
    store.put_state("amz", "refresh_token", TOKEN + "-refresh")
    assert store.state("amz", "access_token") == TOKEN
    with store.engine.connect() as conn:
        raw = conn.execute(text("SELECT value FROM connector_state WHERE key = 'access_token'")).scalar()
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    assert raw.startswith(PREFIX) and TOKEN not in raw
    store.close()
    data = database_bytes(path)
    assert data and TOKEN.encode() not in data and b"KNOWN-TOKEN" not in data
    key = path.with_name("sg.db.key")
    assert key.exists() and key.stat().st_mode & 0o777 == 0o600  # the key lives outside the database
    assert Store(f"sqlite:///{path}").state("amz", "refresh_token") == TOKEN + "-refresh"  # another process


def test_a_lost_key_file_is_refused_not_silently_replaced(tmp_path):
    """A new key would make the sealed tokens unreadable for good (single-use refresh tokens: a lockout)."""
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    store.put_state("amz", "access_token", TOKEN)
    store.close()
    key_file = path.with_name("sg.db.key")
    key_file.unlink()  # a copy of the database without its key
    other = Store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match=r"sg\.db\.key is missing.*1 token\(s\) sealed.*restore the file"):
        other.state("amz", "access_token")
    assert not key_file.exists()  # nothing created: restoring the backup still works
    other.close()

    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "keys", "rotate", "--key-lost", "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 stored value(s) that only the lost key could open were deleted" in result.output
    again = Store(f"sqlite:///{path}")
    assert key_file.exists() and again.state("amz", "access_token") is None
    again.put_state("amz", "access_token", TOKEN)  # reconnected: sealed under the new key
    assert again.state("amz", "access_token") == TOKEN


def test_another_key_cannot_open_the_tokens(tmp_path, caplog):
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    store.put_state("amz", "access_token", TOKEN)
    store.close()
    path.with_name("sg.db.key").unlink()
    # A key replaced on purpose and adopted: what the old key sealed reads as missing, with a warning.
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "keys", "rotate", "--key-lost", "--yes"])
    assert result.exit_code == 0, result.output
    other = Store(f"sqlite:///{path}")
    with other.engine.begin() as conn:
        conn.execute(text("INSERT INTO connector_state (account, key, value) VALUES ('amz', 'refresh', :v)"),
                     {"v": PREFIX + "gAAAAABnot-a-fernet-token"})
    with caplog.at_level("WARNING", logger="sellerguard.store"):
        assert other.state("amz", "refresh") is None  # fetched again, never garbage
    assert "cannot be opened with the store key" in caplog.text and TOKEN not in caplog.text


def test_plain_values_of_older_databases_are_read_and_sealed(tmp_path):
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO connector_state (account, key, value) VALUES ('amz', 'access_token', :v)"),
                     {"v": TOKEN})
    assert store.state("amz", "access_token") == TOKEN
    store.close()
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "keys", "seal"], catch_exceptions=False)
    assert result.exit_code == 0 and "Sealed 1 stored value(s)" in result.output
    store = Store(f"sqlite:///{path}")
    assert store.state("amz", "access_token") == TOKEN
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM connector_state WHERE account='amz'")).scalar().startswith(PREFIX)


def test_rotation_reseals_every_token_under_a_new_key(tmp_path):
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    store.put_state("amz", "refresh_token", TOKEN)
    store.close()
    key = path.with_name("sg.db.key")
    old_key = key.read_text()
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "keys", "rotate", "--yes"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert key.read_text() != old_key and key.stat().st_mode & 0o777 == 0o600
    assert Store(f"sqlite:///{path}").state("amz", "refresh_token") == TOKEN
    assert TOKEN.encode() not in database_bytes(path)


@pytest.mark.slow
def test_tokens_from_a_real_sync_are_not_readable_in_the_file(tmp_path):
    from sellerguard.demo import write_config_file
    from sellerguard.sandbox import Sandbox

    cfg = tmp_path / "sandbox.toml"
    with Sandbox(scale=0.05) as box:
        write_config_file(box, cfg)
        only = next(a["id"] for a in tomllib.loads(cfg.read_text())["accounts"] if a["marketplace"] == "etsy")
        result = CliRunner().invoke(cli, ["--config", str(cfg), "sync", "--account", only], catch_exceptions=False)
        issued = list(box._tokens)
    assert result.exit_code == 0, result.output
    assert issued
    data = database_bytes(tmp_path / "sandbox.db")
    for token in issued:
        assert token.encode() not in data


def test_a_credential_equal_to_an_account_id_is_not_masked():
    """The sandbox's Walmart/bol/Mercado Libre client ids equal their account ids: masking them printed
    "***: synced 85 records" for three accounts (newcomer review). An account id is printed by design."""
    from sellerguard.config import Config
    from sellerguard.redact import config_secrets

    config = Config.model_validate({"accounts": [{
        "id": "shop-1", "marketplace": "walmart",
        "credentials": {"client_id": "shop-1", "client_secret": "s3cret-value"}}]})
    secrets = config_secrets(config)
    assert "shop-1" not in secrets and "s3cret-value" in secrets
