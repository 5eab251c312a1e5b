"""Shopify connector: given GraphQL pages shaped like the Admin schema, it syncs records and reports clear errors."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from graphql_check import check_query, check_response, load_schema

from sellerguard.config import parse_config
from sellerguard.connectors import shopify
from sellerguard.connectors.contract import SyncContext
from sellerguard.connectors.shopify_normalize import (
    DISPUTES_QUERY,
    ORDERS_QUERY,
    ORDERS_QUERY_NO_CUSTOMER,
    SCOPES_QUERY,
    add_business_days,
    normalize_dispute,
    normalize_order,
)
from sellerguard.errors import ConnectorError
from sellerguard.schema import Cancellation, Claim, Order, Return, Shipment
from sellerguard.sync import sync_account

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "shopify"
SHOP = "https://my-store.myshopify.com"
GRAPHQL = f"{SHOP}/admin/api/2025-01/graphql.json"
TOKEN = f"{SHOP}/admin/oauth/access_token"
QUERIES = {"orders": ORDERS_QUERY, "orders_no_customer": ORDERS_QUERY_NO_CUSTOMER, "disputes": DISPUTES_QUERY,
           "scopes": SCOPES_QUERY}


def fixture(name: str) -> dict:
    return json.loads((FIX / f"{name}.json").read_text())


def account(credentials: dict | None = None, **options) -> dict:
    return {"id": "store1", "marketplace": "shopify",
            "credentials": credentials or {"access_token": "shpat_secret_value"},
            "options": {"shop": "my-store", "page_size": 3, **options}}  # the fixtures' pages hold 3


def context(clock, credentials: dict | None = None, **options) -> SyncContext:
    acc = parse_config({"accounts": [account(credentials, **options)]}, where="t").accounts[0]
    state: dict[str, str] = {}

    class State:
        def get(self, key):
            return state.get(key)

        def put(self, key, value):
            state[key] = value

    return SyncContext(account=acc, state=State(), clock=clock, sleep=clock.sleep,
                       options=shopify.Options(shop="my-store", **{"page_size": 3, **options}))


def body_of(call) -> dict:
    return json.loads(call.request.body)


def orders_nodes(*pages: str) -> list[dict]:
    return [n for p in pages for n in fixture(p)["data"]["orders"]["nodes"]]


# -- the schema ---------------------------------------------------------------------------------------------


@pytest.fixture
def schema(specs):
    return load_schema(specs / "shopify" / "admin_schema_2025-01.json.gz")


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_queries_use_only_fields_of_the_pinned_schema(schema, name):
    check_query(schema, QUERIES[name])


@pytest.mark.parametrize(("name", "query"), [("orders__page1", "orders"), ("orders__page2", "orders"),
                                             ("disputes", "disputes"), ("scopes", "scopes")])
def test_fixtures_match_the_schema(schema, name, query):
    check_response(schema, QUERIES[query], fixture(name)["data"])


def test_the_checker_catches_wrong_fields_and_values(schema):
    with pytest.raises(AssertionError, match="no field 'createdAt' on Return"):
        check_query(schema, "query { order(id: \"1\") { returns(first: 1) { nodes { createdAt } } } }")
    bad = fixture("orders__page1")["data"]
    bad["orders"]["nodes"][0]["cancelReason"] = "BUYER"
    with pytest.raises(AssertionError, match=r"orders\.nodes\[0\]\.cancelReason: 'BUYER' is not one of"):
        check_response(schema, ORDERS_QUERY, bad)


# -- normalization ------------------------------------------------------------------------------------------


def test_orders_fulfilments_cancellations_and_returns():
    recs = [r for n in orders_nodes("orders__page1", "orders__page2") for r in normalize_order("shop", n)]
    orders = {o.external_id: o for o in recs if isinstance(o, Order)}
    assert {o.status for o in orders.values()} >= {"delivered", "shipped", "cancelled", "unshipped"}
    first = fixture("orders__page1")["data"]["orders"]["nodes"][0]
    o = orders[first["legacyResourceId"]]
    assert o.ship_by == datetime.fromisoformat(first["fulfillmentOrders"]["nodes"][0]["fulfillBy"])
    assert o.deliver_by is not None and str(o.total) == first["totalPriceSet"]["shopMoney"]["amount"]
    delivered = next(s for s in recs if isinstance(s, Shipment) and s.order_ref == o.external_id)
    f = first["fulfillments"][0]
    assert delivered.delivered_at == datetime.fromisoformat(f["deliveredAt"])
    assert delivered.shipped_at == datetime.fromisoformat(f["inTransitAt"])
    assert delivered.tracking_number == f["trackingInfo"][0]["number"] and delivered.tracking_validated
    cancels = {c.reason: c for c in recs if isinstance(c, Cancellation)}
    assert cancels["CUSTOMER"].buyer_requested and cancels["CUSTOMER"].initiated_by == "buyer"
    assert cancels["INVENTORY"].initiated_by == "seller" and not cancels["INVENTORY"].buyer_requested
    ret = next(r for r in recs if isinstance(r, Return))
    assert ret.resolved_at is not None and ret.refund_amount is not None and ret.currency == "USD"


def test_without_fulfill_by_the_sellers_handling_days_set_ship_by():
    node = fixture("orders__page2")["data"]["orders"]["nodes"][2]
    assert normalize_order("shop", node)[0].ship_by is None
    order = normalize_order("shop", node, handling_days=2)[0]
    assert order.ship_by == add_business_days(order.purchased_at, 2)
    friday = datetime(2026, 11, 20, 15, tzinfo=UTC)
    assert add_business_days(friday, 1) == datetime(2026, 11, 23, 15, tzinfo=UTC)  # over the weekend


def test_disputes_become_claims():
    lost, inquiry = (normalize_dispute("shop", n) for n in fixture("disputes")["data"]["disputes"]["nodes"])
    assert isinstance(lost, Claim) and lost.claim_kind == "chargeback" and lost.seller_at_fault is True
    assert lost.closed_at is not None and lost.order_ref
    assert inquiry.claim_kind == "case" and inquiry.seller_at_fault is None and inquiry.closed_at is None


def test_a_malformed_order_names_the_field():
    node = fixture("orders__page1")["data"]["orders"]["nodes"][0]
    node["fulfillments"][0]["deliveredAt"] = "soon"
    with pytest.raises(ConnectorError, match=r"shopify: orders: bad payload: order \d+: fulfillments.deliveredAt"):
        normalize_order("shop", node)


# -- fetching -----------------------------------------------------------------------------------------------


@responses.activate
def test_pages_to_the_end_and_skips_test_orders(clock):
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page1"))
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    ctx = context(clock)
    batches = list(shopify.fetch(ctx, "orders", None))
    orders = [r for b in batches for r in b.records if isinstance(r, Order)]
    assert len(orders) == 6  # the seventh is a test order
    assert batches[-1].cursor == clock.now().isoformat()
    # each page is stored with the newest updatedAt it holds: an interrupted backfill resumes there
    page1 = fixture("orders__page1")["data"]["orders"]["nodes"]
    assert batches[0].cursor == max(datetime.fromisoformat(n["updatedAt"]) for n in page1).isoformat()
    assert batches[0].cursor <= batches[1].cursor <= batches[-1].cursor
    first, second = (body_of(c) for c in responses.calls)  # calls: one query per page (shopify.md, Calls)
    assert first["variables"]["after"] is None and first["variables"]["first"] == 3
    assert second["variables"]["after"] == fixture("orders__page1")["data"]["orders"]["pageInfo"]["endCursor"]
    assert first["variables"]["query"] == "updated_at:>='2026-09-24T12:00:00Z'"  # 60 days back
    assert "sortKey: UPDATED_AT" in first["query"]
    for call in responses.calls:
        assert call.request.headers["X-Shopify-Access-Token"] == "shpat_secret_value"
        assert "Authorization" not in call.request.headers


@responses.activate
def test_throttled_is_http_200_and_waits_for_the_reported_bucket(clock):
    responses.add(responses.POST, GRAPHQL, json=fixture("throttled"))
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    ctx = context(clock)
    records = [r for b in shopify.fetch(ctx, "orders", None) for r in b.records]
    assert records
    # (requested 842 - available 242) / restore 100 = 6 s, before the retry
    assert clock.slept[0] == pytest.approx(6.0)


@responses.activate
def test_paces_ahead_when_the_next_query_would_not_fit(clock):
    low = fixture("orders__page1")
    low["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] = 442.0
    responses.add(responses.POST, GRAPHQL, json=low)
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    list(shopify.fetch(context(clock), "orders", None))
    assert clock.slept == [pytest.approx(4.0)]  # (842 - 442) / 100, no throttled round trip


@responses.activate
def test_throttled_every_time_is_a_wait_error_and_the_cursor_stays(clock, store):
    for _ in range(5):
        responses.add(responses.POST, GRAPHQL, json=fixture("throttled"))
    acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "wait" and "throttled by Shopify" in out.error and "gave up after 5" in out.error
    assert store.cursor("store1", "orders") is None


@responses.activate
def test_5xx_exhausted_is_a_clear_error(clock, store):
    for _ in range(5):
        responses.add(responses.POST, GRAPHQL, status=502, body="Bad gateway")
    acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error == ("store1: orders: shopify: POST https://my-store.myshopify.com/admin/api/2025-01/graphql.json:"
                         " the marketplace's gateway failed (HTTP 502); gave up after 5 attempts")
    assert store.cursor("store1", "orders") is None


@responses.activate
def test_a_malformed_second_page_keeps_the_first_and_not_the_cursor(clock, store):
    bad = fixture("orders__page2")
    del bad["data"]["orders"]["nodes"][0]["processedAt"]
    del bad["data"]["orders"]["nodes"][0]["createdAt"]
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page1"))
    responses.add(responses.POST, GRAPHQL, json=bad)
    acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "payload" and "createdAt: missing (the query selects it)" in out.error
    # the next run resumes after page 1 (its newest updatedAt, minus the overlap), not from the start
    page1 = fixture("orders__page1")["data"]["orders"]["nodes"]
    assert store.cursor("store1", "orders") == max(datetime.fromisoformat(n["updatedAt"]) for n in page1).isoformat()


@responses.activate
def test_access_denied_names_the_scopes(clock):
    responses.add(responses.POST, GRAPHQL, json=fixture("access_denied"))
    with pytest.raises(ConnectorError, match="read_shopify_payments_disputes") as err:
        list(shopify.fetch(context(clock), "disputes", None))
    assert err.value.kind == "config"


@responses.activate
def test_a_rerun_asks_only_for_orders_updated_since_the_cursor(clock, store):
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    first_end = clock.now()
    clock.advance(hours=1)
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    since = (first_end - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body_of(responses.calls[-1])["variables"]["query"] == f"updated_at:>='{since}'"
    # once a day the last 14 days are read again (a delivery may not move updatedAt): a day after the backfill
    clock.advance(hours=24)
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    rescan = body_of(responses.calls[-1])["variables"]["query"]
    assert rescan == f"created_at:>='{(clock.now() - timedelta(days=14)).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


@responses.activate
def test_client_credentials_token_is_cached_and_renewed_on_401(clock):
    responses.add(responses.POST, TOKEN, json=fixture("token"))
    responses.add(responses.POST, GRAPHQL, status=401, json={"errors": "[API] Invalid API key or access token"})
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    creds = {"client_id": "cid", "client_secret": "shpss_secret"}
    ctx = context(clock, credentials=creds)
    assert [r for b in shopify.fetch(ctx, "orders", None) for r in b.records]
    token_calls = [c for c in responses.calls if c.request.url == TOKEN]
    assert len(token_calls) == 2  # the first token was refused: fetched once more, then the query retried
    assert "client_credentials" in token_calls[0].request.body
    list(shopify.fetch(ctx, "orders", None))  # next run: the saved 24 h token, no token call
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 2


@responses.activate
def test_a_long_backfill_checks_for_read_all_orders(clock, caplog):
    responses.add(responses.POST, GRAPHQL, json=fixture("scopes"))
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    with caplog.at_level("WARNING"):
        list(shopify.fetch(context(clock, backfill_days=365), "orders", None))
    assert "lacks read_all_orders" in caplog.text and "60 days" in caplog.text


@responses.activate
def test_disputes_stream(clock):
    responses.add(responses.POST, GRAPHQL, json=fixture("disputes"))
    [batch, end] = list(shopify.fetch(context(clock), "disputes", None))
    assert [c.claim_kind for c in batch.records] == ["chargeback", "case"]
    assert body_of(responses.calls[0])["variables"]["query"] == "initiated_at:>=2026-07-26"
    assert end.cursor == clock.now().isoformat()


def test_a_missing_shop_is_a_config_error(clock, store):
    acc = parse_config({"accounts": [{"id": "store1", "marketplace": "shopify",
                                      "credentials": {"access_token": "x"}}]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "config" and "accounts[store1].options.shop" in out.error


def test_secrets_never_reach_an_error(clock, store):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, GRAPHQL, status=401, json={"errors": "[API] Invalid API key"})
        acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
        out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "config" and "shpat_secret_value" not in out.error


def test_the_pack_holds_no_target_until_an_account_sets_one():
    """Shopify is not a marketplace: every metric is shown without a threshold (informational) until the account
    sets its own number; enabling one without a threshold is a config error (rules-A's pack contract)."""
    from sellerguard.config import PolicyOverride
    from sellerguard.errors import ConfigError
    from sellerguard.rules.engine import apply_override
    from sellerguard.rules.packs import load_packs

    pack = load_packs()["shopify"]
    assert pack.metrics and all(m.threshold is None for m in pack.metrics)
    metric = pack.metric("shopify.ship_on_time")
    assert metric is not None
    with pytest.raises(ConfigError, match="needs threshold"):
        apply_override(metric, PolicyOverride(enabled=True), "t")
    on = apply_override(metric, PolicyOverride(enabled=True, threshold=0.02), "t")
    assert on is not None and on.threshold == 0.02 and not on.confirmed


def test_order_facts_for_the_rules():
    node = fixture("orders__page1")["data"]["orders"]["nodes"][0]
    seen = []
    order, shipment = normalize_order("shop", node, buyer_key=lambda raw: seen.append(raw) or "cd" * 32,
                                      timezone="America/New_York")[:2]
    assert seen == [node["customer"]["id"]] and order.buyer_key == "cd" * 32  # the key, never the customer id
    assert order.buyer_country == "CA" and order.seller_timezone == "America/New_York"
    assert order.paid_at == datetime.fromisoformat(node["transactions"][0]["processedAt"])
    # items before discounts: subtotal (after discounts) + the discounts
    assert order.items_subtotal == Decimal(node["subtotalPriceSet"]["shopMoney"]["amount"]) + Decimal("5.0")
    assert [(line.line_id, line.quantity) for line in order.lines] == [("900000", node["subtotalLineItemsQuantity"])]
    f = node["fulfillments"][0]
    assert shipment.tracking_uploaded_at == datetime.fromisoformat(f["createdAt"])
    assert shipment.first_scan_at == datetime.fromisoformat(f["inTransitAt"])
    recs = [r for n in orders_nodes("orders__page1", "orders__page2") for r in normalize_order("shop", n)]
    ret = next(r for r in recs if isinstance(r, Return))
    assert ret.reason == "NOT_AS_DESCRIBED" and ret.reason_category == "not_as_described"
    node["lineItems"]["pageInfo"]["hasNextPage"] = True  # more lines than read: none rather than some
    assert normalize_order("shop", node)[0].lines == ()


@pytest.mark.parametrize(("path", "value", "field"), [
    (("fulfillments",), [None], "fulfillments[0]"),
    (("returns", "nodes"), [None], "returns.nodes[0]"),
    (("lineItems", "nodes"), [{"id": "gid://shopify/LineItem/1", "quantity": -3}], "lineItems.nodes[0].quantity"),
    (("shippingAddress",), {"countryCodeV2": "usa"}, "shippingAddress.countryCodeV2"),
    (("totalPriceSet",), {"shopMoney": {"amount": "NaN", "currencyCode": "USD"}}, "totalPriceSet"),
])
def test_bad_payloads_are_one_clear_line(path, value, field):
    node = fixture("orders__page1")["data"]["orders"]["nodes"][0]
    target = node
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConnectorError, match=re.escape(field)) as err:
        normalize_order("shop", node)
    assert err.value.kind == "payload"


