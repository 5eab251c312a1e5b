"""TikTok Shop: a refused credential is asked for once per account and run, like the ``post_token`` marketplaces.

TikTok's token endpoint is its own signed GET (``/api/v2/token/refresh``) answering 200 with an error code, so the
refusal is marked in the connector (tests/test_sync_refused_once.py covers the OAuth POST marketplaces)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sellerguard import connectors
from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.connectors.tiktok import STREAMS
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
from sellerguard.store import Store
from sellerguard.sync import sync_account

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN_PATH = "/api/v2/token/refresh"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    accounts = [(a[0], a[1], "healthy", a[3], a[4], 1, 0.0) for a in DEFAULT_ACCOUNTS if a[0] == "tiktok-us"]
    with Sandbox(World(NOW, accounts=accounts), clock=FixedClock(NOW)) as sandbox:
        yield sandbox


def _account(box: Sandbox, **credentials: str):
    entry = connectors.registry()["tiktok"].sandbox_account(box.base_url("tiktok"), "tiktok-us")
    entry = {**entry, "credentials": {**entry["credentials"], **credentials}}
    return parse_config({"accounts": [entry]}, where="t").accounts[0]


def _token_requests(box: Sandbox) -> int:
    return sum(1 for _, _, path in box.log if path.endswith(TOKEN_PATH))


@pytest.mark.parametrize("bad", [{"app_secret": "wrong-secret"}, {"refresh_token": "revoked-refresh-token"}])
def test_a_refused_tiktok_credential_asks_once(box, tmp_path, bad):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.log.clear()
    box.clear_faults()
    outcome = sync_account(_account(box, **bad), store, clock=FixedClock(NOW), sleep=lambda s: None,
                           streams=list(STREAMS[:3]))
    assert _token_requests(box) == 1
    assert not outcome.ok and outcome.error_kind == "config"
    assert set(outcome.failed_streams) == set(STREAMS[:3])
    assert outcome.error is not None and "\n" not in outcome.error and "also failed" not in outcome.error


def test_a_good_tiktok_credential_still_syncs(box, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.clear_faults()
    outcome = sync_account(_account(box), store, clock=FixedClock(NOW), sleep=lambda s: None, streams=["orders"])
    assert outcome.ok, outcome.error
