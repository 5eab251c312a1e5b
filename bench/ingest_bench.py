#!/usr/bin/env python
"""Ingest benchmark: records/s and peak memory syncing N orders from the loopback sandbox (docs/performance.md).

Usage: .venv/bin/python bench/ingest_bench.py [--sizes 50000,200000] [--backfill pages|report]

For each size, a fresh process starts the sandbox in a child process (one Amazon account, 90 days, at least N orders,
35% Amazon-fulfilled), then syncs it into a new SQLite store under bench/out/ with the real connector over HTTP:
searchOrders pages of 100 with packages and cancellations (``--backfill pages``), or the order report plus the
recent seller-fulfilled pages (``--backfill report``, the connector's default). The sandbox lives in its own
process so the peak RSS measured is the syncing process's alone. Rate-limit waits are skipped (sleep is a no-op):
the benchmark measures ingest; a real Amazon backfill is bounded by the usage plan (docs/connectors/amazon.md).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def serve(orders: int, conn) -> None:  # the child: world + sandbox, until the parent closes the pipe
    from sellerguard.sandbox import Sandbox, World

    now = datetime.now(UTC)
    per_day = -(-orders // 90)  # 90 full days and part of today: at least ``orders`` orders
    world = World(now, accounts=[("amazon-bench", "amazon", "healthy", "ATVPDKIKX0DER", "USD", per_day, 0.35)])
    total = len(world.accounts["amazon-bench"].orders)
    with Sandbox(world) as box:
        conn.send((box.base_url("amazon"), total))
        conn.recv()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(orders: int, backfill: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(orders, child), daemon=True)
    proc.start()
    base_url, world_orders = parent.recv()
    from sellerguard.config import parse_config
    from sellerguard.connectors import amazon
    from sellerguard.store import Store
    from sellerguard.sync import sync_accounts

    OUT.mkdir(exist_ok=True)
    db = OUT / f"ingest-{orders}-{backfill}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}")
    entry = amazon.sandbox_account(base_url, "amazon-bench")
    entry["options"] = {"backfill": backfill, "package_days": 35}
    config = parse_config({"accounts": [entry]}, where="bench")
    before = rss_mb()
    started = time.perf_counter()
    [outcome] = sync_accounts(config, store, sleep=lambda s: None, accounts=["amazon-bench"])
    elapsed = time.perf_counter() - started
    peak = rss_mb()
    stored = store.count("order", account="amazon-bench")
    store.close()
    parent.send("stop")
    proc.join(10)
    if not outcome.ok:
        raise SystemExit(f"sync failed: {outcome.error}")
    print(f"| {world_orders:,} | {backfill} | {outcome.records:,} | {stored:,} | {elapsed:.1f} s | "
          f"{outcome.records / elapsed:,.0f} | {before:.0f} MB | {peak:.0f} MB |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,200000", help="comma-separated order counts")
    parser.add_argument("--backfill", default="pages", choices=("pages", "report"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size in this process
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.backfill)
        return
    print("| orders in the world | backfill | records synced | orders stored | time | records/s | RSS before sync |"
          " peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        subprocess.run([sys.executable, __file__, "--one", str(size), "--backfill", args.backfill], check=True)


if __name__ == "__main__":
    main()
