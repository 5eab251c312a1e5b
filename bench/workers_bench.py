#!/usr/bin/env python
"""Worker-mode benchmark (issue 24): N sandbox accounts on the local PostgreSQL with 1, 2, 4 worker processes,
then failover (kill -9 a worker mid-job, again and again). Figures go to docs/performance.md ("Workers").

Usage (the script creates database sg_bench when missing):
    .venv/bin/python bench/workers_bench.py --per-marketplace 125 --workers 1,2,4 --window 300 --kills 0
        # 1,000 accounts: accounts/min and CPU s/account of 1, 2, 4 workers, each for 5 minutes
    .venv/bin/python bench/workers_bench.py --per-marketplace 125 --workers 4 --kills 0
        # 1,000 accounts until every account has a fresh status
    .venv/bin/python bench/workers_bench.py --per-marketplace 13 --workers '' --kills 20
        # failover: 104 accounts, 2 workers, 20 x kill -9 of a worker that is mid-sync

Each run gets a fresh schema in database sg_bench (``--db``), a sandbox child process serving
``--per-marketplace`` generated accounts on each of the 8 marketplaces (small worlds: ``--days`` of history at
``--scale`` x 2..12 orders a day), a config of those accounts (sync_every 30 min, so each is synced once per run)
with a webhook target on a loopback receiver (tests/webhook.py), and ``sellerguard worker`` processes. An account
is fresh when a sync job of it succeeded (synced, evaluated, alerts queued). Reported: accounts fresh per minute
(over ``--window`` seconds, or until all are fresh), the time until all are fresh, CPU seconds of the workers, the
sandbox and this run's PostgreSQL backends (per fresh account too: steadier than wall time on a shared machine),
the machine's busy share and load average. Progress is written every 10 s to ``progress.json`` in the run folder,
so a run stopped early still tells what it did.

Failover (``--kills``): 2 workers; ``--kills`` times, a worker holding an account's sync lock (``pg_locks``, by
the worker's ``application_name``) is killed with SIGKILL and started again; then the run waits until every
account is fresh. Checked in every run: every (fresh) account has an ok sync; no account had two jobs running at
once (procrastinate's events); no alert message sent twice (outbox rows per message, and the receiver's
Idempotency-Key counts); every order of the sandbox's truth (``sellerguard.sandbox.truth``) stored, by id.
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
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"
SELLERGUARD = [sys.executable, "-m", "sellerguard"]
SYNC_TASK = "sellerguard.sync_account"
sys.path.insert(0, str(REPO / "tests"))  # the loopback webhook receiver shared with the tests

from webhook import Hook  # noqa: E402


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its waited-for children (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick


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


def start_worker(config: Path, concurrency: int, stalled_after: float, log: Path, name: str,
                 app_quotas: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SELLERGUARD_APP_QUOTAS": app_quotas}
    return subprocess.Popen([*SELLERGUARD, "--config", str(config), "worker", "--concurrency", str(concurrency),
                             "--stalled-after", str(stalled_after), "--log-level", "INFO", "--name", name],
                            stdout=subprocess.DEVNULL, stderr=log.open("ab"), env=env)


class Backends:
    """CPU of the PostgreSQL backends serving this run's schema's database, sampled from /proc (the server runs
    on this machine). A backend's CPU is its last sample: one that ends between two samples loses < 1 s."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}  # backend pid -> CPU seconds (every backend is new: the run's own)
        self.most = 0  # the most sessions open at once (workers' pools + procrastinate's), at a sample

    def sample(self, conn: Any, database: str) -> None:
        from sqlalchemy import text

        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND "
                                 "application_name <> 'bench'"), {"d": database}).scalars().all()
        self.most = max(self.most, len(pids))
        for pid in pids:
            cpu = cpu_seconds(pid)
            if cpu:
                self.seen[pid] = cpu

    def total(self) -> float:
        return sum(self.seen.values())


def waiting_long(conn: Any, within_s: float = 60.0) -> list[tuple[str, str | None]]:
    """Accounts never fresh whose job waits more than ``within_s`` (a long backoff after a lasting failure, e.g.
    a refresh token lost to a kill), with their last sync error; empty while any such job is due soon."""
    from sqlalchemy import text

    return [(a, e) for a, e in conn.execute(text(
        "SELECT j.args->>'account', (SELECT left(r.error, 300) FROM sync_run r WHERE r.account = j.args->>'account' "
        "ORDER BY r.started_at DESC LIMIT 1) FROM procrastinate_jobs j WHERE j.task_name = :t AND j.status = 'todo' "
        "AND j.scheduled_at > now() + make_interval(secs => :w) AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs s "
        "WHERE s.task_name = :t AND s.status = 'succeeded' AND s.args->>'account' = j.args->>'account')"),
        {"t": SYNC_TASK, "w": within_s})]


