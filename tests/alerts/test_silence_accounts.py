"""``silence`` accepts any account alerts can name: the config's and the ones that exist only through ``import``.

``check_matcher`` (sellerguard/alerts/silences.py) reads the store read-only, only when the id is not configured;
a missing database is no account. Metric ids are checked against the packs of the matching accounts'
marketplaces, imported ones included."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from sellerguard.alerts.silences import check_matcher, known_accounts
from sellerguard.config import parse_config
from sellerguard.errors import ConfigError
from sellerguard.store import Store
from sellerguard.store.tables import AccountRow

CONFIG = parse_config({"accounts": [{"id": "acme-us", "marketplace": "amazon"}]}, where="t")


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'sg.db'}"
    store = Store(url)
    with Session(store.engine) as session, session.begin():
        session.add(AccountRow(id="shop-imported", marketplace="etsy"))
    store.close()
    return url


def test_an_imported_account_can_be_silenced(db):
    assert check_matcher(CONFIG, "shop-imported/etsy.std_case_rate", db) == ("shop-imported", "etsy.std_case_rate")
    assert check_matcher(CONFIG, "shop-imported", db) == ("shop-imported", "*")
    assert check_matcher(CONFIG, "shop-imported/sync", db) == ("shop-imported", "sync")
    assert known_accounts(CONFIG, db) == {"acme-us": "amazon", "shop-imported": "etsy"}


def test_an_imported_accounts_metric_is_checked_against_its_marketplace(db):
    with pytest.raises(ConfigError, match=r"unknown metric 'amazon\.odr'"):
        check_matcher(CONFIG, "shop-imported/amazon.odr", db)  # an Amazon metric on an Etsy account


def test_an_unknown_account_is_named_with_the_closest_stored_one(db):
    with pytest.raises(ConfigError) as exc:
        check_matcher(CONFIG, "shop-importd/sync", db)
    assert "no account 'shop-importd' in the config or the database (did you mean 'shop-imported'?)" in str(exc.value)


def test_a_missing_database_knows_only_the_config(tmp_path):
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert known_accounts(CONFIG, missing) == {"acme-us": "amazon"}
    with pytest.raises(ConfigError, match="no account 'shop-imported'"):
        check_matcher(CONFIG, "shop-imported", missing)
    assert not (tmp_path / "none.db").exists()  # looking created nothing
    assert check_matcher(CONFIG, "acme-*/sync", missing) == ("acme-*", "sync")  # a pattern is never refused


def test_the_cli_silences_an_account_registered_by_import(tmp_path):
    from click.testing import CliRunner

    from sellerguard.cli import cli

    data = tmp_path / "a.jsonl"
    data.write_text('{"kind": "account", "id": "my-shop", "marketplace": "amazon", "region": "na"}\n'
                    '{"account": "my-shop", "external_id": "1", "kind": "order", "purchased_at": '
                    '"2026-08-26T01:47:18Z", "fulfilment": "seller", "status": "shipped"}\n')
    config = tmp_path / "c.toml"
    config.write_text('[[accounts]]\nid = "other"\nmarketplace = "etsy"\n')
    base = ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'sg.db'}"]
    run = CliRunner()
    assert run.invoke(cli, [*base, "import", str(data)]).exit_code == 0
    added = run.invoke(cli, [*base, "silence", "my-shop/amazon.odr", "--reason", "appeal filed"])
    assert added.exit_code == 0 and added.output.startswith("Silence 1: my-shop/amazon.odr muted until "), added.output
