"""Worker mode (issue 24): two `sellerguard worker` processes on the local PostgreSQL, one killed -9 mid-job; one
rate bucket shared by several processes; the sandbox at scale. Alerts decided once under concurrent evaluations:
tests/alerts/test_pipeline_locks.py (the lock lives in the pipeline, for `run` and workers alike)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from pg import pg_schema_url
from sqlalchemy import text
from webhook import Hook

from sellerguard.demo import demo_accounts
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.truth import records
from sellerguard.store import Store
from sellerguard.workers import app as _preloaded  # noqa: F401  (the forked workers inherit it)

ACCOUNTS = [  # small, critical (alerts fire), on marketplaces whose first sync is short
    ("shopify-w", "shopify", "critical", "US", "USD", 2, 0.0),
    ("tiktok-w", "tiktok", "critical", "US", "USD", 2, 0.2),
    ("etsy-w", "etsy", "critical", "US", "USD", 2, 0.0),
]


def _worker(config: Path, log: Path) -> multiprocessing.Process:
    """`sellerguard worker` in a forked child: the real command, without paying Python's start-up again."""

    def main() -> None:
        from sellerguard.cli import cli

        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        try:
            cli.main(["--config", str(config), "worker", "--concurrency", "3", "--stalled-after", "1.5"],
                     standalone_mode=False)
        finally:
            os._exit(0)

    proc = multiprocessing.get_context("fork").Process(target=main, daemon=True)
    proc.start()
    return proc


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)  # real processes on the wall clock: poll them
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_sync_every_account_once_at_a_time_and_survive_a_kill_9(tmp_path: Path, pg_store: Store) -> None:
    # the module's migrated schema (no other test there queues jobs, syncs or alerts): one migration and one
    # DROP SCHEMA less, ~5 s of this test's 13 s on the loaded 2-core machine
    store, url = pg_store, pg_store.url
    with Sandbox(World(datetime.now(UTC), accounts=ACCOUNTS, days=14)) as box:
        hook = Hook()
        procs: list[multiprocessing.Process] = []
        try:
            config = tmp_path / "workers.toml"
            accounts = [{**a, "sync_every": "10m"} for a in demo_accounts(box)]
            config.write_text(tomli_w.dumps({"store": {"url": url}, "accounts": accounts,
                                             "notify": [{"name": "hook", "type": "webhook", "url": hook.url}]}))
            box.inject("etsy", ".*", delay_s=2.0, times=1)  # etsy's first answer is slow: the job to kill
            logs = [tmp_path / "a.log", tmp_path / "b.log"]
            procs = [_worker(config, logs[0]), _worker(config, logs[1])]

            def etsy_runner() -> int | None:
                for i, log in enumerate(logs):
                    if log.exists() and "etsy-w: job" in log.read_text(errors="replace"):
                        return i + 1
                return None

            victim = procs[_wait("the etsy job to start", etsy_runner) - 1]
            os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
            victim.join(5)
            survivor = procs[1] if victim is procs[0] else procs[0]

            def all_synced() -> bool:
                with store.engine.connect() as conn:
                    ok = set(conn.execute(text("SELECT account FROM sync_run WHERE ok")).scalars())
                    todo = conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('doing') "
                                             "AND task_name = 'sellerguard.sync_account'")).scalar()
                return ok == {a[0] for a in ACCOUNTS} and todo == 0

            _wait("every account synced by the survivor", all_synced)
            os.kill(survivor.pid, signal.SIGTERM)  # type: ignore[arg-type]
            survivor.join(15)
            assert survivor.exitcode == 0
            survivor_log = (logs[0] if survivor is procs[0] else logs[1]).read_text(errors="replace")
            assert "stopped answering; queued again" in survivor_log  # the killed worker's job was taken over

            with store.engine.connect() as conn:
                # never two jobs of one account running at once: each job's run (started -> its next event)
                events = conn.execute(text(
                    "SELECT j.queueing_lock, e.job_id, e.type::text, e.at FROM procrastinate_events e JOIN "
                    "procrastinate_jobs j ON j.id = e.job_id WHERE j.task_name = 'sellerguard.sync_account' "
                    "ORDER BY e.at, e.id")).all()
                stored = {a[0]: set(conn.execute(text("SELECT external_id FROM orders WHERE account = :a"),
                                                 {"a": a[0]}).scalars()) for a in ACCOUNTS}
                sent = conn.execute(text("SELECT events FROM notify_outbox WHERE status = 'sent'")).scalars().all()
            running: dict[str, int] = {}
            for lock, job, kind, _at in events:
                if kind == "started":
                    assert lock not in running, f"{lock}: two jobs running at once"
                    running[lock] = job
                elif kind in ("succeeded", "failed", "deferred_for_retry", "aborted") and running.get(lock) == job:
                    del running[lock]
            # no record lost: every order of the sandbox's truth is stored
            for acc in ACCOUNTS:
                truth = {r.external_id for r in records(box.world.accounts[acc[0]]) if r.kind == "order"}
                assert stored[acc[0]] == truth
            # each alert sent once: at most one webhook document per account (its alerts fire once), each
            # delivered once
            told = Counter(e["key"] for body in sent for e in json.loads(body or "[]"))
            assert told and set(told) <= {a[0] for a in ACCOUNTS} and set(told.values()) == {1}
            assert len(hook.bodies) == len(sent) and hook.repeats() == 0  # each message delivered once
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
                    p.join(5)
            hook.close()


