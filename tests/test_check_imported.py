"""``check ACCOUNT`` on an account that exists only through ``import`` says so (it was "no account ... in the
config", which a seller who can see the account in ``status`` reads as a bug)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlmodel import Session

from sellerguard.cli import cli
from sellerguard.store import Store
from sellerguard.store.tables import AccountRow


def test_check_names_an_import_only_account(tmp_path: Path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "acme-us"\nmarketplace = "amazon"\n')
    url = f"sqlite:///{tmp_path / 'sg.db'}"
    store = Store(url)
    with Session(store.engine) as session, session.begin():
        session.add(AccountRow(id="shop-imported", marketplace="etsy"))
    store.close()
    run = CliRunner().invoke(cli, ["--config", str(cfg), "--db", url, "check", "shop-imported"])
    assert run.exit_code == 3
    assert "exists only through `import`" in run.output and run.output.count("\n") == 1
    unknown = CliRunner().invoke(cli, ["--config", str(cfg), "--db", url, "check", "nobody"])
    assert unknown.exit_code == 3 and "no account 'nobody' in the config" in unknown.output
