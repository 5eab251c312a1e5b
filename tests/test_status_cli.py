"""`sellerguard status`: the JSON contract, filters, --as-of, and Nagios exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.schema import Cancellation, Order
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "canonical-1000.jsonl"
CONFIG = '''
[[accounts]]
id = "amz"
marketplace = "amazon"

[[accounts]]
id = "eb"
marketplace = "ebay"
'''
METRIC_KEYS = {"id", "value", "numerator", "denominator", "window_days", "threshold", "comparator", "level",
               "headroom", "breach_forecast", "reported_value", "source"}


@pytest.fixture
def setup(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    Store(db).close()  # status never creates a database
    return cfg, db


def write(db: str, cancelled: int, account: str = "amz") -> None:
    store = Store(db)
    records = []
    for i in range(100):
        records.append(Order(account=account, external_id=f"o{i}", purchased_at=NOW - timedelta(days=2),
                             fulfilment="seller", status="shipped"))
        if i < cancelled:
            records.append(Cancellation(account=account, external_id=f"x{i}", order_ref=f"o{i}",
                                        cancelled_at=NOW - timedelta(days=1), initiated_by="seller"))
    store.write(records)
    store.close()


def status(cfg, db, *args):
    return CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", *args], catch_exceptions=False)


def test_json_contract_and_critical_exit(setup):
    cfg, db = setup
    write(db, cancelled=3)  # 3% pre-fulfilment cancel rate: over 2.5%
    result = status(cfg, db, "--json", "--as-of", "2026-11-23T12:00:00Z")
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["as_of"] == "2026-11-23T12:00:00Z"
    accounts = {a["account"]: a for a in doc["accounts"]}
    assert set(accounts) == {"amz", "eb"}
    assert doc["accounts"][0]["account"] == "amz"  # worst first
    amz = accounts["amz"]
    assert {"marketplace", "account", "level", "metrics", "deadlines"} <= set(amz)
    assert amz["level"] == "critical"
    for metric in amz["metrics"]:
        assert set(metric) >= METRIC_KEYS
    pfcr = next(m for m in amz["metrics"] if m["id"] == "amazon.pre_fulfillment_cancel_rate")
    assert (pfcr["value"], pfcr["numerator"], pfcr["denominator"], pfcr["level"]) == (0.03, 3, 100, "critical")


@pytest.mark.parametrize(("cancelled", "code"), [(0, 0), (2, 1), (3, 2)])
def test_exit_code_is_the_worst_level(setup, cancelled, code):
    cfg, db = setup
    write(db, cancelled)
    result = status(cfg, db, "--json", "--as-of", "2026-11-23T12:00Z", "--account", "amz", "--horizon", "1")
    doc = json.loads(result.output)
    levels = {m["id"]: m["level"] for m in doc["accounts"][0]["metrics"]}
    assert levels["amazon.pre_fulfillment_cancel_rate"] == ["ok", "warn", "critical"][code]
    # other metrics without events may be unknown (exit 3), which a warn or critical outranks
    assert result.exit_code == {"ok": 0, "warn": 1, "critical": 2, "unknown": 3}[doc["level"]]
    assert result.exit_code == code or (code == 0 and doc["level"] == "unknown")


def test_filters(setup):
    cfg, db = setup
    write(db, 0)
    doc = json.loads(status(cfg, db, "--json", "--marketplace", "ebay", "--as-of", "2026-11-23").output)
    assert [a["account"] for a in doc["accounts"]] == ["eb"]


def test_unknown_account_is_one_error_line(setup):
    cfg, db = setup
    result = status(cfg, db, "--account", "nope")
    assert result.exit_code == 3
    assert result.output.strip() == "Error: --account: no account nope in the config or the store"


@pytest.mark.parametrize(("value", "message"), [
    ("yesterday", "Error: --as-of: not a date or ISO 8601 timestamp: 'yesterday'"),
    ("2026-11-23T12:00", "Error: --as-of: '2026-11-23T12:00' has no time zone; add one, e.g. 2026-11-23T12:00Z "
                         "or 2026-11-23T12:00+02:00"),
    ("0001-01-01T00:00:00Z", "Error: --as-of: '0001-01-01T00:00:00Z' is out of range (years 1970 to 9000)"),
    ("9999-12-31", "Error: --as-of: '9999-12-31' is out of range (years 1970 to 9000)"),
])
def test_bad_as_of_is_one_error_line(setup, value, message):
    cfg, db = setup
    result = status(cfg, db, "--as-of", value)
    assert (result.exit_code, result.output.strip()) == (3, message)


def test_table_output_names_accounts_metrics_and_deadlines(setup):
    cfg, db = setup
    write(db, 3)
    store = Store(db)
    store.write([Order(account="amz", external_id="late", purchased_at=NOW - timedelta(days=1),
                       ship_by=NOW + timedelta(hours=5), fulfilment="seller", status="unshipped")])
    store.close()
    result = status(cfg, db, "--as-of", "2026-11-23T12:00Z")
    assert result.exit_code == 2
    out = result.output
    assert "amazon / amz  CRITICAL" in out
    assert "amazon.pre_fulfillment_cancel_rate" in out and "3.00%" in out
    assert "Deadlines" in out and "2026-11-23 17:00" in out


def test_no_accounts_is_unknown(tmp_path):
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    Store(f"sqlite:///{tmp_path / 'x.db'}").close()
    result = status(cfg, f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 3 and "No accounts" in result.output


def test_the_example_import_evaluates(tmp_path):
    if not EXAMPLE.exists():
        pytest.skip("examples/canonical-1000.jsonl not present")
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "my-shop"\nmarketplace = "amazon"\n')
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    assert CliRunner().invoke(cli, ["--db", db, "import", str(EXAMPLE)]).exit_code == 0
    result = status(cfg, db, "--json", "--as-of", "2026-11-01T00:00Z")
    doc = json.loads(result.output)
    odr = next(m for m in doc["accounts"][0]["metrics"] if m["id"] == "amazon.odr")
    assert odr["denominator"] > 0
    assert result.exit_code in (0, 1, 2, 3)


def test_formatting_of_values():
    from sellerguard.rules.report import MetricStatus
    from sellerguard.status import fmt_value

    def metric(**kw):
        base = {"id": "x.m", "name": "m", "value": None, "numerator": None, "denominator": None,
                "window_days": 30, "threshold": None, "comparator": "<", "level": "ok", "source": "https://e.org"}
        return MetricStatus(**{**base, **kw})

    assert fmt_value(metric(value=0.0123, denominator=100, threshold=0.01), 0.0123) == "1.23%"
    assert fmt_value(metric(value=0.96, numerator=14, threshold=0.99), 0.96) == "96.00%"  # reported rate
    assert fmt_value(metric(value=4.9, denominator=10, threshold=4.8), 4.9) == "4.90"  # an average
    assert fmt_value(metric(value=2, numerator=2, threshold=3), 2) == "2"  # a count
    assert fmt_value(metric(value=150, threshold=100), 150) == "150"  # a score


def test_as_of_offsets_are_converted_to_utc(setup):
    cfg, db = setup
    write(db, 3)
    a = json.loads(status(cfg, db, "--json", "--as-of", "2026-11-23T14:00:00+02:00").output)
    b = json.loads(status(cfg, db, "--json", "--as-of", "2026-11-23T12:00:00Z").output)
    assert a == b and a["as_of"] == "2026-11-23T12:00:00Z"
    # the orders of 2026-11-21 have left the 7-day window by 2026-12-01
    later = json.loads(status(cfg, db, "--json", "--as-of", "2026-12-01", "--account", "amz").output)
    pfcr = next(m for m in later["accounts"][0]["metrics"] if m["id"] == "amazon.pre_fulfillment_cancel_rate")
    assert pfcr["denominator"] == 0 and pfcr["level"] in ("ok", "unknown")
