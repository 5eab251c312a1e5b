"""Issue 18's last bullet: /healthz said "ok" with 5 of 9 accounts' syncs failing. Now it says degraded, by name."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from test_daemon import NOW, Outcome, config_with, fake_report

from sellerguard.clock import FixedClock
from sellerguard.daemon import Daemon
from sellerguard.health import HealthServer


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_healthz_is_degraded_naming_the_accounts_whose_syncs_keep_failing(store):
    names = [f"acc{i}" for i in range(9)]
    failing = set(names[:5])  # 5 of 9, as in the issue
    config = config_with([{"id": n, "marketplace": "ebay", "sync_every": "5m"} for n in names])
    clock = FixedClock(NOW)

    def sync(c, s, *, accounts, **_):
        return [Outcome(a, ok=a not in failing, error="ebay: HTTP 503" if a in failing else None) for a in accounts]

    d = Daemon(config, store, clock=clock, sync=sync, sleep=clock.sleep,
               evaluate=lambda c, s, now, accts: fake_report(now, accts, level="ok"))
    server = HealthServer(d.snapshot, clock.now, "127.0.0.1", 0).start()
    try:
        for _ in range(3):  # the failing five fail every cycle (past their backoff), the rest succeed
            d.cycle()
            clock.advance(minutes=6)
        d.tick()
        code, doc = get(f"http://127.0.0.1:{server.port}/healthz")
        assert (code, doc["status"]) == (200, "degraded")
        assert {a for a, s in doc["accounts"].items() if s["state"] == "failing"} == failing
        assert {a for a, s in doc["accounts"].items() if s["state"] == "ok"} == set(names) - failing
        assert get(f"http://127.0.0.1:{server.port}/readyz")[0] == 503
    finally:
        server.stop()
        d.pool.shutdown()
