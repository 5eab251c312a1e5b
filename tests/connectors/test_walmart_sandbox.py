"""Walmart end to end: the loopback sandbox speaks Walmart's spec, and sandbox -> sync -> status gives the levels."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import tomli_w
from click.testing import CliRunner
from spec_check import load_spec, response_schema, validate
from sqlmodel import select
from synced import Resumed, SyncedWorld

from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.connectors import walmart
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.truth import records as truth
from sellerguard.schema import Order
from sellerguard.store.tables import OrderRow
from sellerguard.sync import sync_accounts

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the `clock` fixture's moment


@pytest.fixture
def box(clock):
    with Sandbox(clock=clock) as sandbox:
        yield sandbox


def wm_headers(token: str | None = None) -> dict[str, str]:
    h = {"WM_QOS.CORRELATION_ID": str(uuid.uuid4()), "WM_SVC.NAME": "Walmart Marketplace", "Accept": "application/json"}
    if token:
        h["WM_SEC.ACCESS_TOKEN"] = token
    return h


def get_token(box) -> dict:
    basic = base64.b64encode(b"sandbox-walmart-us:sandbox-secret").decode()
    r = requests.post(f"{box.base_url('walmart')}/v3/token", data={"grant_type": "client_credentials"},
                      headers={**wm_headers(), "Authorization": f"Basic {basic}"}, timeout=10)
    assert r.status_code == 200
    return r.json()


def test_sandbox_payloads_match_the_specs(box, specs):
    folder = specs / "walmart"
    auth = load_spec(folder / "walmart-marketplace-authentication-openapi-original.yml")
    token = get_token(box)
    validate(auth, response_schema(auth, "/v3/token", "post"), token)
    orders = load_spec(folder / "walmart-marketplace-orders-openapi-original.yml")
    base = box.base_url("walmart")
    for node in ("SellerFulfilled", "WFSFulfilled"):
        r = requests.get(f"{base}/v3/orders", params={"createdStartDate": "2026-06-01", "shipNodeType": node,
                                                      "limit": "200"},
                         headers=wm_headers(token["access_token"]), timeout=10)
        assert r.status_code == 200
        body = r.json()
        validate(orders, response_schema(orders, "/v3/orders", "get"), body)
        assert body["list"]["meta"]["nextCursor"].startswith("?")
    returns = load_spec(folder / "walmart-marketplace-returns-openapi-original.yml")
    r = requests.get(f"{base}/v3/returns", headers=wm_headers(token["access_token"]), timeout=10)
    validate(returns, response_schema(returns, "/v3/returns", "get"), r.json())


def test_sandbox_refuses_calls_without_the_walmart_headers(box):
    token = get_token(box)["access_token"]
    base = box.base_url("walmart")
    missing = requests.get(f"{base}/v3/orders", headers={"WM_SEC.ACCESS_TOKEN": token}, timeout=10)
    assert missing.status_code == 400
    bearer = requests.get(f"{base}/v3/orders", headers={**wm_headers(), "Authorization": f"Bearer {token}"},
                          timeout=10)
    assert bearer.status_code == 401  # Walmart wants WM_SEC.ACCESS_TOKEN, not a Bearer header


def config_for(box, account: str = "walmart-us"):
    entry = walmart.sandbox_account(box.base_url("walmart"), account)
    return parse_config({"accounts": [entry]}, where="test"), entry


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> SyncedWorld:
    """walmart-us of the default world synced once for the module: three tests differ only in what follows."""
    return SyncedWorld.make(tmp_path_factory.mktemp("synced"), NOW, None,
                            lambda box: [config_for(box)[1]], lambda e: parse_config({"accounts": e}, where="test"))


@pytest.fixture
def after_sync(synced, tmp_path) -> Iterator[Resumed]:
    """The state a test that had just synced itself would see: its own store copy, sandbox and clock."""
    with synced.resume(tmp_path) as resumed:
        yield resumed


def test_sync_stores_what_the_world_holds_and_reruns_fetch_only_changes(after_sync):
    # the first sync (ok) is the `synced` fixture's
    box, clock, store, config = after_sync.box, after_sync.clock, after_sync.store, after_sync.config
    world = box.world.accounts["walmart-us"]
    expected = {r.external_id for r in truth(world) if isinstance(r, Order)
                if r.purchased_at >= clock.now() - timedelta(days=90)}
    with store.session() as s:
        stored = set(s.exec(select(OrderRow.external_id).where(OrderRow.account == "walmart-us")))
    assert expected <= stored  # WFS orders too: both ship-node types were asked for

    box.log.clear()
    clock.advance(minutes=20)
    touched = box.world.inject("walmart-us", "late_shipment", 3, clock.now())
    [again] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert again.ok and again.changed >= 3  # the three orders (and their shipments) changed
    order_calls = [p for mp, m, p in box.log if p.startswith("/v3/orders")]
    assert len(order_calls) == 2  # one short page per ship-node type, not the whole history
    assert len(touched) == 3


def test_token_expiry_mid_sync_is_renewed(after_sync):
    # the first sync (ok, one token: its requests are in box.log) is the `synced` fixture's
    box, clock, store, config = after_sync.box, after_sync.clock, after_sync.store, after_sync.config
    box.expire_tokens("walmart")  # the saved token is now dead: the connector gets a 401 and renews once
    clock.advance(minutes=30)
    [out] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert out.ok, out.error
    assert sum(1 for mp, m, p in box.log if p == "/v3/token") == 2


def test_sandbox_to_status_json(after_sync, tmp_path):
    # the sync (ok) is the `synced` fixture's
    clock, db = after_sync.clock, after_sync.db
    cfg = tmp_path / "sellerguard.toml"
    cfg.write_text(tomli_w.dumps({"accounts": after_sync.entries}))
    after_sync.store.close()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--json",
                                      "--as-of", clock.now().isoformat()])
    report = json.loads(result.output)
    [acc] = report["accounts"]
    levels = {m["id"]: m["level"] for m in acc["metrics"]}
    # the drifting profile: Walmart's own VTR is under 99%, cancellations are fine; OTD over delivered orders only
    # (Walmart: "delivered seller-fulfilled orders") is above the warning band: late ones still in transit wait
    assert levels["walmart.valid_tracking_rate"] == "critical"
    assert levels["walmart.on_time_delivery_rate"] == "ok"
    assert levels["walmart.cancellation_rate"] == "ok"
    assert acc["level"] == "critical" and result.exit_code == 2
    otd = next(m for m in acc["metrics"] if m["id"] == "walmart.on_time_delivery_rate")
    assert otd["reported_value"] == pytest.approx(otd["value"], abs=0.001)  # computed agrees with Walmart's figure


@pytest.fixture
def small_box(clock):
    """A tenth of the default world's orders (2 a day): for a test of what faults do to a sync, not of levels."""
    with Sandbox(World(clock.now(), scale=0.1), clock=clock) as sandbox:
        yield sandbox


def test_faults_from_the_sandbox_429_then_a_malformed_page(small_box, clock, store):
    box = small_box
    config, _ = config_for(box)
    box.inject("walmart", r"^/v3/orders$", status=429, retry_after="2", times=1)
    [out] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert out.ok, out.error
    assert 2 in clock.slept  # Retry-After honoured, then the page came
    clock.advance(hours=1)
    box.inject("walmart", r"^/v3/returns$", malformed=True, times=1)
    [bad] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert bad.error_kind == "payload" and "not valid JSON" in bad.error
    assert store.cursor("walmart-us", "returns") != clock.now().isoformat()  # not advanced past the bad page
