"""``--health-port``: liveness, readiness and Prometheus /metrics over plain HTTP, bound to 127.0.0.1 by default.

Two questions, kept apart (Kubernetes' liveness vs readiness):

    alive   the daemon loop ticked within ``MAX_IDLE`` (it ticks about once a second, also while syncs run in
            the pool and while the outbox delivers): restart the process only when this is false
    state   starting  some account has not finished its first sync yet (a long first backfill), none failing
            ok        every account's last sync succeeded and its data is fresh
            degraded  some account's syncs keep failing (``FAILING_AFTER`` in a row) or its data is older than
                      its ``stale_after`` (alerting still runs: the stale-data alert says so in the channel)
            stalled   not alive

    /livez, /healthz   200 unless stalled (503); the JSON body names the state and each account's
    /readyz            200 only when ok; 503 starting / degraded / stalled

The server thread only reads a snapshot the daemon publishes; it never touches the store. /metrics is rendered
by ``prometheus_client`` from that snapshot (a custom collector on a private registry).

systemd: ``Notifier`` speaks the sd_notify datagram protocol (``READY=1``, ``WATCHDOG=1``, ``STOPPING=1``) on
``$NOTIFY_SOCKET`` when the unit sets ``Type=notify`` / ``WatchdogSec=``; without the variable it does nothing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sellerguard.rules.report import LEVEL_ORDER

MAX_IDLE = timedelta(minutes=2)
FAILING_AFTER = 2  # syncs failed in a row before an account counts as failing (one blip is not degraded)


@dataclass
class AccountHealth:
    """One account as the daemon saw its syncs."""

    marketplace: str
    stale_limit: timedelta
    last_finished: datetime | None = None
    last_ok: datetime | None = None
    ok: bool | None = None  # the last sync's result; None before the first finished
    failures: int = 0  # failed syncs in a row
    error_kind: str | None = None

    def state(self, now: datetime) -> str:
        if self.last_finished is None:
            return "starting"
        if self.failures >= FAILING_AFTER:
            return "failing"
        if self.last_ok is not None and now - self.last_ok > self.stale_limit:
            return "stale"
        if self.last_ok is None and self.failures:
            return "starting"  # its first sync failed once: retried at the next run
        return "ok"


@dataclass
class MetricPoint:
    """One seller metric at the last evaluation (values in the pack's unit; ``unit`` from alerts.units)."""

    marketplace: str
    unit: str  # ratio / average / count / number
    value: float | None
    threshold: float | None
    headroom: float | None
    breach_forecast: datetime | None
    level: str


@dataclass
class Snapshot:
    """What the daemon knows, copied out for scrapes."""

    started_at: datetime | None = None
    last_tick: datetime | None = None
    accounts: dict[str, AccountHealth] = field(default_factory=dict)
    metrics: dict[tuple[str, str], MetricPoint] = field(default_factory=dict)  # (account, metric id)
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (target, level) -> firing alerts
    errors: dict[str, int] = field(default_factory=dict)  # job -> errors since start
    outbox: dict[str, int] = field(default_factory=dict)  # status -> messages

    @property
    def last_sync(self) -> dict[str, tuple[datetime, bool]]:
        return {a: (h.last_finished, bool(h.ok)) for a, h in self.accounts.items() if h.last_finished}


def alive(snap: Snapshot, now: datetime, max_idle: timedelta = MAX_IDLE) -> bool:
    return snap.last_tick is not None and now - snap.last_tick <= max_idle


def health(snap: Snapshot, now: datetime) -> dict[str, Any]:
    """The /healthz document: ``status`` (starting / ok / degraded / stalled) and why."""
    states = {a: h.state(now) for a, h in snap.accounts.items()}
    if not alive(snap, now):
        status = "stalled"
    elif any(s in ("failing", "stale") for s in states.values()):
        status = "degraded"
    elif any(s == "starting" for s in states.values()):
        status = "starting"
    else:
        status = "ok"
    return {
        "status": status,
        "last_tick": snap.last_tick.isoformat() if snap.last_tick else None,
        "started_at": snap.started_at.isoformat() if snap.started_at else None,
        "accounts": {
            a: {"state": states[a], "failures": h.failures, "error_kind": h.error_kind,
                "last_ok": h.last_ok.isoformat() if h.last_ok else None}
            for a, h in sorted(snap.accounts.items())
        },
    }


def healthy(snap: Snapshot, now: datetime, max_idle: timedelta = MAX_IDLE) -> bool:
    """Liveness (kept for callers of the old name)."""
    return alive(snap, now, max_idle)


class SnapshotCollector:
    """Prometheus series from a snapshot; names by the conventions (base units, ``_ratio``, ``_seconds``,
    ``_total``), seller metrics labelled by account, marketplace and metric."""

    def __init__(self, snapshot: Callable[[], Snapshot], now: Callable[[], datetime]) -> None:
        self.snapshot, self.now = snapshot, now

    def collect(self) -> Iterator[Metric]:
        snap, now = self.snapshot(), self.now()
        up = GaugeMetricFamily("sellerguard_up", "1 while the daemon loop ticks (last tick within 2 min), else 0.")
        up.add_metric([], 1.0 if alive(snap, now) else 0.0)
        yield up
        doc = health(snap, now)
        status = GaugeMetricFamily("sellerguard_health_status", "1 for the current /healthz status.",
                                   labels=["status"])
        for s in ("starting", "ok", "degraded", "stalled"):
            status.add_metric([s], 1.0 if doc["status"] == s else 0.0)
        yield status
        if snap.last_tick is not None:
            tick = GaugeMetricFamily("sellerguard_last_tick_timestamp_seconds", "When the daemon loop last ticked.")
            tick.add_metric([], snap.last_tick.timestamp())
            yield tick
        yield from self._accounts(snap, now)
        yield from self._metrics(snap, now)
        firing = GaugeMetricFamily("sellerguard_alerts_firing", "Alerts a target was last told are firing.",
                                   labels=["target", "level"])
        for (t, lv), n in sorted(snap.alerts.items()):
            firing.add_metric([t, lv], float(n))
        yield firing
        errors = CounterMetricFamily("sellerguard_job_errors", "Failed daemon jobs since start, per job.",
                                     labels=["job"])
        for j, n in sorted(snap.errors.items()):
            errors.add_metric([j], float(n))
        yield errors
        outbox = GaugeMetricFamily("sellerguard_outbox_messages", "Messages in the outbox by status.",
                                   labels=["status"])
        for s, n in sorted(snap.outbox.items()):
            outbox.add_metric([s], float(n))
        yield outbox

    def _accounts(self, snap: Snapshot, now: datetime) -> Iterator[Metric]:
        labels = ["account", "marketplace"]
        finished = GaugeMetricFamily("sellerguard_last_sync_timestamp_seconds",
                                     "When the last sync of an account finished.", labels=labels)
        success = GaugeMetricFamily("sellerguard_last_sync_success", "1 if the last sync of an account succeeded.",
                                    labels=labels)
        last_ok = GaugeMetricFamily("sellerguard_last_successful_sync_timestamp_seconds",
                                    "When an account last synced successfully.", labels=labels)
        failing = GaugeMetricFamily("sellerguard_sync_consecutive_failures", "Failed syncs in a row.", labels=labels)
        for a, h in sorted(snap.accounts.items()):
            key = [a, h.marketplace]
            failing.add_metric(key, float(h.failures))
            if h.last_finished is not None:
                finished.add_metric(key, h.last_finished.timestamp())
                success.add_metric(key, 1.0 if h.ok else 0.0)
            if h.last_ok is not None:
                last_ok.add_metric(key, h.last_ok.timestamp())
        yield from (finished, success, last_ok, failing)

    def _metrics(self, snap: Snapshot, now: datetime) -> Iterator[Metric]:
        labels = ["account", "marketplace", "metric"]
        fams = {
            "ratio": GaugeMetricFamily("sellerguard_metric_ratio",
                                       "A seller metric that is a fraction of events (0..1).", labels=labels),
            "value": GaugeMetricFamily("sellerguard_metric_value",
                                       "A seller metric that is not a fraction (an average rating, a count, a "
                                       "score), in the pack's unit.", labels=labels),
            "threshold_ratio": GaugeMetricFamily("sellerguard_metric_threshold_ratio",
                                                 "The marketplace's threshold of a fraction metric.", labels=labels),
            "threshold": GaugeMetricFamily("sellerguard_metric_threshold",
                                           "The threshold of a metric that is not a fraction.", labels=labels),
            "headroom": GaugeMetricFamily("sellerguard_metric_headroom",
                                          "Defects still allowed before the threshold (negative: defect-free "
                                          "events needed to recover).", labels=labels),
            "forecast": GaugeMetricFamily("sellerguard_metric_breach_forecast_seconds",
                                          "Seconds until the metric is forecast to cross its threshold "
                                          "(only metrics with a forecast breach).", labels=labels),
            "level": GaugeMetricFamily("sellerguard_metric_level", "0 ok, 1 unknown, 2 warn, 3 critical.",
                                       labels=labels),
        }
        for (a, mid), p in sorted(snap.metrics.items()):
            key = [a, p.marketplace, mid]
            ratio = p.unit == "ratio"
            if p.value is not None:
                fams["ratio" if ratio else "value"].add_metric(key, p.value)
            if p.threshold is not None:
                fams["threshold_ratio" if ratio else "threshold"].add_metric(key, p.threshold)
            if p.headroom is not None:
                fams["headroom"].add_metric(key, p.headroom)
            if p.breach_forecast is not None:
                fams["forecast"].add_metric(key, max(0.0, (p.breach_forecast - now).total_seconds()))
            fams["level"].add_metric(key, float(LEVEL_ORDER.get(p.level, 1)))
        yield from fams.values()


def render_metrics(snap: Snapshot, now: datetime) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snap, lambda: now))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


