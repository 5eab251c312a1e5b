#!/usr/bin/env python
"""Status evaluation of issue 21, side by side in one process, printed as ratios (docs/performance.md).

Usage: .venv/bin/python bench/status_bench.py [--orders 20000] [--accounts 4] [--days 120] [--runs 5]
                                             [--db PATH] [--history] [--pg-url URL] [--pandas-python PATH]
                                             [--skip pg,anchor]
(``bench/run.py`` runs the same for its status part.)

Contenders, each timed in turn inside every round (interleaved: the machine's load drifts), medians of
``--runs`` rounds after one warm-up, CPU seconds of this process (``time.process_time``; wall time on a shared
machine mostly measures waiting for a core) and wall seconds beside:

- ``build_status`` from the day rollups and from the records only (``rollup.row_level``), at a moment on the hour
  (12:00:00) and at one that cuts hours (12:17:23: the cut hours are read from the records); the reports of the
  two sources are compared whole (``model_dump``) at both moments;
- the covering-index SQL anchor of bench/run.py (the 90/30/7-day order counts per account, hand-written);
- with ``--history``: the same evaluation on 10x the orders over 10x the days (same rate per day);
- PostgreSQL (jit off, the store's setting): the data copied into a throwaway schema of ``--pg-url``; its CPU is
  this process's plus the server processes' serving the connections (/proc, a local server).

Data: bench/out/run-<orders>-<accounts>-<days>.db built once by scripts/bench-status's generator (rollups
included), or ``--db`` for an existing one (e.g. bench/out/bench-1000000-10.db from scripts/bench-status).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # bench/run.py: data sets, the SQL anchor, the PostgreSQL copy

GOAL_S = 0.05  # issue 21: build_status <= 0.05 s at 1M orders x 10 accounts


def interleaved(contenders: dict[str, Callable[[], Any]], runs: int) -> dict[str, tuple[float, float]]:
    """{name: (median CPU s, median wall s)} over ``runs`` rounds, every contender once per round."""
    for fn in contenders.values():
        fn()  # warm: compiled statements, packs, page cache
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    wall: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            c, w = time.process_time(), time.perf_counter()
            fn()
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - w)
    return {k: (statistics.median(cpu[k]), statistics.median(wall[k])) for k in contenders}


def evaluations(url: str, config: Any, moments: dict[str, datetime]) -> tuple[dict[str, Callable[[], Any]], Any]:
    """A build_status callable per (moment, source), and the store to close."""
    from sellerguard.clock import FixedClock
    from sellerguard.rules import rollup
    from sellerguard.status import build_status
    from sellerguard.store import Store

    store = Store(url, migrate=False, create=False)
    if store.dialect == "postgresql":
        _watch_backends(store)
    out: dict[str, Callable[[], Any]] = {}
    for label, at in moments.items():
        for source, ctx in (("rollups", nullcontext), ("records", rollup.row_level)):
            def one(at: datetime = at, ctx: Any = ctx) -> Any:
                with ctx():
                    return build_status(config, store, FixedClock(at))
            out[f"{source} {label}"] = one
    return out, store


BACKENDS: set[int] = set()  # PostgreSQL server processes serving this benchmark's stores


def _watch_backends(store: Any) -> None:
    """Note the server process of every connection the store checks out (its CPU is read from /proc)."""
    from sqlalchemy import event

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        BACKENDS.add(int(cur.fetchone()[0]))
        cur.close()

    event.listen(store.engine, "checkout", checkout)


def server_cpu() -> float:
    """CPU seconds used so far by the noted PostgreSQL server processes (a local server; 0 when unreadable)."""
    total = 0.0
    for pid in BACKENDS:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=20_000)
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--db", type=Path, help="an existing data set (scripts/bench-status's), instead of building one")
    p.add_argument("--history", action="store_true", help="also 10x the history, same window")
    p.add_argument("--pg-url", default=run.PG_URL)
    p.add_argument("--pandas-python", help="an interpreter with pandas (the optional pandas anchor)")
    p.add_argument("--skip", default="", help="comma-separated: pg, anchor")
    a = p.parse_args()
    bench(a.orders, a.accounts, a.days, runs=a.runs, db=a.db, history=a.history, pg_url=a.pg_url,
          pandas_python=a.pandas_python, skip=set(filter(None, a.skip.split(","))))


def bench(orders: int, accounts: int, days: int, *, runs: int = 5, db: Path | None = None, history: bool = False,
          pg_url: str = run.PG_URL, pandas_python: str | None = None, skip: set[str] | None = None) -> None:
    """Run the comparisons and print them (also what ``bench/run.py``'s status part runs)."""
    skip = skip or set()
    gen = run._generator()
    as_of = gen.AS_OF
    moments = {"12:00:00": as_of, "12:17:23": as_of + timedelta(minutes=17, seconds=23)}
    config = run.config_for(accounts)
    path = db or run.dataset(orders, accounts, days)
    started = time.perf_counter()
    print(f"status, {path.name}, {accounts} accounts, SQLite, in process; load average {load()} (2 cores)")
    fns, store = evaluations(f"sqlite:///{path}", config, moments)
    try:
        for label in moments:
            same = fns[f"rollups {label}"]().model_dump() == fns[f"records {label}"]().model_dump()
            print(f"  at {label}: rollups and records give {'the same report' if same else 'DIFFERENT REPORTS'}")
        report = fns["rollups 12:00:00"]()
        metrics = sum(len(x.metrics) for x in report.accounts)
        deadlines = sum(len(x.deadlines) for x in report.accounts)
        contenders = dict(fns)
        if "anchor" not in skip:
            contenders["anchor"] = _anchor(path, as_of)
        t = interleaved(contenders, runs)
    finally:
        store.close()
    print(f"  medians of {runs} interleaved rounds ({metrics} metrics, {deadlines} deadlines); CPU s | wall s:")
    for name, (c, w) in t.items():
        print(f"  {name:<24} {c:8.3f} | {w:8.3f}")
    r0, r1 = t["rollups 12:00:00"][0], t["rollups 12:17:23"][0]
    print(f"  rollups/records at 12:00:00   {r0 / t['records 12:00:00'][0]:6.2f}x")
    print(f"  rollups/records at 12:17:23   {r1 / t['records 12:17:23'][0]:6.2f}x")
    print(f"  12:17:23 / 12:00:00 (rollups) {r1 / r0:6.2f}x   (cut hours read from the records)")
    if "anchor" in t:
        print(f"  build_status / SQL anchor     {r0 / t['anchor'][0]:6.1f}x  (anchor {t['anchor'][0]:.4f} s CPU)")
    if pandas_python:  # its own process and interpreter: wall seconds, median of 5 (bench/run.py PANDAS)
        pd_t = run.time_pandas(pandas_python, path, as_of)
        print(f"  pandas window read + groupby  {pd_t:8.3f} s wall; build_status wall / pandas "
              f"{t['rollups 12:00:00'][1] / pd_t:6.2f}x")
    print(f"  goal: build_status <= {GOAL_S} s at 1M x 10: here {r0:.3f} s (12:00) / {r1:.3f} s (12:17:23) CPU"
          f" -> {'met' if max(r0, r1) <= GOAL_S else 'not met'} on this data set")
    if history and not db:
        ten = run.dataset(orders * 10, accounts, days * 10)
        tens, store10 = evaluations(f"sqlite:///{ten}", config, moments)
        try:
            both = interleaved({"1x": fns["rollups 12:17:23"], "10x": tens["rollups 12:17:23"]}, runs)
        finally:
            store10.close()
        print(f"  10x history ({ten.name}) at 12:17:23: {both['10x'][0]:.3f} vs {both['1x'][0]:.3f} s CPU: "
              f"{both['10x'][0] / both['1x'][0]:.2f}x (goal <= 1.05x)")
    if "pg" not in skip:
        _postgres(path, pg_url, config, moments, fns, runs)
    print(f"(status bench {time.perf_counter() - started:.0f} s; load average {load()})")


def _anchor(path: Path, as_of: datetime) -> Callable[[], Any]:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS bench_cover ON orders "
                             "(purchased_at, account, status, fulfilment)")
    args = {"end": as_of, "d90": as_of - timedelta(days=90), "d30": as_of - timedelta(days=30),
            "d7": as_of - timedelta(days=7)}
    conn = engine.connect()
    return lambda: conn.execute(text(run.ANCHOR), args).all()


