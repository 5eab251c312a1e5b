"""Metric history (issue 22): once per day per metric across restarts, backfill == --as-of, --since, digest, CSV,
charts. One crafted two-day store is shared by the module (each evaluation costs CPU); tests that need a store of
their own make a one-day one."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from sellerguard.cli import cli
from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.history.backfill import backfill, day_moment
from sellerguard.history.changes import changes_since
from sellerguard.history.record import prune, record, series
from sellerguard.history.tables import MetricHistoryRow
from sellerguard.schema import Cancellation, Order
from sellerguard.status import build_status, render_csv_deadlines, render_csv_metrics
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY1 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = '[[accounts]]\nid = "amz"\nmarketplace = "amazon"\n'
PFCR = "amazon.pre_fulfillment_cancel_rate"
CONFIG_OBJ = parse_config({"accounts": [{"id": "amz", "marketplace": "amazon"}]})


def day_one(tmp) -> tuple:
    """A store as the Nov 22 sync left it: 100 orders shipped, none cancelled."""
    cfg = tmp / "sg.toml"
    cfg.write_text(CONFIG)
    db = f"sqlite:///{tmp / 'sg.db'}"
    store = Store(db)
    store.write([Order(account="amz", external_id=f"o{i}", purchased_at=NOW - timedelta(days=3), fulfilment="seller",
                       status="shipped") for i in range(100)])
    store.close()
    return cfg, db


def day_two(db: str) -> None:
    """What the Nov 23 sync brings: 3 seller cancellations (3/101 > 2.5%) and an order whose ship-by passed."""
    store = Store(db)
    records: list = [Cancellation(account="amz", external_id=f"x{i}", order_ref=f"o{i}", initiated_by="seller",
                                  cancelled_at=datetime(2026, 11, 23, 8, tzinfo=UTC)) for i in range(3)]
    records.append(Order(account="amz", external_id="late-1", purchased_at=NOW - timedelta(days=2),
                         ship_by=datetime(2026, 11, 23, 6, tzinfo=UTC), fulfilment="seller", status="unshipped"))
    store.write(records)
    store.close()


@pytest.fixture(scope="module")
def _two_days_built(tmp_path_factory):
    """Built once per module; tests get a copy (``two_days``), since some record into the database."""
    cfg, db = day_one(tmp_path_factory.mktemp("two-days"))
    store = Store(db)
    record(store, build_status(CONFIG_OBJ, store, FixedClock(DAY1), as_of=DAY1))
    store.close()
    day_two(db)
    store = Store(db)
    report = build_status(CONFIG_OBJ, store, FixedClock(NOW), as_of=NOW)
    record(store, report)
    store.close()
    return cfg, db, report


@pytest.fixture
def two_days(_two_days_built, tmp_path):
    """(cfg, db, day-two report): Nov 22 recorded after its sync, then Nov 23's sync and evaluation recorded.

    A fresh copy of the database per test: under xdist the tests of this module run in varying subsets and orders,
    and one that records (``--record``) must not change what another reads."""
    import shutil

    cfg, db, report = _two_days_built
    source = Path(db.removeprefix("sqlite:///"))
    copy = tmp_path / source.name
    shutil.copy2(source, copy)
    key = source.with_name(source.name + ".key")
    if key.exists():
        shutil.copy2(key, copy.with_name(copy.name + ".key"))
    return cfg, f"sqlite:///{copy}", report


def run(cfg, db, *args):
    return CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, *args], catch_exceptions=False)


def rows(db: str) -> list[MetricHistoryRow]:
    store = Store(db)
    with Session(store.engine) as s:
        found = list(s.exec(select(MetricHistoryRow)).all())
    store.close()
    return found


def test_once_per_day_per_metric_across_restarts(two_days):
    cfg, db, report = two_days
    before = rows(db)
    per_day = len(report.accounts[0].metrics)
    assert len(before) == 2 * per_day and {r.day for r in before} == {date(2026, 11, 22), date(2026, 11, 23)}
    # another process, later the same day: the day's rows are overwritten, never doubled
    assert run(cfg, db, "status", "--as-of", "2026-11-23T18:00Z", "--record").exit_code == 2
    after = rows(db)
    assert len(after) == len(before)
    day2 = [r for r in after if r.day == date(2026, 11, 23)]
    assert {r.as_of for r in day2} == {datetime(2026, 11, 23, 18, tzinfo=UTC)}  # the day's last evaluation wins
    pfcr = {r.day: r for r in after if r.metric == PFCR}
    assert (pfcr[date(2026, 11, 22)].level, pfcr[date(2026, 11, 23)].level) == ("ok", "critical")
    assert pfcr[date(2026, 11, 23)].value == pytest.approx(3 / 101)


def test_prune_drops_days_before_the_cut(two_days, tmp_path):
    _, _, report = two_days
    db = f"sqlite:///{tmp_path / 'prune.db'}"
    store = Store(db)
    for day in (date(2026, 11, 21), date(2026, 11, 22)):
        record(store, report, day=day)
    per_day = len(report.accounts[0].metrics)
    assert prune(store, date(2026, 11, 21)) == 0
    assert prune(store, date(2026, 11, 22)) == per_day and {r.day for r in rows(db)} == {date(2026, 11, 22)}
    store.close()


def test_since_lists_level_moves_and_new_overdue_items(two_days):
    cfg, db, report = two_days
    # a wide console: in an 80-column one (an xdist worker) rich wraps the change line
    out = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["--config", str(cfg), "--db", db, "status", "--as-of", "2026-11-23T12:00Z", "--since", "1d"],
        catch_exceptions=False).output
    assert "Changes since 2026-11-22" in out
    line = next(ln for ln in out.splitlines() if PFCR in ln and "level" in ln)
    assert "ok 0.00%" in line and "critical 2.97%" in line  # before and after, with values
    assert any("late-1" in ln and "newly overdue" in ln for ln in out.splitlines())
    store = Store(db)
    assert changes_since(store, report, timedelta(days=30)).base_day is None  # no history that old
    store.close()
    bad = run(cfg, db, "status", "--since", "soon")
    assert bad.exit_code == 3 and "--since" in bad.output
    short = run(cfg, db, "status", "--since", "2h")
    assert short.exit_code == 3 and "shorter than a day" in short.output


def test_daily_digest_lists_the_changes_since_yesterday(two_days):
    from sellerguard.alerts.slack import render_digest

    _, db, report = two_days
    store = Store(db)
    changes = changes_since(store, report, timedelta(days=1))
    store.close()
    text = json.dumps(render_digest(report, {}, NOW, changes.items), ensure_ascii=False)
    assert "Since yesterday" in text and PFCR in text and "ok 0.00% → critical 2.97%" in text
    assert "late-1" in text


def test_backfill_equals_status_as_of(tmp_path):
    cfg, db = day_one(tmp_path)
    store = Store(db)
    seen: list[date] = []
    result = backfill(CONFIG_OBJ, store, days=1, now=NOW, progress=seen.append)
    assert seen == [date(2026, 11, 22)] and result.days == 1
    day = date(2026, 11, 22)
    doc = json.loads(run(cfg, db, "status", "--json", "--as-of", day_moment(day).isoformat()).output)
    want = {m["id"]: m for m in doc["accounts"][0]["metrics"]}
    got = {r.metric: r for r in rows(db) if r.day == day}
    assert set(got) == set(want)
    for metric, m in want.items():
        r = got[metric]
        assert (r.level, r.threshold, r.headroom, r.as_of) == (m["level"], m["threshold"], m["headroom"],
                                                                day_moment(day))
        assert r.value == pytest.approx(m["value"]) if m["value"] is not None else r.value is None
    assert len(series(store, "amz", PFCR, date(2026, 11, 1))) == 1
    # recorded days are kept (the daemon's rows are never replaced by a recomputation unless --overwrite)
    again = backfill(CONFIG_OBJ, store, days=1, now=NOW)
    assert (again.days, again.rows, again.skipped) == (0, 0, 1)
    store.close()
    cli_run = run(cfg, db, "history", "backfill", "--days", "1")  # yesterday by the real clock
    assert cli_run.exit_code == 0 and "Backfilled 1 day(s)" in cli_run.output


def test_csv_metrics_and_deadlines(two_days):
    cfg, db, report = two_days
    table = list(csv.DictReader(io.StringIO(render_csv_metrics(report))))
    pfcr = next(r for r in table if r["metric"] == PFCR)
    assert (pfcr["account"], pfcr["level"], pfcr["threshold"], pfcr["comparator"], pfcr["numerator"]) == (
        "amz", "critical", "0.025", "<", "3")
    queue = list(csv.DictReader(io.StringIO(render_csv_deadlines(report))))
    assert queue and queue[0]["ref"] == "late-1" and queue[0]["overdue"] == "yes"
    assert queue[0]["due"] == "2026-11-23T06:00:00Z"
    result = run(cfg, db, "status", "--as-of", "2026-11-23T12:00Z", "--format", "csv", "--deadlines")
    assert result.exit_code == 2 and result.stdout_bytes.count(b"\r\n") == len(queue) + 1  # RFC 4180 line ends
    wrong = run(cfg, db, "status", "--deadlines")
    assert wrong.exit_code == 3 and "--format csv" in wrong.output


def test_chart_writes_svg_png_and_a_text_chart(two_days, tmp_path):
    cfg, db, _ = two_days
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


def test_serve_refuses_other_addresses_without_a_token(two_days):
    cfg, db, _ = two_days
    result = run(cfg, db, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 3 and "give a token" in result.output


@pytest.mark.postgres
def test_record_upserts_once_per_day_on_postgresql():
    from pg import pg_schema_url

    from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport

    def report(at: datetime, value: float) -> StatusReport:
        m = MetricStatus(id=PFCR, name="PFCR", value=value, numerator=value * 100, denominator=100, window_days=7,
                         threshold=0.025, comparator="<", level="ok", source="test", breach_forecast=at)
        return StatusReport(as_of=at, accounts=[AccountStatus(marketplace="amazon", account="amz", level="ok",
                                                              metrics=[m], deadlines=[])])

    with pg_schema_url("hist") as url:
        store = Store(url)
        record(store, report(DAY1, 0.01))
        record(store, report(DAY1 + timedelta(hours=6), 0.02))  # a restart later the same day
        record(store, report(NOW, 0.03))
        got = series(store, "amz", PFCR, date(2026, 11, 1))
        assert [(r.day, r.value, r.as_of) for r in got] == [(date(2026, 11, 22), 0.02, DAY1 + timedelta(hours=6)),
                                                             (date(2026, 11, 23), 0.03, NOW)]
        assert prune(store, date(2026, 11, 23)) == 1
        store.close()


def test_daemon_records_each_evaluation_once_per_day(two_days, tmp_path):
    from sellerguard.daemon import Daemon

    _, _, report = two_days
    store = Store(f"sqlite:///{tmp_path / 'daemon.db'}")
    clock = FixedClock(NOW)
    daemon = Daemon(CONFIG_OBJ, store, clock=clock, sync=lambda *a, **k: [],
                    evaluate=lambda _c, _s, at, _a: report.model_copy(update={"as_of": at}))
    try:
        daemon.evaluate_and_queue(("amz",))
        clock.sleep(3600)  # the next pass, an hour later the same day
        daemon.evaluate_and_queue(("amz",))
    finally:
        daemon.pool.shutdown()
    got = rows(f"sqlite:///{tmp_path / 'daemon.db'}")
    assert len(got) == len(report.accounts[0].metrics)
    assert {r.as_of for r in got} == {NOW + timedelta(hours=1)} and daemon.guard.channel("history").errors_total == 0
    store.close()
