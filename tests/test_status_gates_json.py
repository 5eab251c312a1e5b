"""``status --json`` gives each metric's count gates as the account's site row sets them (eBay DE Top Rated late
shipment: 7, the US program: 6), so a monitoring system can check the gate beside ``gate_count``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.schema import Order
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_count_gates_follow_the_site(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "us"\nmarketplace = "ebay"\n\n'
                   '[[accounts]]\nid = "de"\nmarketplace = "ebay"\nregion = "EBAY_DE"\n')
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    store = Store(db)
    store.write([Order(account=acc, external_id=f"{acc}{i}", purchased_at=NOW - timedelta(days=5),
                       fulfilment="seller", status="shipped") for acc in ("us", "de") for i in range(3)])
    store.close()
    run = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--json", "--as-of", NOW.isoformat()])
    assert run.exit_code in (0, 1, 2), run.output
    report = json.loads(run.output)
    gates = {a["account"]: {m["id"]: m for m in a["metrics"]} for a in report["accounts"]}
    tr = "ebay.top_rated_late_shipment_rate"
    assert gates["de"][tr]["count_gate"] == 7 and gates["us"][tr]["count_gate"] == 6
    assert gates["us"][tr]["warn_count_gate"] is not None
    assert gates["us"]["ebay.transaction_defect_rate"]["count_gate"] is not None
