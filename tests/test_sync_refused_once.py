"""``sellerguard sync``: a credential the token endpoint refuses is asked for once per account and run.

Before, each stream redeemed the refused refresh token (or client secret) again: six token requests and six
failures for eBay. A transient token endpoint failure (503) is not a refusal: the next stream still tries. TikTok's
token endpoint is its own signed GET answering 200 with an error code, so its refusal is marked in the connector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sellerguard import connectors
from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.connectors import tiktok
from sellerguard.connectors.ebay import STREAMS
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
from sellerguard.store import Store
from sellerguard.sync import stream_status, sync_account

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOKEN_PATH = "/identity/v1/oauth2/token"
TIKTOK_TOKEN_PATH = "/api/v2/token/refresh"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    accounts = [(a[0], a[1], "healthy", a[3], a[4], 1, 0.0) for a in DEFAULT_ACCOUNTS
                if a[0] in ("ebay-us", "tiktok-us")]
    with Sandbox(World(NOW, accounts=accounts), clock=FixedClock(NOW)) as sandbox:
        yield sandbox


def _account(box: Sandbox, marketplace: str = "ebay", account: str = "ebay-us", **credentials: str):
    entry = connectors.registry()[marketplace].sandbox_account(box.base_url(marketplace), account)
    entry = {**entry, "credentials": {**entry["credentials"], **credentials}}
    return parse_config({"accounts": [entry]}, where="t").accounts[0]


def _token_requests(box: Sandbox, path: str = TOKEN_PATH) -> int:
    return sum(1 for _, _, logged in box.log if logged.endswith(path))


@pytest.mark.parametrize("bad", [{"client_secret": "wrong-secret"}, {"refresh_token": "v^1.1#revoked"}])
def test_a_refused_credential_asks_the_token_endpoint_once(box, tmp_path, bad):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.log.clear()
    box.clear_faults()
    outcome = sync_account(_account(box, **bad), store, clock=FixedClock(NOW), sleep=lambda s: None)
    assert _token_requests(box) == 1
    assert not outcome.ok and outcome.error_kind == "config"
    assert outcome.failed_streams == dict.fromkeys(STREAMS, "config")
    assert outcome.error is not None and "\n" not in outcome.error and "refused" in outcome.error
    assert f"every stream needs it: {', '.join(STREAMS)}" in outcome.error
    assert "also failed" not in outcome.error  # the refusal is said once, not once per stream
    states = stream_status(store, "ebay-us", STREAMS)
    assert {s: v["error_kind"] for s, v in states.items()} == dict.fromkeys(STREAMS, "config")


def test_a_transient_token_failure_lets_the_next_stream_try(box, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.log.clear()
    box.clear_faults()
    box.inject("ebay", TOKEN_PATH, status=503, times=3)  # post_token's 3 attempts, all for the first stream
    outcome = sync_account(_account(box), store, clock=FixedClock(NOW), sleep=lambda s: None,
                           streams=["orders", "feedback"])
    box.clear_faults()
    assert _token_requests(box) == 4  # 3 refused by the outage, then the next stream's which worked
    assert outcome.failed_streams == {"orders": "wait"} and outcome.error_kind == "wait"


@pytest.mark.parametrize("bad", [{"app_secret": "wrong-secret"}, {"refresh_token": "revoked-refresh-token"}])
def test_a_refused_tiktok_credential_asks_once(box, tmp_path, bad):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.log.clear()
    box.clear_faults()
    outcome = sync_account(_account(box, "tiktok", "tiktok-us", **bad), store, clock=FixedClock(NOW),
                           sleep=lambda s: None, streams=list(tiktok.STREAMS[:3]))
    assert _token_requests(box, TIKTOK_TOKEN_PATH) == 1
    assert not outcome.ok and outcome.error_kind == "config"
    assert set(outcome.failed_streams) == set(tiktok.STREAMS[:3])
    assert outcome.error is not None and "\n" not in outcome.error and "also failed" not in outcome.error


def test_a_good_tiktok_credential_still_syncs(box, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.clear_faults()
    outcome = sync_account(_account(box, "tiktok", "tiktok-us"), store, clock=FixedClock(NOW), sleep=lambda s: None,
                           streams=["orders"])
    assert outcome.ok, outcome.error
