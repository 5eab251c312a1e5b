"""One full sandbox sync shared by the tests of a module that only differ in what happens after it.

A full sync of the default world's Amazon and eBay accounts costs ~8 s CPU (thousands of loopback requests); four
tests each made their own. ``SyncedWorld.make`` syncs once (module scope); ``SyncedWorld.resume(tmp_path)`` gives
a test the state the sync left, as if it had synced itself:

- its own copy of the SQLite database (cursors, stored tokens, records) and of its key file (the sealed tokens),
- a fresh sandbox over a fresh ``World`` of the same rows and moment, holding the tokens the sync was issued
  (the same strings, expiring at the same moment) and the same request log,
- a ``FixedClock`` at the moment the sync ended (rate-limit waits advance it).

What else a marketplace module keeps after a finished sync (Amazon's report ids and search pages, Shopify's
leaky buckets, single-use refresh tokens of Etsy/TikTok/Mercado Libre) starts empty; use this only where the tests
after the sync do not read it (Amazon reports are daily, eBay and Walmart keep only tokens).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from db_templates import sqlite_copy

from sellerguard.clock import FixedClock
from sellerguard.config import Config
from sellerguard.sandbox import Sandbox, World
from sellerguard.store import Store
from sellerguard.sync import sync_accounts

AccountRow = tuple[str, str, str, str, str, int, float]
Entries = Callable[[Sandbox], list[dict[str, Any]]]


@dataclass(frozen=True)
class Resumed:
    box: Sandbox
    clock: FixedClock
    store: Store
    db: str  # the store's URL, for the CLI
    entries: list[dict[str, Any]]  # the config's account entries, pointing at this sandbox
    config: Config  # parsed from ``entries``


@dataclass(frozen=True)
class SyncedWorld:
    start: datetime  # the world's moment (and the clock's before the sync)
    rows: list[AccountRow] | None  # the world's accounts; None: the default world
    entries: Entries  # sandbox -> config account entries
    parse: Callable[[list[dict[str, Any]]], Config]
    db_file: Path  # the synced database, never opened by a test
    end: datetime  # the clock when the sync ended
    tokens: dict[str, Any]  # the sandbox's live tokens after the sync (token -> _Token)
    log: list[tuple[str, str, str]]  # the sandbox's request log of the sync

    @classmethod
    def make(cls, folder: Path, start: datetime, rows: list[AccountRow] | None, entries: Entries,
             parse: Callable[[list[dict[str, Any]]], Config]) -> SyncedWorld:
        """Sync every entry once into ``folder``/synced.db; asserts every account synced."""
        clock = FixedClock(start)
        db_file = sqlite_copy(folder / "synced.db")
        store = Store(f"sqlite:///{db_file}")
        with Sandbox(World(start, accounts=rows), clock=clock) as box:
            outcomes = sync_accounts(parse(entries(box)), store, clock=clock, sleep=clock.sleep)
            assert all(o.ok for o in outcomes), [o.error for o in outcomes]
            tokens = dict(box._tokens)  # the sandbox has no public snapshot of its tokens
            log = list(box.log)
        with store.engine.connect() as conn:  # everything into the main file: the copy needs no -wal
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        return cls(start, rows, entries, parse, db_file, clock.now(), tokens, log)

    @contextmanager
    def resume(self, folder: Path) -> Iterator[Resumed]:
        """The state right after the sync, for one test (see the module doc)."""
        db_file = folder / self.db_file.name
        for part in self.db_file.parent.glob(f"{self.db_file.name}*"):  # the database and its key file
            if not part.name.endswith(("-wal", "-shm", ".lock")):
                shutil.copyfile(part, folder / part.name)
                (folder / part.name).chmod(0o600)
        clock = FixedClock(self.end)
        store = Store(f"sqlite:///{db_file}")
        try:
            with Sandbox(World(self.start, accounts=self.rows), clock=clock) as box:
                # _Token is mutable (expire_tokens): each test gets its own
                box._tokens.update({k: dataclasses.replace(v) for k, v in self.tokens.items()})
                box.log.extend(self.log)
                entries = self.entries(box)
                yield Resumed(box, clock, store, f"sqlite:///{db_file}", entries, self.parse(entries))
        finally:
            store.close()
