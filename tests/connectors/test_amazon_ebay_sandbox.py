"""Amazon and eBay end to end: the sandbox speaks their specs, and sandbox -> sync -> status gives the levels."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import requests
import tomli_w
from click.testing import CliRunner
from spec_check import load_spec, response_schema, validate
from sqlmodel import func, select
from synced import Resumed, SyncedWorld

from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.connectors import amazon, ebay
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
from sellerguard.store.tables import OrderRow
from sellerguard.sync import sync_accounts

pytestmark = pytest.mark.slow
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the `clock` fixture's moment


@pytest.fixture
def box(clock):
    with Sandbox(clock=clock) as sandbox:
        yield sandbox


def entries(box) -> list[dict]:
    return [amazon.sandbox_account(box.base_url("amazon"), "amazon-us"),
            amazon.sandbox_account(box.base_url("amazon"), "amazon-de"),
            ebay.sandbox_account(box.base_url("ebay"), "ebay-us")]


# the default world with ebay-us at 10 orders a day (25): its per-order shipping_fulfillment calls were two thirds
# of the sync's requests, and what these tests check of eBay (TDR equals eBay's own figure, the account ok or warn,
# the re-run's single page) holds at 10 (checked: TDR 0.22% = reported, level ok; at 25 it is warn)
SYNCED_ROWS = [(*r[:5], 10 if r[0] == "ebay-us" else r[5], r[6]) for r in DEFAULT_ACCOUNTS]


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> SyncedWorld:
    """The three accounts synced once for the module (~3 s CPU): the tests below differ only in what follows the
    first sync."""
    return SyncedWorld.make(tmp_path_factory.mktemp("synced"), NOW, SYNCED_ROWS, entries,
                            lambda e: parse_config({"accounts": e}, where="t"))


@pytest.fixture
def after_sync(synced, tmp_path) -> Iterator[Resumed]:
    """The state a test that had just synced itself would see: its own store copy, sandbox and clock."""
    with synced.resume(tmp_path) as resumed:
        yield resumed


def amazon_token(box, account="amazon-us") -> str:
    r = requests.post(f"{box.base_url('amazon')}/auth/o2/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": f"Atzr|sbx-{account}",
        "client_id": "amzn1.application-oa2-client.sandbox", "client_secret": "sbx-secret"})
    assert r.status_code == 200
    return r.json()["access_token"]


def ebay_token(box) -> str:
    basic = base64.b64encode(b"SandboxApp-sellergu-SBX-0000:SBX-secret").decode()
    r = requests.post(f"{box.base_url('ebay')}/identity/v1/oauth2/token", timeout=10,
                      headers={"Authorization": f"Basic {basic}"},
                      data={"grant_type": "refresh_token", "refresh_token": "v^1.1#sbx-ebay-us",
                            "scope": "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly"})
    assert r.status_code == 200
    return r.json()["access_token"]


def test_amazon_sandbox_payloads_match_the_specs(box, clock, specs):
    base, headers = box.base_url("amazon"), {"x-amz-access-token": amazon_token(box)}
    orders = load_spec(specs / "amazon" / "orders_2026-01-01.json")
    params = {"marketplaceIds": "ATVPDKIKX0DER", "lastUpdatedAfter": "2026-11-01T00:00:00Z",
              "includedData": "FULFILLMENT,PACKAGES,CANCELLATION", "maxResultsPerPage": "100"}
    page = requests.get(f"{base}/orders/2026-01-01/orders", params=params, headers=headers, timeout=10).json()
    validate(orders, response_schema(orders, "/orders/2026-01-01/orders", "get"), page)
    assert page["pagination"]["nextToken"] and any(o.get("packages") for o in page["orders"])
    sellers = load_spec(specs / "amazon" / "sellers.json")
    validate(sellers, response_schema(sellers, "/sellers/v1/marketplaceParticipations", "get"),
             requests.get(f"{base}/sellers/v1/marketplaceParticipations", headers=headers, timeout=10).json())
    reports = load_spec(specs / "amazon" / "reports_2021-06-30.json")
    created = requests.post(f"{base}/reports/2021-06-30/reports", headers=headers, timeout=10, json={
        "reportType": "GET_V2_SELLER_PERFORMANCE_REPORT", "marketplaceIds": ["ATVPDKIKX0DER"]})
    validate(reports, response_schema(reports, "/reports/2021-06-30/reports", "post", "202"), created.json())
    report = requests.get(f"{base}/reports/2021-06-30/reports/{created.json()['reportId']}", headers=headers,
                          timeout=10).json()
    validate(reports, response_schema(reports, "/reports/2021-06-30/reports/{reportId}", "get"), report)
    doc = requests.get(f"{base}/reports/2021-06-30/documents/{report['reportDocumentId']}", headers=headers,
                       timeout=10).json()
    validate(reports, response_schema(reports, "/reports/2021-06-30/documents/{reportDocumentId}", "get"), doc)
    body = json.loads(gzip.decompress(requests.get(doc["url"], timeout=10).content))
    ahr = json.loads((specs / "amazon" / "accountHealthReport-2020-11-18.json").read_text())
    jsonschema.Draft7Validator(ahr).validate(body)
    clock.advance(301)  # the presigned URL lasts 5 minutes
    assert requests.get(doc["url"], timeout=10).status_code == 403
    too_close = {**params, "lastUpdatedBefore": (clock.now() - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert requests.get(f"{base}/orders/2026-01-01/orders", params=too_close, headers=headers,
                        timeout=10).status_code == 400


def test_ebay_sandbox_payloads_match_the_specs(box, specs):
    base, headers = box.base_url("ebay"), {"Authorization": f"Bearer {ebay_token(box)}"}
    ful = load_spec(specs / "ebay" / "sell_fulfillment_v1_oas3.json")
    page = requests.get(f"{base}/sell/fulfillment/v1/order", headers=headers, timeout=10,
                        params={"filter": "lastmodifieddate:[2026-11-01T00:00:00.000Z..]", "limit": "200"}).json()
    validate(ful, response_schema(ful, "/order", "get"), page)
    cancelled = next(o for o in page["orders"] if o["cancelStatus"]["cancelState"] == "CANCELED")
    assert cancelled["cancelStatus"]["cancelRequests"] == []  # like eBay: only getOrder fills them
    one = requests.get(f"{base}/sell/fulfillment/v1/order/{cancelled['orderId']}", headers=headers, timeout=10).json()
    validate(ful, response_schema(ful, "/order/{orderId}", "get"), one)
    assert one["cancelStatus"]["cancelRequests"][0]["cancelInitiator"] in ("Buyer", "Seller")
    shipped = next(o for o in page["orders"] if o["orderFulfillmentStatus"] == "FULFILLED")
    validate(ful, response_schema(ful, "/order/{orderId}/shipping_fulfillment", "get"), requests.get(
        f"{base}/sell/fulfillment/v1/order/{shipped['orderId']}/shipping_fulfillment", headers=headers,
        timeout=10).json())
    ana = load_spec(specs / "ebay" / "sell_analytics_v1_oas3.json")
    profile = requests.get(f"{base}/sell/analytics/v1/seller_standards_profile", headers=headers, timeout=10).json()
    for p in profile["standardsProfiles"]:
        assert all(isinstance(m["value"], dict | int) for m in p["metrics"])  # eBay's documented shape (NOTES.md)
        p["metrics"] = []
    validate(ana, response_schema(ana, "/seller_standards_profile", "get"), profile)
    validate(ana, response_schema(ana, "/customer_service_metric/{customer_service_metric_type}/{evaluation_type}",
                                  "get"),
             requests.get(f"{base}/sell/analytics/v1/customer_service_metric/ITEM_NOT_RECEIVED/CURRENT",
                          params={"evaluation_marketplace_id": "EBAY_US"}, headers=headers, timeout=10).json())
    msg = load_spec(specs / "ebay" / "commerce_message_v1_oas3.json")
    convs = requests.get(f"{base}/commerce/message/v1/conversation", headers=headers, timeout=10,
                         params={"conversation_type": "FROM_MEMBERS", "limit": "50"}).json()
    validate(msg, response_schema(msg, "/conversation", "get"), convs)
    validate(msg, response_schema(msg, "/conversation/{conversation_id}", "get"), requests.get(
        f"{base}/commerce/message/v1/conversation/{convs['conversations'][0]['conversationId']}", headers=headers,
        params={"conversation_type": "FROM_MEMBERS"}, timeout=10).json())
    fb = load_spec(specs / "ebay" / "commerce_feedback_v1_beta_oas3.json")
    validate(fb, response_schema(fb, "/feedback", "get"), requests.get(
        f"{base}/commerce/feedback/v1/feedback", headers=headers, timeout=10,
        params={"user_id": "sbx_ebay_us", "feedback_type": "FEEDBACK_RECEIVED", "limit": "25"}).json())
    idn = load_spec(specs / "ebay" / "commerce_identity_v1_oas3.json")
    validate(idn, response_schema(idn, "/user/", "get"),
             requests.get(f"{base}/commerce/identity/v1/user/", headers=headers, timeout=10).json())
    # Post-Order wants IAF, not Bearer
    assert requests.get(f"{base}/post-order/v2/return/search", headers=headers, timeout=10).status_code == 401


def test_sandbox_to_status_json_and_amazon_fulfilled_orders_stay_out(after_sync, tmp_path):
    # the sync itself (every account ok) is asserted by the `synced` fixture
    clock, store, db = after_sync.clock, after_sync.store, after_sync.db
    cfg = tmp_path / "sellerguard.toml"
    cfg.write_text(tomli_w.dumps({"accounts": after_sync.entries}))
    with store.session() as s:
        afn = s.exec(select(func.count()).select_from(OrderRow).where(
            OrderRow.account == "amazon-us", OrderRow.fulfilment == "marketplace")).one()
        mfn_window = s.exec(select(func.count()).select_from(OrderRow).where(
            OrderRow.account == "amazon-us", OrderRow.fulfilment == "seller", OrderRow.status != "cancelled",
            OrderRow.ship_by >= clock.now() - timedelta(days=30), OrderRow.ship_by < clock.now())).one()
    store.close()
    assert afn > 500
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--json",
                                      "--as-of", clock.now().isoformat()])
    report = json.loads(result.output)
    accounts = {a["account"]: a for a in report["accounts"]}
    levels = {(a, m["id"]): m for a, acc in accounts.items() for m in acc["metrics"]}
    # drifting amazon-us: recent seller cancellations over 2.5%, on-time delivery heading for the line
    assert levels[("amazon-us", "amazon.pre_fulfillment_cancel_rate")]["level"] == "critical"
    assert levels[("amazon-us", "amazon.on_time_delivery_rate")]["level"] == "warn"
    assert accounts["amazon-us"]["level"] == "critical"
    # healthy amazon-de: every metric the API feeds is ok; the two it cannot feed (SP-API reads no buyer messages,
    # no returns report is synced) are unknown, and "no data is never OK" makes the account unknown, not ok
    de = {m["id"]: m["level"] for m in accounts["amazon-de"]["metrics"]}
    no_api_data = {"amazon.contact_response_time", "amazon.return_dissatisfaction_rate"}
    assert {k: v for k, v in de.items() if v != "ok"}.keys() <= no_api_data, de
    assert all(de[k] == "unknown" for k in no_api_data & de.keys())
    assert accounts["amazon-de"]["level"] in ("ok", "unknown") and accounts["ebay-us"]["level"] in ("ok", "warn")
    # Amazon-fulfilled orders are kept out of the seller-fulfilled late shipment rate
    late = levels[("amazon-us", "amazon.late_shipment_rate_30d")]
    assert late["denominator"] <= mfn_window
    assert late["reported_value"] == pytest.approx(late["value"], abs=0.002)  # Amazon's own figure agrees
    odr = levels[("amazon-us", "amazon.odr")]
    assert odr["reported_value"] is not None
    tdr = levels[("ebay-us", "ebay.transaction_defect_rate")]
    assert tdr["reported_value"] == pytest.approx(tdr["value"], abs=0.001)
    assert result.exit_code == 2


def test_rerun_fetches_only_what_changed(after_sync):
    box, clock, store, config = after_sync.box, after_sync.clock, after_sync.store, after_sync.config
    box.log.clear()
    clock.advance(minutes=30)
    box.world.inject("amazon-us", "seller_cancel", 2, clock.now() - timedelta(minutes=10))
    outcomes = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert all(o.ok for o in outcomes)
    amazon_calls = [p for mp, m, p in box.log if mp == "amazon"]
    assert amazon_calls.count("/orders/2026-01-01/orders") == 2  # one short page per account
    assert "/reports/2021-06-30/reports" not in amazon_calls  # reports are daily
    assert store.count("cancellation", account="amazon-us") >= 2
    ebay_calls = [p for mp, m, p in box.log if mp == "ebay"]
    assert ebay_calls.count("/sell/fulfillment/v1/order") == 1  # one page from the cursor (minus 15 min)
    assert sum(p.endswith("/shipping_fulfillment") for p in ebay_calls) < 20
    assert "/sell/analytics/v1/seller_standards_profile" not in ebay_calls  # once a day


def test_expired_tokens_are_renewed(after_sync):
    box, clock, store, config = after_sync.box, after_sync.clock, after_sync.store, after_sync.config
    box.expire_tokens("amazon")
    box.expire_tokens("ebay")
    clock.advance(minutes=30)
    outcomes = sync_accounts(config, store, clock=clock, sleep=clock.sleep)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]


@pytest.fixture
def small_box(clock):
    """A tenth of the default world's orders (4 a day for amazon-us, still several pages): for the tests that
    check what a fault does to a sync, not the levels the data gives."""
    with Sandbox(World(clock.now(), scale=0.1), clock=clock) as sandbox:
        yield sandbox


def test_injected_faults_429_and_malformed(small_box, clock, store):
    box = small_box
    config = parse_config({"accounts": entries(box)}, where="t")
    box.inject("amazon", r"^/orders/", status=429, body={"errors": [{"code": "QuotaExceeded", "message": "quota"}]})
    box.inject("ebay", r"^/sell/fulfillment/v1/order$", malformed=True)
    outcomes = {o.account: o for o in sync_accounts(config, store, clock=clock, sleep=clock.sleep)}
    assert outcomes["amazon-us"].ok and any(s > 100 for s in clock.slept)  # waited a refill period, then went on
    bad = outcomes["ebay-us"]
    assert not bad.ok and bad.error_kind == "payload" and "not valid JSON" in bad.error
    assert store.cursor("ebay-us", "orders") is None
