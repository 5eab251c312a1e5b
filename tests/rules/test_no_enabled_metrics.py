"""An account whose pack has no enabled metric is ok (nothing to breach), and unknown only when its data is stale."""

from datetime import UTC, datetime, timedelta

from sellerguard.config import parse_config
from sellerguard.status import build_status
from sellerguard.store.tables import SyncRun

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_no_enabled_metric_is_ok_not_unknown(store, clock):
    cfg = parse_config({"accounts": [{"id": "shop", "marketplace": "shopify"}]})
    store.record_sync(SyncRun(account="shop", started_at=NOW - timedelta(minutes=5), finished_at=NOW, ok=True))
    report = build_status(cfg, store, clock)
    assert [(a.account, a.level, a.metrics) for a in report.accounts] == [("shop", "ok", [])]
    assert report.exit_code == 0