def progress(conn: Any) -> tuple[int, int, int]:
    """(accounts fresh: a sync job of theirs succeeded; accounts with an ok sync; sync jobs running now)."""
    from sqlalchemy import text

    fresh = conn.execute(text("SELECT count(DISTINCT args->>'account') FROM procrastinate_jobs WHERE task_name = :t "
                              "AND status = 'succeeded'"), {"t": SYNC_TASK}).scalar()
    ok = conn.execute(text("SELECT count(DISTINCT account) FROM sync_run WHERE ok")).scalar()
    doing = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND task_name = :t"),
                         {"t": SYNC_TASK}).scalar()
    return int(fresh or 0), int(ok or 0), int(doing or 0)


def mid_sync_workers(conn: Any) -> set[str]:
    """Names of the workers whose sessions hold an advisory lock now (an account's sync lock: mid-job)."""
    from sqlalchemy import text

    rows = conn.execute(text(
        "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
        "AND a.application_name LIKE 'sellerguard-worker %'")).scalars()
    return {r.removeprefix("sellerguard-worker ") for r in rows}


def start_sandbox(args: argparse.Namespace) -> tuple[Any, Any, list[dict[str, Any]]]:
    """A fresh sandbox child per run: Mercado Libre rotates refresh tokens, so a second run's fresh store would
    hold a refresh token the sandbox already replaced."""
    parent, child = multiprocessing.Pipe()
    sandbox = multiprocessing.get_context("spawn").Process(
        target=serve_sandbox, args=(args.per_marketplace, args.scale, args.days, args.now, args.marketplaces, child),
        daemon=True)
    sandbox.start()
    return sandbox, parent, parent.recv()


