"""Shopify before the seller sets targets: every rate is computed and shown as informational, the account is ok
(nothing to breach, no alert), and unknown only when its data is stale (issue 15 kind 9)."""

from datetime import UTC, datetime, timedelta

from sellerguard.config import parse_config
from sellerguard.status import build_status
from sellerguard.store.tables import SyncRun

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_no_target_is_informational_and_ok(store, clock):
    cfg = parse_config({"accounts": [{"id": "shop", "marketplace": "shopify"}]})
    store.record_sync(SyncRun(account="shop", started_at=NOW - timedelta(minutes=5), finished_at=NOW, ok=True))
    report = build_status(cfg, store, clock)
    [acc] = report.accounts
    assert (acc.account, acc.level, report.exit_code) == ("shop", "ok", 0)
    assert {m.id for m in acc.metrics} >= {"shopify.ship_on_time", "shopify.cancellation_rate"}
    assert all(m.threshold is None for m in acc.metrics)
