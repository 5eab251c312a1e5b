"""The connector contract: what a marketplace module must provide, and what it is given.

A connector is one flat module in ``connectors/`` (``connectors/amazon.py``) with these module-level names::

    MARKETPLACE: str                      # "amazon": the value of `marketplace` in the config
    STREAMS: tuple[str, ...]              # ("orders", "performance", ...): synced in this order
    Options: type[pydantic.BaseModel]     # optional: validates AccountConfig.options (extra="forbid")
    def fetch(ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]: ...
    def sandbox_account(base_url: str, account_id: str) -> dict: ...   # config dict pointing at the sandbox

``fetch`` pulls one stream incrementally from ``cursor`` and yields batches of normalized records, each with
the cursor that is safe to resume from once that batch is stored. The sync runner (``sellerguard.sync``)
writes each batch and its cursor in one transaction, so a failure mid-stream keeps every stored batch and
resumes after it, never past it. Connectors fetch and normalize; they never judge, notify, print or write
records to the store themselves (only ``ctx.state`` for tokens and pending reports).

Failures: raise; never catch one stream's error to protect the next (streams are independent in the runner). What
the marketplace sent that cannot be read is a ``payload_error`` (``sellerguard.payload``: ``require_list``,
``require_object``, ``count``, ``money``, ``ident``, ``iso_time``...): any other exception is reported as kind
"internal", a bug, and the fuzz tests (tests/connectors/test_fuzz.py) fail on it. Page with
``sellerguard.paginate.walk`` (or ``by_token``/``by_offset``/``by_page``) and yield one Batch per page with its
resume cursor. Validate token replies whole with ``sellerguard.oauth.token_reply`` before saving anything, and read
state back with ``oauth.load_state``/``load_access`` (a garbled value is dropped and fetched again once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sellerguard import pseudonym
from sellerguard.clock import Clock
from sellerguard.config import AccountConfig
from sellerguard.errors import ConnectorError
from sellerguard.schema import Record


@dataclass
class Batch:
    records: list[Record]
    cursor: str | None  # resume point after this batch; None keeps the stream's stored cursor
    progress: int = 0  # units of work done in this batch (pages, orders), for the progress bar
    total: int | None = None  # total units when the connector knows them (backfills)


class StateAccess(Protocol):
    """Per-account connector state, committed at once (a rotated refresh token must survive a crash)."""

    def get(self, key: str) -> str | None: ...
    def put(self, key: str, value: str | None) -> None: ...


@dataclass
class SyncContext:
    account: AccountConfig
    state: StateAccess
    clock: Clock
    sleep: Callable[[float], None]
    options: Any = None  # the connector's validated Options instance, if it declares one
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("sellerguard.connectors"))
    # lock(name) -> context manager held while refreshing a single-use token (one refresher per account,
    # across processes where the store allows it)
    lock: Callable[[str], Any] | None = None
    # the store's buyer-key secret (sellerguard.pseudonym); connectors call ``ctx.buyer_key(raw_id)`` and put
    # only its result in a record: raw buyer ids never reach the store
    buyer_secret: bytes = b"sellerguard-test-secret"
    # stored(kind, external ids) -> {external id: updated_at} of this account's records already in the store
    # (``Store.updated_at``): a connector skips a per-record detail call when the marketplace's modified time
    # equals the stored one (issue 21). None (tests without a store): everything counts as changed.
    stored: Callable[[str, list[str]], dict[str, datetime]] | None = None

    def now(self) -> datetime:
        return self.clock.now()

    def stored_updates(self, kind: str, ids: list[str]) -> dict[str, datetime]:
        """``stored`` when the runner gave one, else {} (nothing known: fetch everything)."""
        return self.stored(kind, ids) if self.stored is not None and ids else {}

    def buyer_key(self, raw_id: str | None) -> str | None:
        """The pseudonymous key of a marketplace buyer id (64 hex chars), None when there is no id.

        Raises a payload ConnectorError for a garbled id (control characters, a lone surrogate)."""
        try:
            return pseudonym.buyer_key(self.buyer_secret, self.account.marketplace, raw_id)
        except ValueError as exc:
            raise ConnectorError(f"bad payload: buyer id: {exc}", kind="payload",
                                 where=f"{self.account.marketplace}: buyer") from None


class Connector(Protocol):
    MARKETPLACE: str
    STREAMS: tuple[str, ...]

    def fetch(self, ctx: SyncContext, stream: str, cursor: str | None) -> Iterator[Batch]: ...

    def sandbox_account(self, base_url: str, account_id: str) -> dict[str, Any]: ...
