"""Builders for alert tests (imported by name: tests/alerts is on sys.path).

StatusReports made by hand and a config with one Slack and one webhook target.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sellerguard.config import Config, parse_config
from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport

SLACK_URL = "https://hooks.slack.com/services/T000/B000/SECRETSECRETSECRET"
HOOK_URL = "https://example.invalid/hook/SECRET-TOKEN"


def metric(mid: str = "amazon.odr", level: str = "ok", value: float | None = 0.005, **kw: Any) -> MetricStatus:
    fields: dict[str, Any] = {
        "id": mid,
        "name": "Order Defect Rate",
        "value": value,
        "numerator": None if value is None else value * 1000,
        "denominator": None if value is None else 1000,
        "window_days": 60,
        "threshold": 0.01,
        "warn": 0.0075,
        "comparator": "<",
        "level": level,
        "source": "https://sellercentral.amazon.com/help/hub/reference/external/G200285170",
    }
    fields.update(kw)
    return MetricStatus(**fields)


def account(name: str = "acme-us", *metrics: MetricStatus, deadlines: list[Deadline] | None = None,
            marketplace: str = "amazon", level: str | None = None) -> AccountStatus:
    ms = list(metrics) or [metric()]
    worst = max((m.level for m in ms), key=["ok", "unknown", "warn", "critical"].index)
    return AccountStatus(marketplace=marketplace, account=name, display_name=None, level=level or worst,
                         metrics=ms, deadlines=deadlines or [])


def report(as_of: datetime, *accounts: AccountStatus) -> StatusReport:
    return StatusReport(as_of=as_of, accounts=list(accounts))


def deadline(ref: str, due: datetime, metric_id: str = "amazon.odr", missed: float | None = None) -> Deadline:
    return Deadline(kind="ship", ref=ref, due=due, metric=metric_id, value_if_missed=missed)


def make_config(**target_kw: Any) -> Config:
    slack: dict[str, Any] = {"name": "ops", "type": "slack", "url": "env:SG_TEST_SLACK"}
    slack.update(target_kw)
    return parse_config({
        "accounts": [
            {"id": "acme-us", "marketplace": "amazon", "sync_every": "30m"},
            {"id": "acme-eb", "marketplace": "ebay", "sync_every": "30m"},
        ],
        "daemon": {"repeat_interval": "24h", "digest_at": "09:00"},
        "notify": [slack, {"name": "hook", "type": "webhook", "url": "env:SG_TEST_HOOK", "digest": False}],
    })


def at(hours: float = 0, base: datetime = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)) -> datetime:
    return base + timedelta(hours=hours)
