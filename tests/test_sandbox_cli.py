"""`sandbox --write-config` never touches real data; `account forget` removes an account (issue 19 item 4)."""

from __future__ import annotations

import socket
import tomllib
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.config import load_config
from sellerguard.demo import sandbox_config_data
from sellerguard.sandbox import Sandbox
from sellerguard.schema import Account, Order
from sellerguard.starter import STARTER
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


def test_sandbox_config_has_its_own_store_and_ids_that_cannot_collide(tmp_path):
    path = tmp_path / "sandbox.toml"
    with Sandbox() as box:
        data = sandbox_config_data(box, path)
    assert data["store"]["url"] == f"sqlite:///{tmp_path.resolve() / 'sandbox.db'}"
    ids = [a["id"] for a in data["accounts"]]
    assert ids and all(i.startswith("sandbox-") for i in ids)
    starter_ids = {line.split('"')[1] for line in STARTER.splitlines() if line.lstrip("# ").startswith("id = ")}
    assert starter_ids and not starter_ids & set(ids)


def test_write_config_refuses_to_overwrite_before_starting(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("# my real config\n")
    result = run("sandbox", "--write-config", str(path))
    assert result.exit_code == 3
    assert result.output.strip() == f"Error: {path}: already exists; pass --force to overwrite it"
    assert path.read_text() == "# my real config\n"


def test_a_busy_port_is_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("sandbox", "--port", str(port))
    assert result.exit_code == 3
    assert result.output.strip().startswith(f"Error: sandbox --port: port {port} is already in use")


def test_a_privileged_port_is_one_line(monkeypatch):
    import errno

    real_bind = socket.socket.bind

    def refuse(self, address):
        if address[1] == 80:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_bind(self, address)

    monkeypatch.setattr(socket.socket, "bind", refuse)  # tests may run as root, who may bind 80: simulate
    result = run("sandbox", "--port", "80")
    assert result.exit_code == 3
    assert result.output.strip().startswith("Error: sandbox --port: port 80 needs privileges")


def test_port_out_of_range_is_a_usage_error_exit_3():
    result = run("sandbox", "--port", "70000")
    assert result.exit_code == 3 and len(result.output.strip().splitlines()) == 1


def _fill(db: str, account: str) -> None:
    store = Store(db)
    store.upsert_accounts([Account(id=account, marketplace="amazon")])
    store.write([Order(account=account, external_id=f"o{i}", purchased_at=NOW, fulfilment="seller",
                       status="shipped") for i in range(5)], {(account, "orders"): "c1"})
    store.put_state(account, "access_token", "secret-token")
    store.record_sync(SyncRun(account=account, started_at=NOW, finished_at=NOW, ok=True))
    store.close()


def test_account_forget_dry_run_counts_then_removes_everything(tmp_path):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    _fill(db, "sandbox-amazon-us")
    _fill(db, "keep-me")
    dry = run("--db", db, "account", "forget", "sandbox-amazon-us", "--dry-run")
    assert dry.exit_code == 0
    assert dry.output.strip() == ("Would remove 9 rows of 'sandbox-amazon-us': account 1, connector_state 1, "
                                  "orders 5, sync_cursor 1, sync_run 1.")
    no = run("--db", db, "account", "forget", "sandbox-amazon-us", input="n\n")
    assert no.exit_code == 3
    assert Store(db).count("order", "sandbox-amazon-us") == 5
    yes = run("--db", db, "account", "forget", "sandbox-amazon-us", input="y\n")
    assert yes.exit_code == 0 and "Removed 9 rows of 'sandbox-amazon-us'." in yes.output
    store = Store(db)
    assert store.count("order", "sandbox-amazon-us") == 0 and store.count("order", "keep-me") == 5
    assert store.state("sandbox-amazon-us", "access_token") is None
    assert store.state("keep-me", "access_token") == "secret-token"


def test_account_forget_refuses_a_configured_or_unknown_account(tmp_path):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    _fill(db, "amz")
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "amz"\nmarketplace = "amazon"\n')
    result = run("--config", str(cfg), "--db", db, "account", "forget", "amz", "--yes")
    assert result.exit_code == 3 and "still in the config" in result.output
    result = run("--db", db, "account", "forget", "nope", "--yes")
    assert result.exit_code == 3 and "no account 'nope' in the database" in result.output
    missing = tmp_path / "none" / "x.db"
    result = run("--db", f"sqlite:///{missing}", "account", "forget", "amz", "--yes")
    assert result.exit_code == 3 and not missing.parent.exists()


@pytest.mark.slow
def test_written_sandbox_config_syncs_into_its_own_store(tmp_path, monkeypatch):
    real_db = tmp_path / "data" / "sellerguard" / "sellerguard.db"  # the per-user default (XDG_DATA_HOME)
    path = tmp_path / "sandbox.toml"
    with Sandbox(scale=0.05) as box:
        from sellerguard.demo import write_config_file

        write_config_file(box, path)
        data = tomllib.loads(path.read_text())
        only = next(a["id"] for a in data["accounts"] if a["marketplace"] == "etsy")
        result = run("--config", str(path), "sync", "--account", only)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "sandbox.db").exists() and not real_db.exists()
    assert load_config(path).account(only).id.startswith("sandbox-")
