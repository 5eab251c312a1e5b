"""docs/alerts.md and docs/deploy.md must keep up with the code they describe."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from sellerguard.alerts.dedup import Reason
from sellerguard.health import Snapshot, render_metrics

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("reason", list(Reason))
def test_every_dedup_reason_is_documented(reason):
    table = (DOCS / "alerts.md").read_text().split("| reason | when | sent? |", 1)[1].split("\n\n", 1)[0]
    assert f"`{reason.value}`" in table


def test_every_prometheus_metric_is_documented():
    from datetime import UTC, datetime

    from sellerguard.health import AccountHealth, MetricPoint

    now = datetime(2026, 11, 23, tzinfo=UTC)
    snap = Snapshot(now, now, {"a": AccountHealth("amazon", timedelta(hours=2), now, now, True)},
                    {("a", "amazon.odr"): MetricPoint("amazon", "ratio", 0.01, 0.01, 2, now, "ok"),
                     ("a", "amazon.ahr"): MetricPoint("amazon", "number", 200, 100, None, None, "ok")},
                    {("ops", "warn"): 1}, {"sync:a": 1}, {"sent": 1})
    names = set(re.findall(r"^# TYPE (\S+)", render_metrics(snap, now), re.M))
    text = (DOCS / "deploy.md").read_text()
    assert names and all(f"`{n}`" in text for n in names), names


def test_the_documented_unit_runs_the_real_command():
    text = (DOCS / "deploy.md").read_text()
    unit = text.split("```ini\n", 1)[1].split("```", 1)[0]
    exec_start = re.search(r"^ExecStart=\S+/sellerguard (.*)$", unit, re.M)
    assert exec_start is not None
    from click.testing import CliRunner

    from sellerguard.cli import cli

    help_text = CliRunner().invoke(cli, ["run", "--help"]).output
    for option in re.findall(r"--[a-z-]+", exec_start.group(1)):
        assert option in help_text
