"""The status table and list print marketplace text as text: ``[...]`` is not console markup.

A note's "[accounts.policy]" vanished from the table caption, and an order ref holding ``[/x]`` (any text a
marketplace sends) raised rich's MarkupError, ending `status` with an internal error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.schema import Order
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = '''
[[accounts]]
id = "amz"
marketplace = "amazon"

[[accounts]]
id = "shop"
marketplace = "shopify"
'''


@pytest.mark.parametrize("columns", ["200", "60"])  # the table, and the compact list of a narrow terminal
def test_brackets_in_marketplace_text_print_as_text(tmp_path, columns):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    store = Store(db)
    store.write([Order(account="amz", external_id="late[/x]", purchased_at=NOW - timedelta(days=3),
                       fulfilment="seller", status="unshipped", ship_by=NOW - timedelta(days=1)),
                 Order(account="shop", external_id="s1", purchased_at=NOW - timedelta(days=3),
                       fulfilment="seller", status="shipped")])
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--as-of", NOW.isoformat()],
                                env={"COLUMNS": columns}, catch_exceptions=False)
    assert "internal error" not in result.output, result.output
    assert "late[/x]" in result.output
    if columns == "200":
        assert "[accounts.policy]" in result.output