@pytest.fixture(scope="module")
def pg_store() -> Any:
    """One PostgreSQL store for this module's tests (each uses its own account ids and tables): one migration and
    one DROP SCHEMA, not one each."""
    with pg_schema_url("wk") as url:
        store = Store(url)
        yield store
        store.close()


def _take_tokens(url: str, start: Any, out: Any, n: int, block: int = 0) -> None:  # a forked worker process
    from sellerguard.sync import StoreBuckets

    store = Store(url, migrate=False)
    account = f"acc-{block}"
    buckets = StoreBuckets(store, account)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    start.wait()
    if block:  # blocks of tokens per round trip (SharedBucket.block): (wait, tokens granted)
        out.put([buckets.take_block(f"{account}:etsy:api", 2.0, 3.0, at, block) for _ in range(n)])
    else:
        out.put([(buckets.take(f"{account}:etsy:api", 2.0, 3.0, at), 1) for _ in range(n)])
    store.close()


@pytest.mark.postgres
def test_workers_in_three_processes_spend_one_rate_bucket_together(pg_store: Store) -> None:
    """Quotas across machines: three processes take 20 times each at the same instant from one store-shared
    bucket (2/s, burst 3), one token or a block of two per round trip. The burst is handed out once, then every
    token is reserved once: the k-th reservation waits k / 2 s, so together they never exceed the limit (a lost
    update would hand two processes the same slot)."""
    ctx = multiprocessing.get_context("fork")
    for block in (0, 2):  # one token per round trip, then blocks of two
        start, out = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_take_tokens, args=(pg_store.url, start, out, 20, block)) for _ in range(3)]
        for p in procs:
            p.start()
        grants = [g for _ in procs for g in out.get(timeout=60)]
        for p in procs:
            p.join(10)
        free = sum(n for w, n in grants if w == 0)
        reserved = sorted(w for w, n in grants if w > 0)
        assert free == 3 and all(n == 1 for w, n in grants if w > 0), block  # the burst, once, then one by one
        assert reserved == pytest.approx([k / 2 for k in range(1, len(reserved) + 1)]), block


def test_a_sandbox_world_of_thousands_of_accounts_lists_at_once_and_keeps_few_in_memory() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    world = World.generated(now, 500, scale=0.1, keep=2)
    assert len(world.accounts) == 4000 and len({a.marketplace for a in world.accounts.values()}) == 8
    first = [o.id for o in world.accounts["etsy-00001"].orders]
    for name in ("etsy-00002", "bol-00400", "amazon-00500"):
        assert world.accounts[name].orders
    assert sum(a._orders is not None for a in world.accounts.values()) == 2  # the rest were dropped
    assert [o.id for o in world.accounts["etsy-00001"].orders] == first  # generated again, the same
    touched = world.inject("bol-00400", "seller_cancel", 1, now)
    for name in ("etsy-00003", "etsy-00004", "etsy-00005"):
        assert world.accounts[name].orders
    assert {o.id for o in world.accounts["bol-00400"].orders if o.cancel and o.cancel.at == now} == set(touched)


def test_the_worker_refuses_a_sqlite_store_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sellerguard.cli import cli

    config = tmp_path / "c.toml"
    config.write_text('[[accounts]]\nid = "a"\nmarketplace = "etsy"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}", "worker"])
    assert result.exit_code == 3
    assert "workers need a PostgreSQL store" in result.output and len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.glob("x.db*"))  # refused before the store is opened: no SQLite file left behind


