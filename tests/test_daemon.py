"""The daemon: per-channel guard, one daemon per store, stopping, health, logs, and runs against the sandbox."""

from __future__ import annotations

import io
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlmodel import Session, select

from sellerguard import connectors, daemon
from sellerguard.alerts.tables import OutboxRow
from sellerguard.clock import FixedClock
from sellerguard.config import Config, parse_config
from sellerguard.daemon import Daemon, Guard, serve
from sellerguard.errors import StoreError
from sellerguard.health import HealthServer
from sellerguard.logs import configure_logging
from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport
from sellerguard.store import Store
from sellerguard.store.tables import SyncCursor

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeSlack:
    """A local Slack incoming-webhook stand-in on loopback: records every POSTed JSON body, answers 200 ok."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/SECRET"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def text(self) -> str:
        return json.dumps(self.posts)


@pytest.fixture
def slack(monkeypatch):
    fake = FakeSlack()
    monkeypatch.setenv("SG_FAKE_SLACK", fake.url)
    yield fake
    fake.close()


def config_with(accounts: list[dict[str, Any]], **daemon_cfg: Any) -> Config:
    return parse_config({
        "accounts": accounts,
        "daemon": daemon_cfg,
        "notify": [{"name": "ops", "type": "slack", "url": "env:SG_FAKE_SLACK"}],
    })


@dataclass
class Outcome:
    account: str
    ok: bool
    error: str | None = None
    retry_after: float | None = None
    stopped: bool = False


def fake_report(now: datetime, accounts: tuple[str, ...], level: str = "critical") -> StatusReport:
    metric = MetricStatus(id="amazon.odr", name="ODR", value=0.02, numerator=20, denominator=1000,
                          window_days=60, threshold=0.01, comparator="<", level=level, source="https://x.test")
    return StatusReport(as_of=now, accounts=[
        AccountStatus(marketplace="amazon", account=a, level=level, metrics=[metric], deadlines=[])
        for a in accounts
    ])


# -- guard and jobs -------------------------------------------------------------------------------------


def test_one_failing_channel_is_logged_once_backs_off_and_never_stops_the_others(store, slack, caplog):
    config = config_with([{"id": "good", "marketplace": "amazon"}, {"id": "bad", "marketplace": "amazon"}])
    clock = FixedClock(NOW)
    calls: list[str] = []

    def sync(config, store, *, accounts, **kw):
        calls.append(accounts[0])
        if accounts[0] == "bad":
            raise RuntimeError("connector bug")
        return [Outcome(accounts[0], ok=True)]

    evaluated: list[tuple[str, ...]] = []

    def evaluate(config, store, as_of, accounts):
        evaluated.append(accounts)
        return fake_report(as_of, accounts)

    d = Daemon(config, store, clock=clock, sync=sync, evaluate=evaluate, sleep=clock.sleep)
    caplog.set_level(logging.DEBUG, logger="sellerguard")
    for _ in range(4):
        d.cycle()
        clock.advance(minutes=30)
    assert calls.count("good") == 4
    assert calls.count("bad") == 3  # retried at the next run, after 30 min, then held back for 1 h
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR and "sync:bad" in r.getMessage()]) == 1
    assert sum("good" in e for e in evaluated) == 4
    assert sum("bad" in e for e in evaluated) == 4  # evaluated even while backing off: stale alerts on time
    assert len(evaluated) == 4  # both accounts of a cycle in one evaluation: one message set per target
    assert d.snapshot().errors["sync:bad"] == 3
    assert "good (amazon): CRITICAL" in slack.text()  # the healthy channel's alert got through


def test_guard_backoff_doubles_and_honours_retry_after():
    clock = FixedClock(NOW)
    g = Guard(clock)
    g.failed("sync:a", "HTTP 503", base=timedelta(minutes=10))
    assert g.ready("sync:a")
    g.failed("sync:a", "HTTP 503", base=timedelta(minutes=10))
    assert g.channel("sync:a").blocked_until == NOW + timedelta(minutes=10)
    g.failed("sync:a", "HTTP 503", base=timedelta(minutes=10))
    assert g.channel("sync:a").blocked_until == NOW + timedelta(minutes=20)
    g.failed("sync:a", "HTTP 429", base=timedelta(minutes=10), retry_after=7200)
    assert g.channel("sync:a").blocked_until == NOW + timedelta(hours=2)
    g.succeeded("sync:a")
    assert g.ready("sync:a") and g.channel("sync:a").failures == 0


def test_schedule_has_one_sync_job_per_account_with_jitter_plus_outbox_and_digest(store):
    config = config_with([{"id": "a", "marketplace": "amazon", "sync_every": "15m"},
                          {"id": "b", "marketplace": "ebay", "enabled": False}], jitter="1m")
    d = Daemon(config, store, clock=FixedClock(NOW))
    d.schedule_jobs()
    jobs = {tuple(sorted(j.tags)): j for j in d.scheduler.jobs}
    assert set(jobs) == {("a", "sync"), ("outbox",), ("digest",)}
    assert (jobs[("a", "sync")].interval, jobs[("a", "sync")].latest) == (840, 960)


# -- one daemon per store, stopping ---------------------------------------------------------------------


def test_a_second_daemon_on_the_same_store_refuses(tmp_path):
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    first, second = Store(url), Store(url)
    a = Daemon(Config(), first, clock=FixedClock(NOW))
    b = Daemon(Config(), second, clock=FixedClock(NOW))
    a.acquire()
    with pytest.raises(StoreError, match="another sellerguard daemon is already running on this database"):
        b.acquire()
    a.release()
    b.acquire()  # free again once the first one is gone
    b.release()


def test_a_second_daemon_refuses_on_postgresql():
    url = "postgresql+psycopg://127.0.0.1:5432/test"
    try:
        first, second = Store(url), Store(url)
    except StoreError as exc:
        pytest.skip(f"no PostgreSQL at {url}: {exc}")
    a = Daemon(Config(), first, clock=FixedClock(NOW))
    b = Daemon(Config(), second, clock=FixedClock(NOW))
    a.acquire()
    try:
        with pytest.raises(StoreError, match="already running"):
            b.acquire()
    finally:
        a.release()
        first.close()
        second.close()


def test_stop_request_ends_the_loop_and_the_watchdog_guarantees_exit(store, monkeypatch):
    monkeypatch.setattr(daemon, "STOP_GRACE_S", 0.05)
    exited = threading.Event()
    d = Daemon(Config(), store, clock=FixedClock(NOW))
    d.request_stop(lambda code: exited.set())
    assert d.stop.is_set()
    d.run_forever()  # returns at once: stop is set
    assert exited.wait(5)  # a job that hung would be cut off here, well within systemd's 10 s


def test_serve_once_takes_and_releases_the_lock(store, slack):
    d = Daemon(config_with([]), store, clock=FixedClock(NOW))
    serve(d, once=True)
    release = store.try_lock(daemon.LOCK_NAME)
    assert release is not None
    release()


# -- health and logs ------------------------------------------------------------------------------------


def get(url):
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text):
    """/metrics parsed by prometheus_client's own parser: {(name, frozenset(labels)): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_health_and_metrics_endpoints(store, slack):
    config = config_with([{"id": "acme", "marketplace": "amazon", "sync_every": "5m"}])
    clock = FixedClock(NOW)
    d = Daemon(config, store, clock=clock, sync=lambda *a, **k: [Outcome("acme", ok=True)],
               evaluate=lambda c, s, now, accts: fake_report(now, accts))
    server = HealthServer(d.snapshot, clock.now, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert get(f"{base}/healthz")[0] == 503  # never ticked: stalled
        d.tick()  # the loop turns while the first backfill runs
        code, body = get(f"{base}/healthz")
        assert (code, json.loads(body)["status"]) == (200, "starting")
        assert get(f"{base}/readyz")[0] == 503
        d.cycle()
        assert json.loads(get(f"{base}/healthz")[1])["status"] == "ok"
        assert get(f"{base}/readyz")[0] == 200
        text = get(f"{base}/metrics")[1]
    finally:
        server.stop()
        d.pool.shutdown()
    got = samples(text)
    acct = {("account", "acme"), ("marketplace", "amazon")}
    metric = frozenset(acct | {("metric", "amazon.odr")})
    assert got[("sellerguard_up", frozenset())] == 1.0
    assert got[("sellerguard_last_sync_success", frozenset(acct))] == 1.0
    assert got[("sellerguard_last_sync_timestamp_seconds", frozenset(acct))] == NOW.timestamp()
    assert got[("sellerguard_metric_ratio", metric)] == 0.02  # amazon.odr is a rate: _ratio
    assert got[("sellerguard_metric_threshold_ratio", metric)] == 0.01
    assert got[("sellerguard_metric_level", metric)] == 3.0
    assert got[("sellerguard_alerts_firing", frozenset({("target", "ops"), ("level", "critical")}))] == 1.0
    assert got[("sellerguard_outbox_messages", frozenset({("status", "sent")}))] == 1.0
    assert server.server.server_address[0] == "127.0.0.1"
    clock.advance(minutes=3)  # the loop stopped turning: stalled, and sellerguard_up says so
    from sellerguard.health import render_metrics

    assert samples(render_metrics(d.snapshot(), clock.now()))[("sellerguard_up", frozenset())] == 0.0


def test_health_states_starting_ok_degraded_stalled(store):
    """A long first backfill is 'starting' (200); syncs failing twice in a row or stale data is 'degraded'
    (200 on /healthz, 503 on /readyz); a loop that stopped ticking is 'stalled' (503)."""
    from sellerguard.health import health

    config = config_with([{"id": "a", "marketplace": "ebay", "sync_every": "5m"},
                          {"id": "b", "marketplace": "ebay", "sync_every": "5m"}])
    clock = FixedClock(NOW)
    results = {"a": True, "b": True}
    d = Daemon(config, store, clock=clock, sync=lambda c, s, *, accounts, **k: [Outcome(accounts[0],
               ok=results[accounts[0]], error=None if results[accounts[0]] else "HTTP 503")],
               evaluate=lambda c, s, now, accts: fake_report(now, accts, level="ok"), sleep=clock.sleep)
    try:
        for _minute in range(8):  # 8 minutes of first backfill: the loop ticks, never 503
            d.tick()
            assert health(d.snapshot(), clock.now())["status"] == "starting"
            clock.advance(minutes=1)
        d.cycle()
        assert health(d.snapshot(), clock.now())["status"] == "ok"
        results["b"] = False
        d.cycle()
        assert health(d.snapshot(), clock.now())["status"] == "ok"  # one failure is a blip
        clock.advance(minutes=5)
        d.cycle()
        doc = health(d.snapshot(), clock.now())
        assert doc["status"] == "degraded" and doc["accounts"]["b"]["state"] == "failing"
        assert doc["accounts"]["a"]["state"] == "ok"
        results["b"] = True
        clock.advance(minutes=5)  # b's backoff is over
        d.cycle()
        assert health(d.snapshot(), clock.now())["status"] == "ok"
        clock.advance(minutes=21)  # past b's stale_after (4 x 5 m) without a sync
        doc = health(d.snapshot(), clock.now())
        assert doc["status"] == "stalled"  # and the loop did not tick either
        d.tick()
        assert health(d.snapshot(), clock.now())["status"] == "degraded"  # data stale
    finally:
        d.pool.shutdown()


def test_sd_notify_watchdog_over_the_socket_protocol(tmp_path):
    import socket as socketlib

    from sellerguard.health import Notifier

    path = str(tmp_path / "notify.sock")
    sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    try:
        n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"})  # WatchdogSec=20: ping every 10 s
        assert n.send("READY=1")
        n.watchdog(100.0)
        n.watchdog(105.0)  # too soon: no second ping
        n.watchdog(110.0)
        got = [sock.recv(64).decode() for _ in range(3)]
        assert got == ["READY=1", "WATCHDOG=1", "WATCHDOG=1"]
        assert not Notifier({}).send("READY=1")  # outside systemd: nothing
    finally:
        sock.close()


@pytest.fixture
def restore_logging():
    """configure_logging() rewires the "sellerguard" logger; put it back so later tests' caplog sees records."""
    logger = logging.getLogger("sellerguard")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


def test_json_and_human_log_lines(restore_logging):
    buf = io.StringIO()
    configure_logging("json", "INFO", stream=buf)
    logging.getLogger("sellerguard.daemon").warning("sync:%s failing", "acme")
    line = json.loads(buf.getvalue())
    assert (line["level"], line["logger"], line["msg"]) == ("warning", "sellerguard.daemon", "sync:acme failing")
    human = io.StringIO()
    configure_logging("human", "INFO", stream=human)
    logging.getLogger("sellerguard.daemon").info("daemon started")
    assert human.getvalue().endswith(" INFO    sellerguard.daemon: daemon started\n")


# -- against the loopback sandbox -----------------------------------------------------------------------


def sandbox_setup(clock):
    from sellerguard.demo import demo_config
    from sellerguard.sandbox import Sandbox, World

    box = Sandbox(World(NOW, accounts=[("walmart-us", "walmart", "healthy", "US", "USD", 20, 0.3)]), clock=clock)
    box.start()
    base = demo_config(box)
    config = base.model_copy(update={"notify": config_with([]).notify})
    return box, config


def counts(store: Store) -> dict[str, int]:
    return store.counts()


def cursors(store: Store) -> dict[tuple[str, str], str | None]:
    with Session(store.engine) as s:
        return {(c.account, c.stream): c.cursor for c in s.exec(select(SyncCursor)).all()}


def test_sigterm_mid_sync_loses_and_duplicates_nothing(tmp_path, slack):
    if "walmart" not in connectors.registry():
        pytest.skip("the walmart connector is not built yet")
    clock = FixedClock(NOW)
    box, config = sandbox_setup(clock)
    try:
        full = Store(f"sqlite:///{tmp_path / 'full.db'}")
        Daemon(config, full, clock=clock, sleep=clock.sleep).cycle()

        url = f"sqlite:///{tmp_path / 'stopped.db'}"
        first = Store(url)
        d = Daemon(config, first, clock=clock, sleep=clock.sleep)
        batches: list[int] = []

        def sync_then_sigterm(config, store, **kw):
            from sellerguard.sync import sync_accounts

            def progress(account, stream, batch):
                batches.append(len(batch.records))
                d.request_stop(lambda code: None)  # SIGTERM arrives during the first batch

            return sync_accounts(config, store, progress=progress, **kw)

        d.sync_fn = sync_then_sigterm
        d.cycle()
        d.cancel_watchdog()  # the stop completed in time
        assert len(batches) == 1 and sum(counts(first).values()) == batches[0]  # the batch in hand was committed
        first.close()

        second = Store(url)  # restart: picks up at the committed cursor
        Daemon(config, second, clock=clock, sleep=clock.sleep).cycle()
        assert counts(second) == counts(full)  # nothing lost, nothing twice
        assert cursors(second) == cursors(full)
    finally:
        box.stop()


def test_a_failing_channel_surfaces_as_a_stale_data_alert_at_the_fake_slack(tmp_path, slack):
    if "walmart" not in connectors.registry():
        pytest.skip("the walmart connector is not built yet")
    clock = FixedClock(NOW)
    box, config = sandbox_setup(clock)
    store = Store(f"sqlite:///{tmp_path / 'stale.db'}")
    try:
        d = Daemon(config, store, clock=clock, sleep=clock.sleep)
        d.cycle()
        box.inject("walmart", ".*", status=503, times=10_000)  # the marketplace goes down
        for _ in range(6):  # stale_after defaults to 4 x sync_every (5 m in the demo config)
            clock.advance(minutes=5)
            d.cycle()
        assert "Data is stale: sync keeps failing" in slack.text()
        errors = [r for r in d.guard.channels.values() if r.errors_total]
        assert errors  # counted for /metrics
        box.clear_faults()
        clock.advance(hours=7)  # past the longest backoff
        d.cycle()
        assert "sync works again" in slack.text()
    finally:
        box.stop()


def test_a_defect_injected_in_the_sandbox_reaches_the_fake_slack_within_one_cycle(tmp_path, slack):
    from sellerguard.demo import demo_config
    from sellerguard.rules.packs import load_packs
    from sellerguard.sandbox import Sandbox, World
    from sellerguard.sandbox.world import DEFAULT_ACCOUNTS

    clock = FixedClock(NOW)
    probe = Sandbox(World(NOW, accounts=[]), clock=clock)
    usable = set(probe.marketplaces) & set(connectors.registry()) & set(load_packs())
    if not usable:
        pytest.skip("needs one marketplace with a connector, sandbox routes and a rules pack (none yet)")
    mp = sorted(usable)[0]
    acc = next(a for a in DEFAULT_ACCOUNTS if a[1] == mp)
    with Sandbox(World(NOW, accounts=[(acc[0], mp, "healthy", *acc[3:])]), clock=clock) as box:
        config = demo_config(box).model_copy(update={"notify": config_with([]).notify})
        store = Store(f"sqlite:///{tmp_path / 'defect.db'}")
        d = Daemon(config, store, clock=clock, sleep=clock.sleep)
        d.cycle()
        before, levels = len(slack.posts), dict(d.snapshot().metrics)
        for kind in ("late_shipment", "negative_feedback", "seller_cancel"):
            box.world.inject(acc[0], kind, 200, clock.now())
        clock.advance(minutes=5)
        d.cycle()  # one cycle: sync, evaluate, queue, deliver
        rank = {"ok": 0, "unknown": 0, "warn": 1, "critical": 2}
        risen = [key[1] for key, p in d.snapshot().metrics.items()
                 if rank[p.level] > rank[levels[key].level if key in levels else "ok"]]
        assert risen, "the injected defects should raise at least one metric"
        new = json.dumps(slack.posts[before:])
        assert all(f"`{m}`" in new for m in risen)
        with Session(store.engine) as s:
            assert all(r.status == "sent" for r in s.exec(select(OutboxRow)).all())


# -- concurrency: one paced account never holds up the rest ----------------------------------------------


def test_a_paced_account_never_holds_up_the_others(store, slack):
    """'slow' is paced by its marketplace (its sync waits on the quota); 'fast' syncs, is evaluated and reaches
    Slack in the same loop pass while 'slow' is still mid-sync, and again on its next interval."""
    config = config_with([{"id": "slow", "marketplace": "amazon", "sync_every": "3m"},
                          {"id": "fast", "marketplace": "ebay", "sync_every": "1m"}])
    clock = FixedClock(NOW)
    quota = threading.Event()  # the slow marketplace's next page: released by the test, never by sleeping
    started = threading.Event()

    def sync(config, store, *, accounts, **kw):
        if accounts[0] == "slow":
            started.set()
            assert quota.wait(10)
        return [Outcome(accounts[0], ok=True)]

    d = Daemon(config, store, clock=clock, sync=sync,
               evaluate=lambda c, s, now, accts: fake_report(now, accts), sleep=clock.sleep)
    try:
        d.submit("slow")
        d.submit("fast")
        assert started.wait(5)
        d.running["fast"].result(timeout=5)
        d.pass_once()  # 'slow' is still waiting for its quota
        assert not d.running["slow"].done()
        assert "fast (amazon): CRITICAL" in slack.text() and "slow (amazon)" not in slack.text()
        assert d.snapshot().last_tick == clock.now()  # the loop ticks during the long job
        clock.advance(minutes=1)
        d.submit("slow")  # its next run is skipped while the first one runs
        d.submit("fast")
        d.running["fast"].result(timeout=5)
        d.pass_once()
        assert d.snapshot().last_sync["fast"][0] == clock.now()
        quota.set()
        d.wait_syncs()
        d.pass_once()
        assert "slow (amazon): CRITICAL" in slack.text()
    finally:
        quota.set()
        d.pool.shutdown(wait=True)


def test_sync_every_below_the_marketplace_quota_is_raised_with_a_warning(store, caplog):
    config = config_with([{"id": "az", "marketplace": "amazon", "sync_every": "1m"},
                          {"id": "eb", "marketplace": "ebay", "sync_every": "1m"}])
    caplog.set_level(logging.WARNING, logger="sellerguard")
    d = Daemon(config, store, clock=FixedClock(NOW))
    assert d.intervals == {"az": timedelta(minutes=3), "eb": timedelta(minutes=1)}
    warning = [r.getMessage() for r in caplog.records if "az" in r.getMessage()]
    assert len(warning) == 1 and "searchOrders usage plan: 0.0056 requests/s" in warning[0]
    assert "syncing every 3m instead" in warning[0]
    d.schedule_jobs()
    job = next(j for j in d.scheduler.jobs if "az" in j.tags)
    assert job.interval >= 150
    d.pool.shutdown()
