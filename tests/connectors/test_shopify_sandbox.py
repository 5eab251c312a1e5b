"""Shopify end to end: the sandbox answers in the Admin schema's shapes, and sandbox -> sync -> status works."""

from __future__ import annotations

import json

import pytest
import requests
import tomli_w
from click.testing import CliRunner
from graphql_check import check_response, load_schema

from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.connectors import shopify
from sellerguard.connectors.shopify_normalize import DISPUTES_QUERY, ORDERS_QUERY, SCOPES_QUERY
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.rules.packs import load_packs
from sellerguard.sandbox import Sandbox, World
from sellerguard.sync import sync_accounts

pytestmark = pytest.mark.slow


@pytest.fixture
def box(clock):
    with Sandbox(clock=clock) as sandbox:
        yield sandbox


def ask(box, query: str, variables: dict, token: str = "shpat_sandbox_shopify-store") -> dict:
    r = requests.post(f"{box.base_url('shopify')}/admin/api/2025-01/graphql.json", timeout=10,
                      json={"query": query, "variables": variables}, headers={"X-Shopify-Access-Token": token})
    assert r.status_code == 200
    return r.json()


def test_sandbox_answers_match_the_schema(box, specs):
    schema = load_schema(specs / "shopify" / "admin_schema_2025-01.json.gz")
    page = ask(box, ORDERS_QUERY, {"first": 10, "after": None, "query": "updated_at:>='2026-09-01T00:00:00Z'"})
    check_response(schema, ORDERS_QUERY, page["data"])
    assert page["data"]["orders"]["pageInfo"]["hasNextPage"]
    cost = page["extensions"]["cost"]
    assert cost["requestedQueryCost"] <= 1000 and cost["throttleStatus"]["restoreRate"] > 0
    check_response(schema, DISPUTES_QUERY, ask(box, DISPUTES_QUERY, {"first": 50})["data"])
    check_response(schema, SCOPES_QUERY, ask(box, SCOPES_QUERY, {})["data"])


def test_sandbox_throttles_with_http_200(box):
    answers = [ask(box, ORDERS_QUERY, {"first": 10}) for _ in range(40)]  # faster than the bucket refills
    throttled = [a for a in answers if "errors" in a]
    assert throttled and throttled[0]["errors"][0]["extensions"]["code"] == "THROTTLED" and "data" not in throttled[0]
    big = ask(box, ORDERS_QUERY, {"first": 250})
    assert big["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    bad = requests.post(f"{box.base_url('shopify')}/admin/api/2025-01/graphql.json", json={"query": "{ shop }"},
                        headers={"X-Shopify-Access-Token": "wrong"}, timeout=10)
    assert bad.status_code == 401


def test_sync_paces_by_the_bucket_and_reruns_only_changes(box, clock, store):
    entry = shopify.sandbox_account(box.base_url("shopify"), "shopify-store")
    config = parse_config({"accounts": [entry]}, where="t")
    [out] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert out.ok, out.error
    assert out.records > len(box.world.accounts["shopify-store"].orders)  # orders plus their shipments etc.
    assert clock.slept and sum(clock.slept) > 0  # waited for the reported bucket instead of failing
    throttled_waits = len(clock.slept)
    box.log.clear()
    clock.advance(minutes=30)
    box.world.inject("shopify-store", "late_shipment", 2, clock.now())
    [again] = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert again.ok and again.changed >= 2
    assert len([p for _, _, p in box.log if p.endswith("graphql.json")]) == 2  # one orders page, one disputes page
    assert throttled_waits


@pytest.fixture
def small_box(clock):
    """A tenth of the default world's orders (1 a day): for a test of how the sync authenticates, not of data."""
    with Sandbox(World(clock.now(), scale=0.1), clock=clock) as sandbox:
        yield sandbox


def test_client_credentials_against_the_sandbox(small_box, clock, store):
    box = small_box
    entry = {**shopify.sandbox_account(box.base_url("shopify"), "shopify-store"),
             "credentials": {"client_id": "sandbox-shopify-store", "client_secret": "sandbox-secret"}}
    [out] = sync_accounts(parse_config({"accounts": [entry]}, where="t"), store, clock=clock, sleep=clock.sleep)
    assert out.ok, out.error
    assert sum(1 for _, _, p in box.log if p == "/admin/oauth/access_token") == 1


def test_targets_are_off_until_turned_on_then_status_json_shows_them(box, clock, store, tmp_path):
    entry = shopify.sandbox_account(box.base_url("shopify"), "shopify-store")
    bare = {k: v for k, v in entry.items() if k != "policy"}
    [out] = sync_accounts(parse_config({"accounts": [bare]}, where="t"), store, clock=clock, sleep=clock.sleep)
    assert out.ok
    report = Engine(store, load_packs()).evaluate(accounts_to_check(parse_config({"accounts": [bare]}, where="t"),
                                                                    store), clock.now())
    # the pack holds no target of its own: without the account's thresholds nothing warns
    assert not any(m.level in ("warn", "critical") for m in report.accounts[0].metrics)

    # the targets are evaluation settings: the records synced above are what a sync with them fetches (it was
    # a second full sync into a second database)
    cfg = tmp_path / "sellerguard.toml"
    cfg.write_text(tomli_w.dumps({"accounts": [entry]}))
    db = store.url
    store.close()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--json",
                                      "--as-of", clock.now().isoformat()])
    [acc] = json.loads(result.output)["accounts"]
    levels = {m["id"]: m["level"] for m in acc["metrics"]}
    # the healthy profile: the two targets the sandbox account sets are met; the others have no target (shown,
    # never warned); messages are not in the Admin API, so the response target has no data
    assert levels["shopify.ship_on_time"] == "ok" and levels["shopify.cancellation_rate"] == "ok"
    assert not any(level in ("warn", "critical") for level in levels.values())
    assert result.exit_code == 0
