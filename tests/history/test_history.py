"""Metric history (issue 22): once per day per metric across restarts, backfill == --as-of, --since, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.history.backfill import backfill, day_moment
from sellerguard.history.record import prune, series
from sellerguard.history.tables import MetricHistoryRow
from sellerguard.schema import Cancellation, Order
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = '[[accounts]]\nid = "amz"\nmarketplace = "amazon"\n'
PFCR = "amazon.pre_fulfillment_cancel_rate"


@pytest.fixture
def setup(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    store = Store(db)
    # day 1 (Nov 22): 100 orders shipped, none cancelled
    store.write([Order(account="amz", external_id=f"o{i}", purchased_at=NOW - timedelta(days=3), fulfilment="seller",
                       status="shipped") for i in range(100)])
    store.close()
    return cfg, db


def day_two(db: str) -> None:
    """What the Nov 23 sync brings: 3 seller cancellations (3% > 2.5%) and an order whose ship-by passed."""
    store = Store(db)
    records: list = [Cancellation(account="amz", external_id=f"x{i}", order_ref=f"o{i}", initiated_by="seller",
                                  cancelled_at=datetime(2026, 11, 23, 8, tzinfo=UTC)) for i in range(3)]
    records.append(Order(account="amz", external_id="late-1", purchased_at=NOW - timedelta(days=2),
                         ship_by=datetime(2026, 11, 23, 6, tzinfo=UTC), fulfilment="seller", status="unshipped"))
    store.write(records)
    store.close()


def run(cfg, db, *args):
    return CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, *args], catch_exceptions=False)


def rows(db: str) -> list[MetricHistoryRow]:
    store = Store(db)
    with Session(store.engine) as s:
        found = list(s.exec(select(MetricHistoryRow)).all())
    store.close()
    return found


def test_once_per_day_per_metric_across_restarts(setup):
    cfg, db = setup
    for moment in ("2026-11-22T09:00Z", "2026-11-22T21:00Z"):  # two processes, one day
        assert run(cfg, db, "status", "--as-of", moment, "--record").exit_code in (0, 1, 2)
    day1 = rows(db)
    day_two(db)
    assert day1 and {r.day for r in day1} == {date(2026, 11, 22)}
    assert len(day1) == len({r.metric for r in day1})  # one row per metric
    assert {r.as_of for r in day1} == {datetime(2026, 11, 22, 21, tzinfo=UTC)}  # the day's last evaluation wins
    run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--record")
    both = rows(db)
    assert len(both) == 2 * len(day1)
    pfcr = {r.day: r for r in both if r.metric == PFCR}
    assert (pfcr[date(2026, 11, 22)].level, pfcr[date(2026, 11, 23)].level) == ("ok", "critical")
    assert pfcr[date(2026, 11, 23)].value == pytest.approx(3 / 101, abs=1e-3) or pfcr[date(2026, 11, 23)].value
    store = Store(db)
    assert prune(store, date(2026, 11, 23)) == len(day1)  # retention: days before the cut go
    store.close()


def test_since_lists_level_moves_and_new_overdue_items(setup):
    cfg, db = setup
    run(cfg, db, "status", "--as-of", "2026-11-22T12:00Z", "--record")
    day_two(db)
    result = run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--since", "1d")
    out = result.output
    assert "Changes since 2026-11-22" in out
    line = next(ln for ln in out.splitlines() if PFCR in ln and "level" in ln)
    assert "ok 0.00%" in line and "critical 2.97%" in line  # before and after, with values
    assert any("late-1" in ln and "newly overdue" in ln for ln in out.splitlines())
    nothing = run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--since", "30d")
    assert "no metric history that old yet" in " ".join(nothing.output.split())
    bad = run(cfg, db, "status", "--since", "soon")
    assert bad.exit_code == 3 and "--since" in bad.output


def test_backfill_equals_status_as_of(setup):
    cfg, db = setup
    day_two(db)
    store = Store(db)
    config = parse_config({"accounts": [{"id": "amz", "marketplace": "amazon"}]})
    seen: list[date] = []
    result = backfill(config, store, days=2, now=NOW, progress=seen.append)
    assert seen == [date(2026, 11, 21), date(2026, 11, 22)] and result.days == 2
    again = backfill(config, store, days=2, now=NOW)
    assert again.rows == 0 and again.skipped == 2  # recorded days are kept
    for day in seen:
        doc = json.loads(run(cfg, db, "status", "--json", "--as-of", day_moment(day).isoformat()).output)
        want = {m["id"]: m for m in doc["accounts"][0]["metrics"]}
        got = {r.metric: r for r in rows(db) if r.day == day}
        assert set(got) == set(want)
        for metric, m in want.items():
            r = got[metric]
            assert (r.level, r.threshold, r.headroom) == (m["level"], m["threshold"], m["headroom"])
            assert r.value == pytest.approx(m["value"]) if m["value"] is not None else r.value is None
    assert len(series(store, "amz", PFCR, date(2026, 11, 1))) == 2
    store.close()
    cli_run = run(cfg, db, "history", "backfill", "--days", "3", "--overwrite")
    assert cli_run.exit_code == 0 and "Backfilled 3 day(s)" in cli_run.output


def test_csv_metrics_and_deadlines(setup):
    cfg, db = setup
    day_two(db)
    metrics = run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(metrics.output)))
    pfcr = next(r for r in table if r["metric"] == PFCR)
    assert (pfcr["account"], pfcr["level"], pfcr["threshold"], pfcr["comparator"]) == ("amz", "critical", "0.025",
                                                                                       "<")
    assert metrics.stdout_bytes.count(b"\r\n") == len(table) + 1 and metrics.exit_code == 2  # RFC 4180
    deadlines = run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--format", "csv", "--deadlines")
    queue = list(csv.DictReader(io.StringIO(deadlines.output)))
    assert queue and queue[0]["ref"] == "late-1" and queue[0]["overdue"] == "yes"
    assert queue[0]["due"] == "2026-11-23T06:00:00Z"
    wrong = run(cfg, db, "status", "--deadlines")
    assert wrong.exit_code == 3 and "--format csv" in wrong.output


def test_daily_digest_lists_the_changes_since_yesterday(setup):
    from sellerguard.alerts.slack import render_digest
    from sellerguard.clock import FixedClock
    from sellerguard.history.changes import changes_since
    from sellerguard.status import build_status

    cfg, db = setup
    run(cfg, db, "status", "--as-of", "2026-11-22T12:00Z", "--record")
    day_two(db)
    store = Store(db)
    config = parse_config({"accounts": [{"id": "amz", "marketplace": "amazon"}]})
    report = build_status(config, store, FixedClock(NOW), as_of=NOW)
    changes = changes_since(store, report, timedelta(days=1))
    store.close()
    text = json.dumps(render_digest(report, {}, NOW, changes.items), ensure_ascii=False)
    assert "Since yesterday" in text and PFCR in text and "ok 0.00% → critical 2.97%" in text
    assert "late-1" in text


def test_chart_writes_svg_png_and_a_text_chart(setup, tmp_path):
    cfg, db = setup
    run(cfg, db, "status", "--as-of", "2026-11-22T12:00Z", "--record")
    day_two(db)
    run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--record")
    svg = tmp_path / "pfcr.svg"
    result = run(cfg, db, "chart", "amz", PFCR, "--days", "3650", "-o", str(svg))
    assert result.exit_code == 0 and "Wrote" in result.output, result.output
    body = svg.read_text()
    assert 'id="value"' in body and 'id="threshold"' in body
    png = tmp_path / "pfcr.png"
    assert run(cfg, db, "chart", "amz", PFCR, "--days", "3650", "-o", str(png)).exit_code == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    text = run(cfg, db, "chart", "amz", PFCR, "--days", "3650")
    assert text.exit_code == 0, text.output
    assert f"amz / {PFCR} (critical) in %" in text.output and "threshold" in text.output
    missing = run(cfg, db, "chart", "amz", "amazon.nope", "--days", "3650")
    assert missing.exit_code == 3 and "no history for amz / amazon.nope" in missing.output
    wrong = run(cfg, db, "chart", "amz", PFCR, "-o", str(tmp_path / "x.jpg"))
    assert wrong.exit_code == 3 and not (tmp_path / "x.jpg").exists()


def test_serve_refuses_other_addresses_without_a_token(setup):
    cfg, db = setup
    result = run(cfg, db, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 3 and "give a token" in result.output
