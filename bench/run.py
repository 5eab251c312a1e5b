#!/usr/bin/env python
"""Every performance comparison of issue 21, side by side in one process tree, printed as ratios.

Usage: .venv/bin/python bench/run.py [--orders 20000] [--accounts 4] [--days 120] [--ingest-orders 20000]
                                     [--fulfilled 0.1] [--ingest-runs 1] [--dlt-python PATH]
                                     [--contenders bare,sellerguard,dlt]
                                     [--pandas-python PATH] [--pg-url URL] [--skip ingest,status,pg]

The small defaults run in about two minutes on 2 cores (plus about a minute building the data sets once). Comparisons:

- ingest: bench/ebay_pages.py serves ``--ingest-orders`` eBay orders in pages of 200 on loopback (a child
  process; ``--fulfilled`` of them list fulfillments); each contender runs in its own process
  (bench/ingest_contenders.py): the eBay connector's orders sync into SQLite, a bare ``requests`` loop fetching
  and parsing the pages, and dlt ``rest_api`` into duckdb (when ``--dlt-python`` or this interpreter has the
  ``bench`` extra). Printed: orders/s, requests by kind, peak RSS, and the ratios.
- status: ``build_status`` in process on ``--orders`` orders over ``--days`` days vs a hand-written SQL anchor that
  reads the same 90-day order windows through a covering index, and vs pandas (window read + groupby) when
  ``--pandas-python`` names an interpreter with pandas (the bench's own optional install, never a dependency).
- history: the same evaluation with 10x the history (10x the orders over 10x the days, same rate per day).
- PostgreSQL: the 1x data copied into a throwaway schema of ``--pg-url`` (default: the test server), same evaluation.

Data sets are built once into bench/out/ (git-ignored) by scripts/bench-status's generator. Times are medians of
warm runs; on a shared machine compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PG_URL = os.environ.get("SELLERGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def median_time(fn: Callable[[], Any], runs: int = 5) -> float:
    fn()  # warm: caches, prepared packs, page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- ingest ---------------------------------------------------------------------------------------------------

def _contender(python: str, kind: str, base_url: str, workdir: Path) -> dict[str, Any]:
    """One contender in its own process (bench/ingest_contenders.py): {"orders", "seconds", "peak_mb"}."""
    out = subprocess.run([python, str(ROOT / "bench" / "ingest_contenders.py"), kind, base_url, str(workdir)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"ingest contender {kind} failed: {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _requests(base_url: str) -> dict[str, int]:
    """Requests the page server answered since the last look, by kind (pages, details, other)."""
    with urllib.request.urlopen(f"{base_url}/_stats") as answer:
        return json.loads(answer.read())


def _has_dlt(python: str) -> bool:
    return subprocess.run([python, "-c", "import dlt, duckdb"], capture_output=True, check=False).returncode == 0


def bench_ingest(orders: int, fulfilled: float, runs: int, dlt_python: str | None,
                 only: set[str] | None = None) -> None:
    """sellerguard's eBay orders sync vs a bare requests loop vs dlt rest_api, on bench/ebay_pages.py's server."""
    sys.path.insert(0, str(ROOT / "bench"))
    import ebay_pages

    dlt_python = dlt_python or sys.executable
    kinds = [("bare", sys.executable), ("sellerguard", sys.executable)]
    if _has_dlt(dlt_python):
        kinds.append(("dlt", dlt_python))
    if only:  # e.g. sellerguard alone, for its memory at two sizes
        kinds = [(k, py) for k, py in kinds if k in only]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=ebay_pages.serve, args=(orders, fulfilled, child), daemon=True)
    proc.start()
    base_url, world_orders = parent.recv()
    results: dict[str, list[dict[str, Any]]] = {k: [] for k, _ in kinds}
    load_before = os.getloadavg()[0]
    try:
        _requests(base_url)
        for _ in range(runs):  # interleaved: the machine's load drifts
            for kind, python in kinds:
                result = _contender(python, kind, base_url, OUT / "ingest")
                result["requests"] = _requests(base_url)
                results[kind].append(result)
    finally:
        parent.send("stop")
        proc.join(10)
    needed = int(world_orders * fulfilled)  # orders with fulfillmentHrefs (ebay_pages.World spreads them evenly)
    pages = -(-world_orders // 200)
    print(f"ingest, eBay-shaped page server (bench/ebay_pages.py), {world_orders:,} orders in pages of 200 on loopback,"
          f" {needed:,} of them with fulfillments ({fulfilled:.0%}); median of {runs} interleaved run(s); load average"
          f" {load_before:.1f} before, {os.getloadavg()[0]:.1f} after:")
    rate, per_cpu = {}, {}
    for kind, _ in kinds:
        rows = results[kind]
        rate[kind] = statistics.median(r["orders"] / r["seconds"] for r in rows)
        per_cpu[kind] = statistics.median(r["orders"] / max(r["cpu"], 1e-6) for r in rows)
        req, peak = rows[-1]["requests"], max(r["peak_mb"] for r in rows)
        print(f"  {kind:<12} {rate[kind]:10,.0f} orders/s wall {per_cpu[kind]:10,.0f} orders/CPU-s"
              f" ({1000 / per_cpu[kind]:.3f} ms CPU/order)  {rows[-1]['orders']:9,} stored  requests:"
              f" {req['pages']:,} pages + {req['details']:,} per-order  peak RSS {peak:6.0f} MB")
        if len(rows) > 1:
            each = ", ".join(f"{r['orders'] / max(r['cpu'], 1e-6):,.0f}" for r in rows)
            print(f"  {'':<12} orders/CPU-s of each run: {each}")
        if "rollup_cpu" in rows[0]:
            share = statistics.median(r.get("rollup_cpu", 0.0) / max(r["cpu"], 1e-6) for r in rows)
            before = max(r.get("peak_mb_before_rollups", 0.0) for r in rows)
            print(f"  {'':<12} of which bringing the day rollups up to date (built at the first sync): {share:.0%};"
                  f" peak RSS before it {before:.0f} MB")
    print(f"  requests needed: {pages:,} pages (+1 catch-up page for the connector) + {needed:,} shipping_fulfillment")
    print("  ratios (wall | client CPU; the server's CPU is not counted in the second):")
    if "sellerguard" not in rate:
        return
    if "bare" in rate:
        print(f"  sellerguard/bare   {rate['sellerguard'] / rate['bare']:6.2f}x | "
              f"{per_cpu['sellerguard'] / per_cpu['bare']:6.2f}x   (goal >= 0.33)")
    if "dlt" in rate:
        print(f"  sellerguard/dlt    {rate['sellerguard'] / rate['dlt']:6.2f}x | "
              f"{per_cpu['sellerguard'] / per_cpu['dlt']:6.2f}x   (goal >= 4)")
    elif not only or "dlt" in only:
        print(f"  dlt rest_api             skipped: {dlt_python} cannot import dlt and duckdb"
              " (pip install -e '.[bench]', or pass --dlt-python)")


# --- status ---------------------------------------------------------------------------------------------------

def _generator() -> Any:
    loader = importlib.machinery.SourceFileLoader("bench_status", str(ROOT / "scripts" / "bench-status"))
    return loader.load_module()


def dataset(orders: int, accounts: int, days: int) -> Path:
    gen = _generator()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"run-{orders}-{accounts}-{days}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in OUT.glob(partial.name + "*"):
            leftover.unlink()
        start = time.perf_counter()
        gen.build(partial, orders, accounts, days)
        partial.rename(path)
        print(f"  (built {path.name} in {time.perf_counter() - start:.0f} s, day rollups included)")
    elif not _has_rollups(path):  # built before the rollups existed: plain SQL rows, no sync kept them
        print(f"  (day rollups of {path.name} built in {gen.build_rollups(path):.0f} s)")
    return path


def _has_rollups(path: Path) -> bool:
    import sqlite3

    con = sqlite3.connect(path)
    try:
        return bool(con.execute("SELECT 1 FROM rollup_cover LIMIT 1").fetchone())
    except sqlite3.OperationalError:  # an older schema: the store migrates it when opened
        return False
    finally:
        con.close()


def config_for(accounts: int) -> Any:
    import tomllib

    from sellerguard.config import parse_config

    gen = _generator()
    text = "".join(f'[[accounts]]\nid = "{a}"\nmarketplace = "{m}"\n\n' for a, m in gen.accounts(accounts))
    return parse_config(tomllib.loads(text))


def _jit_on(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("SET jit = on")
    cur.close()
    dbapi_conn.commit()


def time_status(url: str, config: Any, as_of: datetime, *, jit_on: bool = False,
                row_level: bool = False) -> tuple[float, Any]:
    """Median seconds of ``build_status`` (from the day rollups; ``row_level``: from the records only)."""
    from contextlib import nullcontext

    from sqlalchemy import event

    from sellerguard.clock import FixedClock
    from sellerguard.rules import rollup
    from sellerguard.status import build_status
    from sellerguard.store import Store

    store = Store(url, migrate=False, create=False)
    if jit_on:  # undo the store's own setting, to show what it saves
        event.listen(store.engine, "connect", _jit_on)
        store.engine.dispose()
    try:
        result: list[Any] = []
        with rollup.row_level() if row_level else nullcontext():
            t = median_time(lambda: result.append(build_status(config, store, FixedClock(as_of))))
    finally:
        store.close()
    return t, result[-1]


ANCHOR = """
SELECT account,
       COUNT(*) AS orders,
       SUM(status = 'cancelled') AS cancelled,
       SUM(fulfilment = 'seller') AS seller_fulfilled,
       SUM(purchased_at >= :d30) AS orders_30d,
       SUM(purchased_at >= :d7) AS orders_7d