def one_run(args: argparse.Namespace, workers: int, kills: int, run_dir: Path) -> dict[str, Any]:
    import tomli_w
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from sellerguard.store import Store

    sandbox, pipe, accounts = start_sandbox(args)
    sandbox_pid = sandbox.pid
    assert sandbox_pid is not None

    schema = f"bench_w{workers}_c{args.concurrency}_k{kills}"
    url = fresh_schema(args.db, schema)
    receiver = Hook()
    config = run_dir / f"{schema}.toml"
    config.write_text(tomli_w.dumps({"store": {"url": url},
                                     "accounts": [{**a, "sync_every": "30m"} for a in accounts],
                                     "notify": [{"name": "hook", "type": "webhook", "url": receiver.url,
                                                 "digest": False}]}))
    store = Store(url)  # migrated here, before the clock starts
    store.close()
    watch = create_engine(url, connect_args={"application_name": "bench"}, pool_size=1)
    database = make_url(url).database or ""
    total = len(accounts)
    logs = [run_dir / f"{schema}-worker{i}.log" for i in range(workers)]
    for log in logs:
        log.write_bytes(b"")
    generation = [0] * workers

    def name(i: int) -> str:
        return f"bench-{i}-{generation[i]}"

    backends = Backends()
    idle0, all0 = machine_idle()
    load0 = os.getloadavg()[0]
    sandbox_cpu0 = cpu_seconds(sandbox_pid)
    started = time.monotonic()
    def launch(i: int) -> subprocess.Popen[bytes]:
        return start_worker(config, args.concurrency, args.stalled_after, logs[i], name(i), args.app_quotas)

    procs = [launch(i) for i in range(workers)]
    dead_cpu = 0.0
    killed: list[dict[str, Any]] = []
    rng = random.Random(24)
    next_kill = started + 8
    next_report = started + 10
    curve: list[tuple[float, int]] = []
    loads: list[float] = []
    fresh = ok = 0
    all_fresh_after: float | None = None
    stuck_accounts: list[tuple[str, str | None]] = []

    def snapshot(final: bool = False) -> dict[str, Any]:
        elapsed = time.monotonic() - started
        worker_cpu = dead_cpu + sum(cpu_seconds(p.pid) for p in procs)
        idle1, all1 = machine_idle()
        db_cpu, sb_cpu = backends.total(), cpu_seconds(sandbox_pid) - sandbox_cpu0
        per = max(fresh, 1)
        return {
            "workers": workers, "concurrency": args.concurrency, "accounts": total, "kills": len(killed),
            "world_now": args.now.isoformat(),
            "final": final, "seconds": round(elapsed, 1), "accounts_fresh": fresh, "accounts_synced_ok": ok,
            "seconds_to_all_fresh": all_fresh_after,
            "accounts_per_minute": round(fresh / elapsed * 60, 1),
            "worker_cpu_s": round(worker_cpu, 1), "sandbox_cpu_s": round(sb_cpu, 1), "db_cpu_s": round(db_cpu, 1),
            "worker_cpu_s_per_account": round(worker_cpu / per, 3), "sandbox_cpu_s_per_account": round(sb_cpu / per, 3),
            "db_cpu_s_per_account": round(db_cpu / per, 3), "db_sessions_max": backends.most,
            "worker_cores_used": round(worker_cpu / elapsed, 2), "db_cores_used": round(db_cpu / elapsed, 2),
            "machine_busy": round(1 - (idle1 - idle0) / max(1, all1 - all0), 2),
            "load_average_start": load0, "load_average_mean": round(sum(loads) / max(1, len(loads)), 1),
            "curve": curve[:: max(1, len(curve) // 30)],
        }

    try:
        with watch.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                fresh, ok, doing = progress(conn)
                backends.sample(conn, database)
                now = time.monotonic()
                loads.append(os.getloadavg()[0])
                if not curve or curve[-1][1] != fresh:
                    curve.append((round(now - started, 1), fresh))
                if fresh >= total and all_fresh_after is None:
                    all_fresh_after = round(now - started, 1)
                if fresh >= total and doing == 0:  # done (with fewer kills when the jobs ran out first)
                    break
                if doing == 0 and fresh + len(stuck := waiting_long(conn)) >= total:
                    print(f"{len(stuck)} account(s) wait on a long retry, the run ends: {stuck[:5]}", flush=True)
                    stuck_accounts.extend(stuck)
                    break
                if args.window and now - started >= args.window and len(killed) >= kills:
                    break
                if dead := [i for i, p in enumerate(procs) if p.poll() is not None]:  # not one we killed
                    tail = logs[dead[0]].read_text(errors="replace").strip().splitlines()[-1:]
                    print(f"worker {name(dead[0])} exited on its own: {tail}; the run ends", flush=True)
                    break
                if now - started > args.timeout:
                    print(f"timed out: {fresh} of {total} accounts fresh after {args.timeout} s", flush=True)
                    break
                if len(killed) < kills and now >= next_kill:
                    busy = mid_sync_workers(conn)
                    victims = [i for i in range(workers) if name(i) in busy]
                    if victims:
                        i = rng.choice(victims)
                        dead_cpu += cpu_seconds(procs[i].pid)
                        os.kill(procs[i].pid, signal.SIGKILL)
                        procs[i].wait()
                        killed.append({"at_s": round(now - started, 1), "worker": name(i), "running": doing})
                        generation[i] += 1
                        procs[i] = launch(i)
                        next_kill = now + rng.uniform(3, 8)
                if now >= next_report:
                    (run_dir / "progress.json").write_text(json.dumps(snapshot(), indent=1))
                    next_report = now + 10
                time.sleep(0.5)
            for _ in range(4):  # the last backends' CPU before the workers close their sessions
                backends.sample(conn, database)
            result = snapshot(final=True)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    result["killed"] = killed
    result["accounts_waiting_long_retry"] = [{"account": a, "last_error": e} for a, e in stuck_accounts]
    if kills:  # the stalled jobs and the outbox settle: wait for the last deliveries before checking
        time.sleep(2)
    store = Store(url, migrate=False)
    try:
        result |= check(store, receiver, accounts, args)
    finally:
        store.close()
        watch.dispose()
        receiver.close()
        pipe.send("stop")
        sandbox.join(10)
    return result


def check(store: Any, receiver: Hook, accounts: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Every fresh account synced; never two jobs of one account at once; no alert twice; no order lost."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        synced = set(conn.execute(text("SELECT DISTINCT account FROM sync_run WHERE ok")).scalars())
        fresh = set(conn.execute(text("SELECT DISTINCT args->>'account' FROM procrastinate_jobs WHERE task_name = :t "
                                      "AND status = 'succeeded'"), {"t": SYNC_TASK}).scalars())
        events = conn.execute(text(
            "SELECT j.args->>'account', e.job_id, e.type::text FROM procrastinate_events e JOIN procrastinate_jobs j "
            "ON j.id = e.job_id WHERE j.task_name = :t ORDER BY e.at, e.id"), {"t": SYNC_TASK}).all()
        sent = conn.execute(text("SELECT events FROM notify_outbox WHERE status = 'sent'")).scalars().all()
        pending = conn.execute(text("SELECT count(*) FROM notify_outbox WHERE status IN ('pending', 'sending')"))\
            .scalar()
        stored: dict[str, set[str]] = {}
        for account, external_id in conn.execute(text("SELECT account, external_id FROM orders")):
            stored.setdefault(account, set()).add(external_id)
        retried = conn.execute(text("SELECT count(*) FROM procrastinate_events WHERE type = 'deferred_for_retry'"))\
            .scalar()
    overlaps = 0
    running: dict[str, int] = {}
    for account, job, kind in events:
        if kind == "started":
            overlaps += account in running
            running[account] = job
        elif kind in ("succeeded", "failed", "deferred_for_retry", "aborted") and running.get(account) == job:
            del running[account]
    # one outbox row per message; a key told twice means the same change of one alert was queued twice
    told = Counter(e["key"] for body in sent for e in json.loads(body or "[]"))
    return {
        "accounts_fresh": len(fresh), "accounts_fresh_not_synced": len(fresh - synced),
        "accounts_never_fresh": len({a["id"] for a in accounts} - fresh),
        "jobs_retried": int(retried or 0), "overlapping_jobs": overlaps,
        "alert_messages_sent": len(sent), "receiver_messages": len(receiver.bodies),
        "receiver_repeats": receiver.repeats(), "outbox_waiting": int(pending or 0),
        "alert_keys_told_twice": sum(1 for n in told.values() if n > 1),
        **orders_missing(fresh, stored, args),
    }


SETTLE = timedelta(minutes=3)  # Amazon's orders API ends its window >= 2 min before now (connector: 180 s)


def orders_missing(accounts: set[str], stored: dict[str, set[str]], args: argparse.Namespace) -> dict[str, int]:
    """Orders of the sandbox's truth (``sellerguard.sandbox.truth.records``: what a perfect connector would store)
    missing from the store, by external id, over ``accounts`` (the fresh ones). An order the marketplace changed
    within ``SETTLE`` of the world's creation may be invisible to that first sync by the API's own design (it
    arrives with the next one): counted apart, not as lost."""
    from sellerguard.sandbox.truth import records
    from sellerguard.sandbox.world import World, generated_accounts

    world = World(args.now, seed=7, scale=args.scale, days=args.days, keep=8,
                  accounts=generated_accounts(args.per_marketplace, marketplaces=args.marketplaces))
    out = {"orders_compared": 0, "orders_lost": 0, "orders_unsettled_missing": 0}
    for account in sorted(accounts):
        have = stored.get(account, set())
        for r in records(world.accounts[account]):
            if r.kind != "order":
                continue
            out["orders_compared"] += 1
            if r.external_id not in have:
                recent = r.updated_at is not None and r.updated_at > args.now - SETTLE  # type: ignore[attr-defined]
                out["orders_unsettled_missing" if recent else "orders_lost"] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-marketplace", type=int, default=125, help="accounts per marketplace (x8)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure ('' for none)")
    parser.add_argument("--concurrency", type=int, default=8, help="jobs at once per worker process")
    parser.add_argument("--window", type=float, default=0.0,
                        help="stop each measured run after this many seconds (0: when every account is fresh)")
    parser.add_argument("--kills", type=int, default=20, help="failover run: kill -9 this many times (0: skip)")
    parser.add_argument("--scale", type=float, default=0.1, help="orders per day multiplier (2..12 x scale, >= 1)")
    parser.add_argument("--days", type=int, default=14, help="history per account")
    parser.add_argument("--stalled-after", type=float, default=10.0)
    parser.add_argument("--marketplaces", default="amazon,ebay,walmart,etsy,tiktok,shopify,mercadolibre,bol",
                        help="comma-separated (default: all eight)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--app-quotas", default="off",
                        help="SELLERGUARD_APP_QUOTAS for the workers: 'off' (default: the sandbox serves every account "
                             "of a marketplace from ONE app, whose published quotas would pace them all), '' for the "
                             "published figures, or overrides such as 'etsy.day=100000,etsy.qps=150'")
    parser.add_argument("--admin-db", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="postgresql+psycopg://postgres@127.0.0.1:5432/sg_bench")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default bench/out/workers-<time>)")
    args = parser.parse_args()
    args.now = datetime.now(UTC)
    args.marketplaces = tuple(m for m in args.marketplaces.split(",") if m)
    ensure_database(args.admin_db, args.db.rsplit("/", 1)[1].split("?")[0])
    run_dir = args.out or OUT / f"workers-{args.now:%Y%m%dT%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"results in {run_dir}", flush=True)
    results = []
    plan = [(int(w), 0) for w in args.workers.split(",") if w] + ([(2, args.kills)] if args.kills else [])
    for workers, kills in plan:
        result = one_run(args, workers, kills, run_dir)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k not in ("curve", "killed")}), flush=True)
        (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    base = next((r for r in results if r["workers"] == 1 and not r["kills"]), None)
    for r in results:
        ratio = f" ({r['accounts_per_minute'] / base['accounts_per_minute']:.2f}x one worker)" if base else ""
        print(f"{r['workers']} worker(s) x {r['concurrency']}{' failover' if r['kills'] else ''}: "
              f"{r['accounts_per_minute']} accounts/min{ratio}, {r['worker_cpu_s_per_account']} worker CPU s/account, "
              f"all fresh after {r['seconds_to_all_fresh']} s")


if __name__ == "__main__":
    main()
