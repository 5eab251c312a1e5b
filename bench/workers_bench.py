#!/usr/bin/env python
"""Worker-mode benchmark (issue 24): N sandbox accounts on the local PostgreSQL with 1, 2, 4 worker processes,
then failover (kill -9 a worker mid-job, again and again). Figures go to docs/performance.md ("Workers").

Usage:
    createdb -h 127.0.0.1 -U postgres sg_bench     # once (the script also creates it when missing)
    .venv/bin/python bench/workers_bench.py [--per-marketplace 125] [--workers 1,2,4] [--concurrency 8]
                                            [--kills 20] [--scale 0.25] [--days 30]

Each run gets a fresh schema in database sg_bench (``--db``), a sandbox child process serving
``--per-marketplace`` generated accounts on each of the 8 marketplaces (``World.generated``), a config of those
accounts (sync_every 30 min, so each is synced once per run) with a webhook target on a loopback receiver, and
``sellerguard worker`` processes. It measures the time until every account has a finished job (synced, evaluated,
alerts queued): accounts per minute, and the CPU seconds each party used (workers, sandbox, PostgreSQL backends
of the run's own connections are not separable: the machine's idle time is reported instead).

Failover (``--kills``): with 2 workers, one random worker is killed with SIGKILL while it runs a job, and restarted,
``--kills`` times, then the run waits until every account is synced. Checked: every account has an ok sync; no
account had two jobs running at once (procrastinate's events); no alert was sent twice (outbox events and the
receiver's count); every order of the sandbox's truth is stored (no record lost).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
SELLERGUARD = [sys.executable, "-m", "sellerguard"]


def serve_sandbox(per_marketplace: int, scale: float, days: int, now: datetime, marketplaces: tuple[str, ...],
                  conn: Any) -> None:
    """The child: a sandbox of generated accounts, until the parent closes the pipe."""
    from sellerguard.demo import demo_accounts
    from sellerguard.sandbox import Sandbox
    from sellerguard.sandbox.world import World, generated_accounts

    world = World(now, seed=7, scale=scale, days=days, keep=None,
                  accounts=generated_accounts(per_marketplace, marketplaces=marketplaces))
    with Sandbox(world) as box:
        conn.send(demo_accounts(box))
        conn.recv()


class Receiver:
    """The webhook target: counts bodies per account key."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick  # incl. children


def machine_idle() -> tuple[float, float]:
    """(idle jiffies, total jiffies) of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return parts[3] + parts[4], sum(parts)


def ensure_database(admin_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def fresh_schema(db_url: str, schema: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{db_url}{'&' if '?' in db_url else '?'}options=-csearch_path%3D{schema}"


def start_worker(config: Path, concurrency: int, stalled_after: float, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*SELLERGUARD, "--config", str(config), "worker", "--concurrency", str(concurrency),
                             "--stalled-after", str(stalled_after), "--log-level", "INFO"],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def progress(store: Any) -> tuple[int, int]:
    """(accounts with an ok sync, sync jobs running now)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        ok = conn.execute(text("SELECT count(DISTINCT account) FROM sync_run WHERE ok")).scalar()
        doing = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' "
                                  "AND task_name = 'sellerguard.sync_account'")).scalar()
    return int(ok or 0), int(doing or 0)


def start_sandbox(args: argparse.Namespace) -> tuple[Any, Any, list[dict[str, Any]]]:
    """A fresh sandbox child per run: Mercado Libre rotates refresh tokens, so a second run's fresh store would
    hold a refresh token the sandbox already replaced."""
    parent, child = multiprocessing.Pipe()
    sandbox = multiprocessing.get_context("spawn").Process(
        target=serve_sandbox, args=(args.per_marketplace, args.scale, args.days, args.now, args.marketplaces, child),
        daemon=True)
    sandbox.start()
    return sandbox, parent, parent.recv()