class Notifier:
    """sd_notify over ``$NOTIFY_SOCKET`` (a datagram socket; ``@`` = Linux abstract namespace). ``watchdog()``
    sends ``WATCHDOG=1`` at most every half ``$WATCHDOG_USEC``; everything is a no-op outside systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET")
        self.address = ("\0" + path[1:]) if path and path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None
        self._last: float | None = None

    def send(self, message: str) -> bool:
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
            return True
        except OSError:
            return False  # systemd went away: nothing the daemon could do about it

    def watchdog(self, monotonic: float) -> None:
        if self.interval is None:
            return
        if self._last is None or monotonic - self._last >= self.interval:
            self._last = monotonic
            self.send("WATCHDOG=1")


class HealthServer:
    def __init__(self, snapshot: Callable[[], Snapshot], now: Callable[[], datetime],
                 host: str = "127.0.0.1", port: int = 0) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                snap, now = outer.snapshot(), outer.now()
                path = self.path.split("?", 1)[0]
                if path in ("/healthz", "/livez", "/readyz"):
                    doc = health(snap, now)
                    ready = doc["status"] == "ok"
                    code = 503 if doc["status"] == "stalled" or (path == "/readyz" and not ready) else 200
                    self._reply(code, "application/json", json.dumps(doc))
                elif path == "/metrics":
                    self._reply(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(snap, now))
                else:
                    self._reply(404, "text/plain", "not found\n")

            def _reply(self, code: int, ctype: str, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line
                pass

        self.snapshot, self.now = snapshot, now
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
