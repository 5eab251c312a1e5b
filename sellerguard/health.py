"""``--health-port``: /healthz and Prometheus /metrics over plain HTTP, bound to 127.0.0.1 unless told otherwise.

The server thread only reads a snapshot the daemon thread publishes after each job; it never touches the store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sellerguard.rules.report import LEVEL_ORDER


@dataclass
class Snapshot:
    """What the daemon knows, copied out for scrapes."""

    last_tick: datetime | None = None
    last_sync: dict[str, tuple[datetime, bool]] = field(default_factory=dict)  # account -> (finished, ok)
    metrics: dict[tuple[str, str], tuple[float | None, str]] = field(default_factory=dict)  # (acct, id) -> (v, lv)
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (target, level) -> firing alerts
    errors: dict[str, int] = field(default_factory=dict)  # job -> errors since start
    outbox: dict[str, int] = field(default_factory=dict)  # status -> messages


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name: str, help_text: str, kind: str, rows: list[tuple[dict[str, str], float]]) -> list[str]:
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in rows:
        inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        number = repr(float(value))  # full precision: %g would round a Unix time to 10 s
        out.append(f"{name}{{{inner}}} {number}" if inner else f"{name} {number}")
    return out


def render_metrics(snap: Snapshot) -> str:
    lines = _series("sellerguard_up", "1 while the daemon loop runs.", "gauge", [({}, 1)])
    lines += _series(
        "sellerguard_last_sync_timestamp_seconds", "When the last sync of an account finished.", "gauge",
        [({"account": a}, t.timestamp()) for a, (t, _) in sorted(snap.last_sync.items())],
    )
    lines += _series(
        "sellerguard_last_sync_success", "1 if the last sync of an account succeeded.", "gauge",
        [({"account": a}, float(ok)) for a, (_, ok) in sorted(snap.last_sync.items())],
    )
    lines += _series(
        "sellerguard_metric_value", "A service metric's value (rates as fractions).", "gauge",
        [({"account": a, "metric": m}, v) for (a, m), (v, _) in sorted(snap.metrics.items()) if v is not None],
    )
    lines += _series(
        "sellerguard_metric_level", "0 ok, 1 unknown, 2 warn, 3 critical.", "gauge",
        [({"account": a, "metric": m}, LEVEL_ORDER[lv]) for (a, m), (_, lv) in sorted(snap.metrics.items())],
    )
    lines += _series(
        "sellerguard_alerts_firing", "Alerts a target was last told are firing.", "gauge",
        [({"target": t, "level": lv}, n) for (t, lv), n in sorted(snap.alerts.items())],
    )
    lines += _series(
        "sellerguard_job_errors_total", "Failed daemon jobs since start, per job.", "counter",
        [({"job": j}, n) for j, n in sorted(snap.errors.items())],
    )
    lines += _series(
        "sellerguard_outbox_messages", "Messages in the outbox by status.", "gauge",
        [({"status": s}, n) for s, n in sorted(snap.outbox.items())],
    )
    return "\n".join(lines) + "\n"


def healthy(snap: Snapshot, now: datetime, max_idle: timedelta = timedelta(minutes=2)) -> bool:
    return snap.last_tick is not None and now - snap.last_tick <= max_idle


class HealthServer:
    def __init__(self, snapshot: Callable[[], Snapshot], now: Callable[[], datetime],
                 host: str = "127.0.0.1", port: int = 0) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                snap = outer.snapshot()
                if self.path == "/healthz":
                    ok = healthy(snap, outer.now())
                    tick = snap.last_tick.isoformat() if snap.last_tick else None
                    self._reply(200 if ok else 503, "application/json",
                                json.dumps({"status": "ok" if ok else "stalled", "last_tick": tick}))
                elif self.path == "/metrics":
                    self._reply(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(snap))
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