def one_run(args: argparse.Namespace, db_url: str, workers: int, kills: int, run_dir: Path) -> dict[str, Any]:
    import tomli_w

    from sellerguard.store import Store

    sandbox, pipe, accounts = start_sandbox(args)
    sandbox_pid = sandbox.pid

    schema = f"bench_w{workers}_k{kills}"
    url = fresh_schema(db_url, schema)
    receiver = Receiver()
    config = run_dir / f"{schema}.toml"
    config.write_text(tomli_w.dumps({"store": {"url": url},
                                     "accounts": [{**a, "sync_every": "30m"} for a in accounts],
                                     "notify": [{"name": "hook", "type": "webhook", "url": receiver.url,
                                                 "digest": False}]}))
    store = Store(url)  # migrated here, before the clock starts
    total = len(accounts)
    logs = [run_dir / f"{schema}-worker{i}.log" for i in range(workers)]
    for log in logs:
        log.write_bytes(b"")
    idle0, all0 = machine_idle()
    sandbox_cpu0 = cpu_seconds(sandbox_pid)
    started = time.monotonic()
    procs = [start_worker(config, args.concurrency, args.stalled_after, log) for log in logs]
    dead_cpu = 0.0
    killed = 0
    rng = random.Random(24)
    next_kill = started + 8
    curve: list[tuple[float, int]] = []
    try:
        while True:
            ok, doing = progress(store)
            now = time.monotonic()
            if not curve or curve[-1][1] != ok:
                curve.append((round(now - started, 1), ok))
            if ok >= total and doing == 0:
                break
            if now - started > args.timeout:
                raise SystemExit(f"timed out: {ok} of {total} accounts synced after {args.timeout} s")
            if killed < kills and now >= next_kill and doing:
                i = rng.randrange(len(procs))
                dead_cpu += cpu_seconds(procs[i].pid)
                os.kill(procs[i].pid, signal.SIGKILL)
                procs[i].wait()
                procs[i] = start_worker(config, args.concurrency, args.stalled_after, logs[i])
                killed += 1
                next_kill = now + rng.uniform(2, 6)
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        worker_cpu = dead_cpu + sum(cpu_seconds(p.pid) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    idle1, all1 = machine_idle()
    result = {
        "workers": workers, "concurrency": args.concurrency, "accounts": total, "kills": killed,
        "seconds_to_all_fresh": round(elapsed, 1), "accounts_per_minute": round(total / elapsed * 60, 1),
        "worker_cpu_s": round(worker_cpu, 1), "sandbox_cpu_s": round(cpu_seconds(sandbox_pid) - sandbox_cpu0, 1),
        "machine_busy": round(1 - (idle1 - idle0) / max(1, all1 - all0), 2),
        "load_average": os.getloadavg()[0], "curve": curve[:: max(1, len(curve) // 20)],
    }
    result |= check(store, receiver, accounts, args)
    store.close()
    receiver.server.shutdown()
    pipe.send("stop")
    sandbox.join(10)
    return result


def check(store: Any, receiver: Receiver, accounts: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Every account synced; never two jobs of one account at once; no alert twice; no order lost."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        synced = set(conn.execute(text("SELECT DISTINCT account FROM sync_run WHERE ok")).scalars())
        events = conn.execute(text(
            "SELECT j.queueing_lock, e.job_id, e.type::text FROM procrastinate_events e JOIN procrastinate_jobs j "
            "ON j.id = e.job_id WHERE j.task_name = 'sellerguard.sync_account' ORDER BY e.at, e.id")).all()
        sent = conn.execute(text("SELECT events FROM notify_outbox WHERE status = 'sent'")).scalars().all()
        pending = conn.execute(text("SELECT count(*) FROM notify_outbox WHERE status IN ('pending', 'sending')"))\
            .scalar()
        orders = Counter()
        for account, n in conn.execute(text("SELECT account, count(*) FROM orders GROUP BY account")):
            orders[account] = n
        retried = conn.execute(text("SELECT count(*) FROM procrastinate_events WHERE type = 'deferred_for_retry'"))\
            .scalar()
    overlaps = 0
    running: dict[str, int] = {}
    for lock, job, kind in events:
        if kind == "started":
            overlaps += lock in running
            running[lock] = job
        elif kind in ("succeeded", "failed", "deferred_for_retry", "aborted") and running.get(lock) == job:
            del running[lock]
    told = Counter(e["key"] for body in sent for e in json.loads(body or "[]"))
    lost = expected_orders_missing(accounts, orders, args)
    return {
        "accounts_synced": len(synced), "accounts_missing": len({a["id"] for a in accounts} - synced),
        "jobs_retried": int(retried or 0), "overlapping_jobs": overlaps,
        "alert_messages_sent": len(sent), "receiver_bodies": len(receiver.bodies), "outbox_waiting": int(pending or 0),
        "accounts_told_twice": sum(1 for n in told.values() if n > 1), "orders_lost": lost,
    }


def expected_orders_missing(accounts: list[dict[str, Any]], stored: Counter, args: argparse.Namespace) -> int:
    """Orders of the sandbox's truth not stored (a count per account: the ids are compared by tests/test_workers.py)."""
    from sellerguard.sandbox.world import World, generated_accounts

    world = World(args.now, seed=7, scale=args.scale, days=args.days, keep=64,
                  accounts=generated_accounts(args.per_marketplace, marketplaces=args.marketplaces))
    missing = 0
    for acc in world.accounts.values():
        missing += max(0, len(acc.orders) - stored.get(acc.id, 0))
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-marketplace", type=int, default=125, help="accounts per marketplace (x8)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker process")
    parser.add_argument("--kills", type=int, default=20, help="failover run: kill -9 this many times (0: skip)")
    parser.add_argument("--scale", type=float, default=0.25, help="orders per day multiplier (2..12 x scale)")
    parser.add_argument("--days", type=int, default=30, help="history per account")
    parser.add_argument("--stalled-after", type=float, default=10.0)
    parser.add_argument("--marketplaces", default="amazon,ebay,walmart,etsy,tiktok,shopify,mercadolibre,bol",
                        help="comma-separated (default: all eight)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--admin-db", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/sg_bench")
    args = parser.parse_args()
    args.now = datetime.now(UTC)
    args.marketplaces = tuple(m for m in args.marketplaces.split(",") if m)
    ensure_database(args.admin_db, args.db.rsplit("/", 1)[1].split("?")[0])
    run_dir = OUT / f"workers-{args.now:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"results in {run_dir}", flush=True)
    results = []
    plan = [(int(w), 0) for w in args.workers.split(",") if w] + ([(2, args.kills)] if args.kills else [])
    for workers, kills in plan:
        result = one_run(args, args.db, workers, kills, run_dir)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "curve"}), flush=True)
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    base = next((r for r in results if r["workers"] == 1 and not r["kills"]), None)
    if base:
        for r in results:
            if not r["kills"]:
                print(f"{r['workers']} worker(s): {r['accounts_per_minute']} accounts/min "
                      f"({r['accounts_per_minute'] / base['accounts_per_minute']:.2f}x one worker), "
                      f"all fresh after {r['seconds_to_all_fresh']} s")


if __name__ == "__main__":
    main()