def _postgres(path: Path, pg_url: str, config: Any, moments: dict[str, datetime],
              sqlite_fns: dict[str, Callable[[], Any]], runs: int) -> None:
    try:
        url, drop = run.copy_to_postgres(path, pg_url)
    except Exception as exc:  # the server is optional
        print(f"  PostgreSQL skipped ({type(exc).__name__}: not reachable at {pg_url})")
        return
    try:
        pg, store = evaluations(url, config, moments)
        try:
            one = pg["rollups 12:17:23"]
            same = one().model_dump() == sqlite_fns["rollups 12:17:23"]().model_dump()
            server: list[float] = []

            def with_server() -> Any:  # the PostgreSQL server's CPU for this evaluation, beside ours
                before = server_cpu()
                out = one()
                server.append(server_cpu() - before)
                return out

            got = interleaved({"sqlite": sqlite_fns["rollups 12:17:23"], "pg": with_server}, runs)
        finally:
            store.close()
    finally:
        drop()
    srv = statistics.median(server[1:] or server)  # the first is the warm-up
    both = got["pg"][0] + srv
    print(f"  PostgreSQL (jit off) at 12:17:23: {got['pg'][0]:.3f} s CPU here + {srv:.3f} s server = {both:.3f} s, "
          f"{got['pg'][1]:.3f} s wall; SQLite {got['sqlite'][0]:.3f} s CPU, {got['sqlite'][1]:.3f} s wall: "
          f"CPU ratio {both / got['sqlite'][0]:.2f}x, wall ratio {got['pg'][1] / got['sqlite'][1]:.2f}x "
          f"(goal <= 1.2x); {'same report' if same else 'REPORTS DIFFER'}")


if __name__ == "__main__":
    main()
