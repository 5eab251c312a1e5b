"""`sellerguard backtest` end to end on a small sandbox world, and the odds fields in `status --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.sandbox.truth import records
from sellerguard.sandbox.world import World
from sellerguard.schema import Account
from sellerguard.store import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("backtest") / "sg.db"
    world = World(NOW, days=40, accounts=[("amz", "amazon", "spiky", "ATVPDKIKX0DER", "USD", 8, 0.3)])
    store = Store(f"sqlite:///{path}")
    store.upsert_accounts([Account(id="amz", marketplace="amazon", display_name="Amz")])
    store.write(list(records(world.accounts["amz"])))
    store.close()
    return f"sqlite:///{path}"


def run(db: str, *args: str):
    return CliRunner().invoke(cli, ["--config", "/dev/null", "--db", db, *args], catch_exceptions=False)


def test_backtest_scores_probability_and_naive_rules(db, tmp_path):
    plot = tmp_path / "rel.png"
    # two evaluations (a day and its one-day horizon): each replayed day is a whole evaluation, keep them few
    result = run(db, "backtest", "--from", "2026-11-15", "--to", "2026-11-16", "--horizon", "1", "--json",
                 "--plot", str(plot))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["horizon_days"] == 1 and doc["accounts"] == ["amz"]
    assert doc["forecasts"] > 0  # 1 day with a whole horizon in range x the judged thresholded metrics
    assert set(doc["brier"]) == {"probability", "level", "forecast_day"}
    assert all(0 <= v <= 1 for v in doc["brier"].values())
    bins = doc["reliability"]["probability"]
    assert len(bins) == 10 and sum(b["count"] for b in bins) == doc["forecasts"]
    assert plot.read_bytes().startswith(b"\x89PNG")
    # one replayed day of one account: far too few to score, and the document says so
    assert doc["warnings"] and doc["warnings"][0].startswith("too few breaches to score")


def test_backtest_table_warns_when_too_few_to_score(db):
    result = run(db, "backtest", "--from", "2026-11-15", "--to", "2026-11-16", "--horizon", "1")
    assert result.exit_code == 0, result.output
    assert "Warning: these scores rest on too few forecasts" in result.output
    assert "Warning: too few breaches to score" in result.output


def test_backtest_refuses_a_range_shorter_than_the_horizon(db):
    result = run(db, "backtest", "--from", "2026-11-10", "--to", "2026-11-12")
    assert result.exit_code == 3
    assert "shorter than the horizon" in result.output


def test_status_json_has_the_odds(db):
    result = run(db, "status", "--json", "--as-of", "2026-11-16")
    doc = json.loads(result.output)
    metrics = {m["id"]: m for m in doc["accounts"][0]["metrics"]}
    late = metrics["amazon.late_shipment_rate_30d"]
    assert 0 <= late["breach_probability"] <= 1
    # the mean may lie above a 10-90 % band of [0, 0]: no late shipment in >= 90 % of outcomes, a few in the rest
    assert late["forecast_low"] <= late["forecast_high"] and late["forecast_low"] <= late["forecast_value"]
    assert late["forecast_at"].startswith("2026-11-30")
    assert metrics["amazon.account_health_rating"]["breach_probability"] is None  # reported: the marketplace's
