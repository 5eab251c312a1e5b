"""Requests of an eBay orders backfill and of the incremental sync after it, end to end over loopback HTTP (the
bench's page server, bench/ebay_pages.py; detail calls through the pooled requests session): pages + one
``shipping_fulfillment`` per order listing a fulfillment, then pages only (issue 21 item 1,
docs/connectors/ebay.md). Real clock: the server's orders end an hour before now, inside the 90-day backfill."""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sellerguard.config import parse_config
from sellerguard.connectors import ebay
from sellerguard.sync import sync_account

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import ebay_pages  # a bench fixture, not a package

ORDERS, SHARE = 250, 0.1


@pytest.fixture
def pages() -> Iterator[str]:
    server = ebay_pages.make_server(ebay_pages.World(ORDERS, SHARE, datetime.now(UTC)))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _stats(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/_stats") as answer:
        return json.loads(answer.read())


def test_backfill_takes_pages_and_needed_details_then_incremental_takes_pages_only(store, pages):
    [acc] = parse_config({"accounts": [ebay.sandbox_account(pages, "ebay-req")]}, where="test").accounts
    _stats(pages)
    first = sync_account(acc, store, sleep=lambda s: None, streams=["orders"])
    assert first.ok, first.error
    fulfilled = sum(ebay_pages.World(ORDERS, SHARE, datetime.now(UTC)).is_fulfilled(n) for n in range(ORDERS))
    assert _stats(pages) == {"pages": 2 + 1, "details": fulfilled, "other": 1}  # 2 pages, 1 catch-up, the token
    assert store.count("order", account="ebay-req") == ORDERS
    assert store.count("shipment", account="ebay-req") == fulfilled == 25
    again = sync_account(acc, store, sleep=lambda s: None, streams=["orders"])
    assert again.ok, again.error
    assert _stats(pages)["details"] == 0  # orders stored at the same lastModifiedDate are not read again
