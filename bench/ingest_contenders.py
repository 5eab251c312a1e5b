#!/usr/bin/env python
"""One ingest contender, run by bench/run.py in its own process against bench/ebay_pages.py's page server.

Usage: python bench/ingest_contenders.py {sellerguard,bare,dlt} BASE_URL WORKDIR

Prints one JSON line: ``{"orders": stored or parsed, "seconds": wall time of the ingest, "cpu": CPU seconds of the
ingest (this process and its children, all threads), "peak_mb": peak RSS of this process}``; sellerguard adds
``"rollup_cpu"``: the part of ``cpu`` spent bringing the day rollups up to date at the end of the sync (building
them, for an account at their volume), imports of the rules included. The clocks start after
the imports (each contender's start-up is not what is compared). On a machine shared with other work the CPU
seconds are the steadier figure: wall time then mostly measures waiting for a core.

- ``sellerguard``: the eBay connector's ``orders`` stream into a new SQLite store (``sync_account``; no pacing:
  loopback) -- pages, the per-order calls it decides it needs, normalize, write.
- ``bare``: a ``requests`` session fetching and parsing every getOrders page (limit 200): the loopback ceiling.
- ``dlt``: dlt's ``rest_api`` source (offset paginator, limit 200, ``orders`` selector) into duckdb; needs
  ``pip install -e '.[bench]'`` in the interpreter running this file (bench/run.py ``--dlt-python``).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ORDERS = "/sell/fulfillment/v1/order"
EXTRA: dict[str, float] = {}  # figures a contender adds to its JSON line (sellerguard: "rollup_cpu")


def window() -> str:
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    return f"creationdate:[{(now - timedelta(days=91)).strftime(fmt)}..{now.strftime(fmt)}]"


def cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def sellerguard(base_url: str, workdir: Path) -> tuple[int, float, float]:
    import cryptography.fernet  # noqa: F401  (one-time start-up, before the clock: tokens are sealed at rest)
    import pycountry

    from sellerguard.config import parse_config
    from sellerguard.connectors import ebay, ebay_normalize  # noqa: F401
    from sellerguard.store import Store
    from sellerguard.sync import sync_account

    pycountry.countries.get(alpha_2="US"), pycountry.currencies.get(alpha_3="USD")  # loads its tables once

    db = workdir / "sellerguard.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}")
    [acc] = parse_config({"accounts": [ebay.sandbox_account(base_url, "ebay-bench")]}, where="bench").accounts
    start, cpu0 = time.perf_counter(), cpu_s()
    from sellerguard.rules import rollup  # inside the clock: the sync imports it when it brings rollups up to date

    real_catch_up = rollup.catch_up

    def catch_up(store: Store, account: str) -> None:  # timed apart: the day-rollup build at the first sync
        at = cpu_s()
        EXTRA["peak_mb_before_rollups"] = peak_mb()
        real_catch_up(store, account)
        EXTRA["rollup_cpu"] = EXTRA.get("rollup_cpu", 0.0) + cpu_s() - at

    rollup.catch_up = catch_up
    outcome = sync_account(acc, store, sleep=lambda s: None, streams=["orders"])
    seconds, cpu = time.perf_counter() - start, cpu_s() - cpu0
    if not outcome.ok:
        raise SystemExit(f"sync failed: {outcome.error}")
    stored = store.count("order", account="ebay-bench")
    store.close()
    return stored, seconds, cpu


def bare(base_url: str, workdir: Path) -> tuple[int, float, float]:
    import requests

    session = requests.Session()
    start, cpu0 = time.perf_counter(), cpu_s()
    token = session.post(f"{base_url}/identity/v1/oauth2/token",
                         data={"grant_type": "refresh_token", "refresh_token": "x"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    seen, offset, crit = 0, 0, window()
    while True:
        page = session.get(f"{base_url}{ORDERS}", params={"filter": crit, "limit": 200, "offset": offset},
                           headers=headers).json()
        seen += len(page["orders"])
        if "next" not in page:
            break
        offset += 200
    return seen, time.perf_counter() - start, cpu_s() - cpu0


def dlt_rest_api(base_url: str, workdir: Path) -> tuple[int, float, float]:
    import dlt
    import duckdb
    from dlt.sources.rest_api import rest_api_source

    db = workdir / "dlt.duckdb"
    db.unlink(missing_ok=True)
    start, cpu0 = time.perf_counter(), cpu_s()
    source = rest_api_source({
        "client": {
            "base_url": base_url,
            "auth": {"type": "bearer", "token": "v^1.1#i^1#bench-token"},
            "paginator": {"type": "offset", "limit": 200, "offset_param": "offset", "limit_param": "limit",
                          "total_path": "total"},
        },
        "resources": [{"name": "orders", "primary_key": "order_id", "write_disposition": "merge",
                       "endpoint": {"path": ORDERS.lstrip("/"), "params": {"filter": window()},
                                    "data_selector": "orders"}}],
    })
    pipeline = dlt.pipeline(pipeline_name="ebay_bench", destination=dlt.destinations.duckdb(str(db)),
                            dataset_name="ebay", pipelines_dir=str(workdir / "dlt-pipelines"))
    pipeline.run(source)
    seconds, cpu = time.perf_counter() - start, cpu_s() - cpu0
    with duckdb.connect(str(db)) as con:
        stored = con.execute("SELECT count(*) FROM ebay.orders").fetchone()[0]
    return int(stored), seconds, cpu


def main() -> None:
    kind, base_url, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    workdir.mkdir(parents=True, exist_ok=True)
    run = {"sellerguard": sellerguard, "bare": bare, "dlt": dlt_rest_api}[kind]
    orders, seconds, cpu = run(base_url, workdir)
    print(json.dumps({"orders": orders, "seconds": seconds, "cpu": cpu, "peak_mb": peak_mb(), **EXTRA}))


if __name__ == "__main__":
    main()
