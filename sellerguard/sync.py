"""Run connectors: pages -> normalized records -> store, one account at a time, one failure at a time.

Each Batch a connector yields is written with its cursor in one transaction. A failure (auth, outage, bad
payload) ends that account's sync with a SyncOutcome saying what and where; the batches already stored stay,
the cursor stays where they left it, and the other accounts carry on. Nothing here prints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sellerguard import connectors, keys
from sellerguard.clock import Clock, SystemClock
from sellerguard.config import AccountConfig, Config, config_error
from sellerguard.connectors.contract import Batch, SyncContext
from sellerguard.errors import ConfigError, ConnectorError, SellerguardError
from sellerguard.schema import Account
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun

log = logging.getLogger("sellerguard.sync")
Progress = Callable[[str, str, Batch], None]  # (account id, stream, batch)


@dataclass
class SyncOutcome:
    account: str
    marketplace: str
    ok: bool
    records: int = 0
    changed: int = 0
    error_kind: str | None = None  # config | wait | payload
    error: str | None = None  # one line, no secrets
    retry_after: float | None = None
    stopped: bool = False  # asked to stop between batches (SIGTERM)


class _State:
    def __init__(self, store: Store, account: str, clock: Clock) -> None:
        self._store, self._account, self._clock = store, account, clock

    def get(self, key: str) -> str | None:
        return self._store.state(self._account, key)

    def put(self, key: str, value: str | None) -> None:
        self._store.put_state(self._account, key, value, now=self._clock.now())


def account_record(acc: AccountConfig) -> Account:
    return Account(id=acc.id, marketplace=acc.marketplace, region=acc.region, seller_id=acc.seller_id,
                   display_name=acc.display_name)


def connector_options(module: Any, acc: AccountConfig) -> Any:
    model = getattr(module, "Options", None)
    if model is None:
        if acc.options:
            raise ConfigError(f"accounts[{acc.id}].options: the {acc.marketplace} connector takes no options")
        return None
    try:
        return model.model_validate(acc.options)
    except ValidationError as exc:
        raise config_error(exc, f"accounts[{acc.id}].options", acc.options) from None


def check_accounts(config: Config) -> None:
    """Fail fast, naming the config file: every account's marketplace has a connector and valid options."""
    where = str(config.source or "config")
    for acc in config.accounts:
        try:
            connector_options(connectors.get(acc.marketplace), acc)
        except ConfigError as exc:
            inner = f"{exc.where}: {exc.message}" if exc.where else exc.message
            if inner.startswith("unknown marketplace"):
                inner = f"accounts[{acc.id}].marketplace: {inner}"
            raise ConfigError(inner, where=where) from None


def make_context(acc: AccountConfig, store: Store, *, clock: Clock, sleep: Callable[[float], None]) -> SyncContext:
    module = connectors.get(acc.marketplace)
    return SyncContext(
        account=acc,
        state=_State(store, acc.id, clock),
        clock=clock,
        sleep=sleep,
        options=connector_options(module, acc),
        log=logging.getLogger(f"sellerguard.connectors.{acc.marketplace}"),
        lock=lambda name: store.lock(f"{acc.id}:{name}"),
        buyer_secret=keys.buyer_secret(store),  # created at first use, kept outside the records
    )


def sync_account(
    acc: AccountConfig,
    store: Store,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    streams: Iterable[str] | None = None,
) -> SyncOutcome:
    """Sync every stream of one account; never raises for a channel failure."""
    clock = clock or SystemClock()
    outcome = SyncOutcome(account=acc.id, marketplace=acc.marketplace, ok=False)
    run = SyncRun(account=acc.id, started_at=clock.now())
    stream = "-"
    try:
        module = connectors.get(acc.marketplace)
        ctx = make_context(acc, store, clock=clock, sleep=sleep)
        store.upsert_accounts([account_record(acc)])
        for stream in streams or module.STREAMS:
            cursor = store.cursor(acc.id, stream)
            for batch in module.fetch(ctx, stream, cursor):
                cursors = {(acc.id, stream): batch.cursor} if batch.cursor is not None else None
                outcome.changed += store.write(batch.records, cursors, now=clock.now())
                outcome.records += len(batch.records)
                if progress is not None:
                    progress(acc.id, stream, batch)
                if should_stop():
                    outcome.stopped = True
                    break
            if outcome.stopped:
                break
        outcome.ok = not outcome.stopped
    except ConnectorError as exc:
        outcome.error_kind, outcome.error, outcome.retry_after = exc.kind, str(exc), exc.retry_after
    except ConfigError as exc:
        outcome.error_kind, outcome.error = "config", str(exc)
    except ValidationError as exc:
        # a connector let a payload through that the schema refuses: a bad payload, named by field
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in err["loc"])
        outcome.error_kind = "payload"
        outcome.error = f"{acc.id}: {stream}: bad payload: {field}: {err['msg']}"
    except SellerguardError as exc:
        outcome.error_kind, outcome.error = "config", str(exc)
    if outcome.error and not outcome.error.startswith(f"{acc.id}: "):
        outcome.error = f"{acc.id}: {stream}: {outcome.error}"
    run.finished_at = clock.now()
    run.ok, run.records = outcome.ok, outcome.records
    run.error_kind, run.error = outcome.error_kind, (outcome.error or None) and outcome.error[:500]
    store.record_sync(run)
    if outcome.error:
        log.debug("sync failed: %s", outcome.error)  # the caller reports it once (CLI line, daemon guard)
    return outcome


def sync_accounts(
    config: Config,
    store: Store,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    accounts: Iterable[str] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    workers: int = 1,
) -> list[SyncOutcome]:
    """Sync the enabled accounts (or those named); one account's failure never stops the others.

    With ``workers`` > 1, accounts sync concurrently (each has its own marketplace host and rate limits, so a
    slow one, paced by its marketplace, does not hold up the rest); outcomes keep the config's order.
    """
    keys.configure(store, key=config.store.key, config_path=config.source)  # where the buyer-key secret lives
    wanted = set(accounts) if accounts else None
    if wanted:
        for name in wanted:
            config.account(name)  # unknown ids are a config error
    chosen = [acc for acc in config.accounts if (acc.id in wanted if wanted else acc.enabled)]

    def one(acc: AccountConfig) -> SyncOutcome | None:
        if should_stop():
            return None
        return sync_account(acc, store, clock=clock, sleep=sleep, progress=progress, should_stop=should_stop)

    if workers <= 1 or len(chosen) <= 1:
        results = [one(acc) for acc in chosen]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sellerguard-sync") as pool:
            results = list(pool.map(one, chosen))
    return [o for o in results if o is not None]