def test_the_worker_template_unit_is_hardened_like_the_daemons() -> None:
    import shutil

    from test_deploy_hardening import REPO, unit_options

    unit = REPO / "deploy" / "sellerguard-worker@.service"
    options: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            options.setdefault(key, []).append(value)
    daemon = unit_options()
    hardening = [k for k in daemon if k.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability",
                                                      "NoNew", "Memory", "UMask", "LockPersonality"))]
    assert {k: options.get(k) for k in hardening} == {k: daemon[k] for k in hardening}
    assert "worker" in options["ExecStart"][0] and "%i" in options["ExecStart"][0]
    assert "deploy/sellerguard-worker@.service" in (REPO / "docs" / "deploy.md").read_text()
    if shutil.which("systemd-analyze"):
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True,
                             text=True).stdout
        assert float(out.rsplit("Overall exposure level for", 1)[1].split(":")[1].split()[0]) < 2.0


def test_an_account_job_comes_back_after_retry_after_backoff_or_its_next_run(store: Store) -> None:
    """What one job decides (engine-free): the marketplace's Retry-After when it gave one, exponential backoff
    otherwise, at once after an interruption, and the next regular run at sync_every +/- jitter after a success."""
    import random
    from datetime import timedelta
    from types import SimpleNamespace

    from sellerguard.clock import FixedClock
    from sellerguard.config import parse_config
    from sellerguard.workers.jobs import Runtime, run_account

    config = parse_config({"accounts": [{"id": "a1", "marketplace": "etsy", "sync_every": "10m"},
                                        {"id": "off", "marketplace": "etsy", "enabled": False}],
                           "daemon": {"jitter": "30s"}})
    outcome = SimpleNamespace(ok=True, records=3, error_kind=None, error=None, retry_after=None, stopped=False,
                              busy=False)
    rt = Runtime(config, store, FixedClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC)), rng=random.Random(1),
                 sync=lambda *a, **kw: outcome)

    ok = run_account(rt, "a1")
    assert ok is not None and ok.ok and ok.retry_in is None
    assert timedelta(minutes=9, seconds=30) <= ok.next_in <= timedelta(minutes=10, seconds=30)  # type: ignore[operator]
    assert run_account(rt, "off") is None and run_account(rt, "gone") is None  # no next run

    outcome.ok, outcome.error_kind, outcome.error, outcome.retry_after = False, "wait", "a1: HTTP 429", 120.0
    limited = run_account(rt, "a1")
    assert limited is not None and limited.next_in is None
    assert timedelta(seconds=120) <= limited.retry_in <= timedelta(seconds=132)  # type: ignore[operator]
    outcome.retry_after = None  # a 503 without Retry-After: 30 s, then 60 s, 120 s ...
    assert timedelta(seconds=120) <= run_account(rt, "a1", attempts=2).retry_in <= timedelta(seconds=132)  # type: ignore[union-attr,operator]
    outcome.error_kind = "payload"  # not transient: from sync_every, doubling
    assert timedelta(minutes=20) <= run_account(rt, "a1", attempts=1).retry_in <= timedelta(minutes=22)  # type: ignore[union-attr,operator]
    outcome.error_kind, outcome.retry_after = "payload", 7200.0
    assert run_account(rt, "a1").retry_in >= timedelta(hours=2)  # type: ignore[union-attr,operator]
    outcome.stopped = True
    assert run_account(rt, "a1").retry_in == timedelta(0)  # type: ignore[union-attr]


@pytest.mark.postgres
def test_plan_queues_every_account_in_one_batch_and_skips_those_already_queued(
        pg_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan task queues the accounts without a job in one INSERT per 500; an account another process queued
    meanwhile makes that batch fall back to one by one, skipping it; planning again queues nothing."""
    from sellerguard.clock import FixedClock
    from sellerguard.config import parse_config
    from sellerguard.workers.app import defer_sync, make_app, plan
    from sellerguard.workers.jobs import Runtime

    ids = [f"plan-{i}" for i in range(5)]
    config = parse_config({"accounts": [{"id": i, "marketplace": "etsy"} for i in ids]})
    rt = Runtime(config, pg_store, FixedClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC)))
    app = make_app(pg_store.url, rt)
    with app.open():
        assert defer_sync(app, "plan-3")  # queued by "another worker" between the check and the batch
        with monkeypatch.context() as m:
            m.setattr("sellerguard.workers.app.pending_accounts", lambda rt: set())  # it did not see plan-3
            assert plan(app, rt) == 4
        assert plan(app, rt) == 0
    with pg_store.engine.connect() as conn:
        rows = conn.execute(text("SELECT args->>'account', lock, queueing_lock FROM procrastinate_jobs WHERE "
                                 "task_name = 'sellerguard.sync_account' AND args->>'account' LIKE 'plan-%' "
                                 "ORDER BY 1")).all()
    assert [tuple(r) for r in rows] == [(i, f"account:{i}", f"account:{i}") for i in ids]