INTERNAL = {"errors": [{"message": "Internal error. Looks like something went wrong on our end.",
                        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "b3a1c0de-0000-4000-8000-1234"}}]}


@responses.activate
def test_internal_server_error_inside_200_is_retried_like_a_5xx(clock):
    responses.add(responses.POST, GRAPHQL, json=INTERNAL)
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    records = [r for b in shopify.fetch(context(clock), "orders", None) for r in b.records]
    assert records and len(responses.calls) == 2


@responses.activate
def test_internal_server_error_every_time_is_a_wait_error_naming_the_request_id(clock, store, caplog):
    for _ in range(5):
        responses.add(responses.POST, GRAPHQL, json=INTERNAL)
    acc = parse_config({"accounts": [account()]}, where="t").accounts[0]
    with caplog.at_level("INFO"):
        out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "wait" and "internal error" in out.error and "gave up after 5" in out.error
    assert "b3a1c0de-0000-4000-8000-1234" in out.error and "b3a1c0de-0000-4000-8000-1234" in caplog.text
    assert store.cursor("store1", "orders") is None


@responses.activate
def test_without_customer_facts_the_query_leaves_the_customer_out(clock):
    responses.add(responses.POST, GRAPHQL, json=fixture("orders__page2"))
    records = [r for b in shopify.fetch(context(clock, customer_facts=False), "orders", None) for r in b.records]
    assert records
    assert "customer" not in body_of(responses.calls[0])["query"]


@responses.activate
def test_refused_client_credentials_name_the_account(clock, store):
    responses.add(responses.POST, TOKEN, status=400, json={"error": "invalid_client"})
    acc = parse_config({"accounts": [account({"client_id": "cid", "client_secret": "shpss_secret"})]},
                       where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "config" and "account store1" in out.error and "shpss_secret" not in out.error