FROM orders
WHERE purchased_at >= :d90 AND purchased_at < :end
GROUP BY account
"""


PANDAS = r"""
import sqlite3, sys, time, statistics
import pandas as pd
path, start, end = sys.argv[1:4]
def run():
    con = sqlite3.connect(path)
    df = pd.read_sql_query("SELECT account, purchased_at, status, fulfilment FROM orders "
                           "WHERE purchased_at >= ? AND purchased_at < ?", con, params=(start, end))
    df["day"] = df["purchased_at"].str.slice(0, 10)
    df.groupby(["account", "day"]).agg(n=("status", "size"), cancelled=("status", lambda s: (s == "cancelled").sum()))
    con.close()
run()
times = []
for _ in range(5):
    t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
print(statistics.median(times))
"""


def time_pandas(python: str, path: Path, as_of: datetime) -> float:
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    out = subprocess.run([python, "-c", PANDAS, str(path), (as_of - timedelta(days=90)).strftime(fmt),
                          as_of.strftime(fmt)], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def copy_to_postgres(path: Path, pg_url: str) -> tuple[str, Callable[[], None]]:
    """A throwaway schema on ``pg_url`` holding a copy of the SQLite data set; returns its URL and a dropper."""
    from sqlalchemy import MetaData, create_engine, text

    from sellerguard.store import Store

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    Store(url).close()  # migrated schema
    src = create_engine(f"sqlite:///{path}")
    meta = MetaData()
    meta.reflect(src)
    dst = create_engine(url)
    skip = {"alembic_version"}
    with src.connect() as s, dst.begin() as d:
        dst_meta = MetaData()
        dst_meta.reflect(d)
        for name, table in meta.tables.items():
            if name in skip or name not in dst_meta.tables:
                continue
            rows = [dict(r._mapping) for r in s.execute(table.select())]
            if rows:
                d.execute(dst_meta.tables[name].insert(), rows)
        d.exec_driver_sql("ANALYZE")
    src.dispose()
    dst.dispose()

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return url, drop


def bench_status(a: argparse.Namespace, skip: set[str]) -> None:
    """The status comparisons: bench/status_bench.py (interleaved rounds, CPU and wall, both moments, report
    equality, SQL and pandas anchors, 10x history, PostgreSQL with the server's CPU)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import status_bench

    status_bench.bench(a.orders, a.accounts, a.days, history="history" not in skip, pg_url=a.pg_url,
                       pandas_python=a.pandas_python, skip={"pg"} & skip)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=20_000, help="orders of the 1x status data set")
    p.add_argument("--accounts", type=int, default=4)
    p.add_argument("--days", type=int, default=120, help="history of the 1x data set (10x: ten times the days)")
    p.add_argument("--ingest-orders", type=int, default=20_000, help="orders the eBay page server holds")
    p.add_argument("--fulfilled", type=float, default=0.1,
                   help="share of those orders with fulfillmentHrefs (each needs one shipping_fulfillment call)")
    p.add_argument("--ingest-runs", type=int, default=1, help="interleaved runs per contender (median)")
    p.add_argument("--contenders", default="", help="comma-separated subset of bare, sellerguard, dlt (default all)")
    p.add_argument("--dlt-python", help="an interpreter with the bench extra (dlt, duckdb); default: this one")
    p.add_argument("--pandas-python", help="an interpreter with pandas installed (optional anchor)")
    p.add_argument("--pg-url", default=PG_URL)
    p.add_argument("--skip", default="", help="comma-separated: ingest, status, history, pg")
    a = p.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    started = time.perf_counter()
    if "ingest" not in skip:
        bench_ingest(a.ingest_orders, a.fulfilled, a.ingest_runs, a.dlt_python,
                     set(filter(None, a.contenders.split(","))) or None)
    if "status" not in skip:
        bench_status(a, skip)
    print(f"(whole run {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
