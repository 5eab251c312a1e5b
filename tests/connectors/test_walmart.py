"""Walmart connector: given spec-shaped pages (responses), when it syncs, then records, cursors and errors are right."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from spec_check import load_spec, response_schema, validate

from sellerguard.config import parse_config
from sellerguard.connectors import walmart
from sellerguard.connectors.contract import SyncContext
from sellerguard.connectors.walmart_normalize import cancel_party, normalize_order, normalize_return
from sellerguard.errors import ConnectorError
from sellerguard.schema import Cancellation, Order, ReportedMetric, Return, Shipment
from sellerguard.sync import sync_account

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "walmart"
BASE = "https://marketplace.walmartapis.com"
ORDERS = f"{BASE}/v3/orders"
TOKEN = f"{BASE}/v3/token"
RETURNS = f"{BASE}/v3/returns"


def fixture(name: str) -> dict:
    return json.loads((FIX / f"{name}.json").read_text())


def account(**options) -> dict:
    return {"id": "wm", "marketplace": "walmart", "region": "US",
            "credentials": {"client_id": "cid", "client_secret": "csecret"}, "options": options}


def config(**options):
    return parse_config({"accounts": [account(**options)]}, where="test")


class DictState(dict):
    def get(self, key, default=None):  # type: ignore[override]
        return super().get(key, default)

    def put(self, key, value):
        self[key] = value


def context(clock, **options) -> SyncContext:
    acc = config(**options).accounts[0]
    return SyncContext(account=acc, state=DictState(), clock=clock, sleep=clock.sleep,
                       options=walmart.Options(**options))


def add_token(rsps, expires_in=900):
    rsps.add(responses.POST, TOKEN, json={**fixture("token"), "expires_in": expires_in})


def add_orders(rsps):
    """SellerFulfilled: two pages; WFSFulfilled: one page."""
    page1, page2 = fixture("orders__page1"), fixture("orders__page2")
    cursor = page1["list"]["meta"]["nextCursor"]
    rsps.add(responses.GET, ORDERS + cursor, json=page2, match=[responses.matchers.query_string_matcher(cursor[1:])])
    rsps.add(responses.GET, ORDERS, json=page1,
             match=[responses.matchers.query_param_matcher({"shipNodeType": "SellerFulfilled"}, strict_match=False)])
    rsps.add(responses.GET, ORDERS, json=fixture("orders__wfs"),
             match=[responses.matchers.query_param_matcher({"shipNodeType": "WFSFulfilled"}, strict_match=False)])


def query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# -- fixtures against the official specs ---------------------------------------------------------------


def test_fixtures_match_the_specs(specs):
    folder = specs / "walmart"
    orders = load_spec(folder / "walmart-marketplace-orders-openapi-original.yml")
    for name in ("orders__page1", "orders__page2", "orders__wfs"):
        validate(orders, response_schema(orders, "/v3/orders", "get"), fixture(name))
    error_item = response_schema(orders, "/v3/orders", "get")["properties"]["list"]["properties"]["errors"]["items"]
    validate(orders, error_item, fixture("orders__empty_404")["errors"][0])
    returns = load_spec(folder / "walmart-marketplace-returns-openapi-original.yml")
    validate(returns, response_schema(returns, "/v3/returns", "get"), fixture("returns"))
    auth = load_spec(folder / "walmart-marketplace-authentication-openapi-original.yml")
    validate(auth, response_schema(auth, "/v3/token", "post"), fixture("token"))


def test_the_spec_check_would_catch_a_bad_order(specs):
    orders = load_spec(specs / "walmart" / "walmart-marketplace-orders-openapi-original.yml")
    bad = fixture("orders__wfs")
    bad["list"]["elements"]["order"][0]["orderDate"] = "2026-11-01T00:00:00Z"  # must be epoch ms
    with pytest.raises(AssertionError, match="orderDate"):
        validate(orders, response_schema(orders, "/v3/orders", "get"), bad)


# -- normalization ------------------------------------------------------------------------------------------


def test_orders_normalize_epoch_ms_shipments_cancellations_and_refunds():
    recs = []
    for page in ("orders__page1", "orders__page2"):
        for raw in fixture(page)["list"]["elements"]["order"]:
            recs += normalize_order("wm", raw, "SellerFulfilled")
    orders = {r.external_id: r for r in recs if isinstance(r, Order)}
    assert len(orders) == 6
    first = fixture("orders__page1")["list"]["elements"]["order"][0]
    o = orders[first["purchaseOrderId"]]
    assert o.purchased_at == datetime.fromtimestamp(first["orderDate"] / 1000, UTC)
    assert o.ship_by == datetime.fromtimestamp(first["shippingInfo"]["estimatedShipDate"] / 1000, UTC)
    assert o.status == "shipped" and o.fulfilment == "seller"
    ships = [r for r in recs if isinstance(r, Shipment)]
    delivered = next(s for s in ships if s.delivered_at is not None)
    assert delivered.carrier == "PostNL"  # otherCarrier
    shipped = next(s for s in ships if s.order_ref == o.external_id)
    assert shipped.confirmed_at is not None and shipped.delivered_at is None and shipped.tracking_number
    cancels = {c.reason: c for c in recs if isinstance(c, Cancellation)}
    assert cancels["SELLER_CANCEL_OUT_OF_STOCK"].initiated_by == "seller"
    buyer = cancels["CUSTOMER_REQUESTED_SELLER_TO_CANCEL"]
    assert buyer.initiated_by == "buyer" and buyer.buyer_requested
    refund = next(r for r in recs if isinstance(r, Return))
    assert refund.external_id.endswith("refund-RF-1001") and str(refund.refund_amount) == "12.5"
    assert {o.status for o in orders.values()} >= {"shipped", "delivered", "cancelled", "unshipped"}



@pytest.mark.parametrize("status", ["2026-13-45T99:99:99Z", "x", "Shipped ", "SHIPPED"])
def test_a_line_status_outside_the_spec_keeps_its_shipment_and_makes_the_order_unknown(status):
    # fuzz (issue 18): a garbled orderLineStatus.status stored the order but dropped its shipment, silently
    raw = next(r for r in fixture("orders__page1")["list"]["elements"]["order"]
               if any(st["status"] == "Shipped" and st.get("trackingInfo")
                      for line in r["orderLines"]["orderLine"] for st in line["orderLineStatuses"]["orderLineStatus"]))
    clean = {r.external_id for r in normalize_order("wm", raw, "SellerFulfilled") if isinstance(r, Shipment)}
    for line in raw["orderLines"]["orderLine"]:
        for st in line["orderLineStatuses"]["orderLineStatus"]:
            st["status"] = status
    recs = normalize_order("wm", raw, "SellerFulfilled")
    assert next(r for r in recs if isinstance(r, Order)).status == "unknown"
    ships = [r for r in recs if isinstance(r, Shipment)]
    assert {s.external_id for s in ships} == clean and clean
    assert all(s.confirmed_at is None and s.delivered_at is None for s in ships)  # not guessed

def test_no_buyer_pii_is_kept():
    recs = []
    for raw in fixture("orders__page1")["list"]["elements"]["order"]:
        recs += normalize_order("wm", raw, "SellerFulfilled")
    for raw in fixture("returns")["returnOrders"]:
        recs += normalize_return("wm", raw)
    text = json.dumps([r.model_dump(mode="json") for r in recs])
    assert "Sandbox" not in text and "relay.walmart.com" not in text and "Bentonville" not in text


def test_wfs_orders_are_marketplace_fulfilled():
    raw = fixture("orders__wfs")["list"]["elements"]["order"][0]
    order = normalize_order("wm", raw, "WFSFulfilled")[0]
    assert isinstance(order, Order) and order.fulfilment == "marketplace"


def test_returns_resolved_only_when_refunded():
    done, pending = (normalize_return("wm", r)[0] for r in fixture("returns")["returnOrders"])
    assert done.resolved_at is not None and done.refund_amount is not None and done.currency == "USD"
    assert pending.resolved_at is None and pending.refund_amount is None


@pytest.mark.parametrize(("reason", "party", "buyer"), [
    ("CUSTOMER_REQUESTED_SELLER_TO_CANCEL", "buyer", True),
    ("SELLER_CANCEL_PRICING_ERROR", "seller", False),
    ("AUTO_CANCELLED_NO_VALID_TRACKING", "marketplace", False),
    (None, "unknown", False),
])
def test_who_cancelled_comes_from_the_reason_code(reason, party, buyer):
    assert cancel_party(reason) == (party, buyer)


def test_a_malformed_order_names_the_field():
    raw = fixture("orders__wfs")["list"]["elements"]["order"][0]
    raw["orderLines"]["orderLine"][0]["statusDate"] = "yesterday"
    with pytest.raises(ConnectorError, match=r"walmart: /v3/orders: bad payload: order \d+: orderLine\[0\]"
                                             r"\.statusDate: not a time"):
        normalize_order("wm", raw, "WFSFulfilled")


# -- fetching -----------------------------------------------------------------------------------------------


@responses.activate
def test_pages_to_the_end_with_next_cursor_unchanged_and_both_ship_nodes(clock):
    add_token(responses)
    add_orders(responses)
    ctx = context(clock)
    batches = list(walmart.fetch(ctx, "orders", None))
    orders = [r for b in batches for r in b.records if isinstance(r, Order)]
    assert len(orders) == 7
    assert [b.cursor for b in batches] == [None, None, None, clock.now().isoformat()]
    calls = [c for c in responses.calls if c.request.method == "GET"]
    # pages only: lines, shipments, cancellations and refunds come inside each order (walmart.md, Calls)
    assert len(calls) == 3 and all(urlsplit(c.request.url).path.endswith("/v3/orders") for c in calls)
    cursor = fixture("orders__page1")["list"]["meta"]["nextCursor"]
    assert calls[1].request.url == ORDERS + cursor  # appended exactly as Walmart sent it
    first = query(calls[0])
    assert first["shipNodeType"] == "SellerFulfilled" and query(calls[2])["shipNodeType"] == "WFSFulfilled"
    assert first["createdStartDate"].startswith("2026-05-27")  # 180 days back, never the 7-day default
    assert first["lastModifiedStartDate"].startswith("2026-08-25")  # 90-day first backfill
    ids = set()
    for call in calls:
        h = call.request.headers
        assert h["WM_SEC.ACCESS_TOKEN"] == fixture("token")["access_token"]
        assert h["WM_SVC.NAME"] == "Walmart Marketplace" and "Authorization" not in h
        ids.add(h["WM_QOS.CORRELATION_ID"])
    assert len(ids) == len(calls)  # a fresh correlation id per call
    token_call = responses.calls[0].request
    assert token_call.headers["Authorization"].startswith("Basic ") and "client_credentials" in str(token_call.body)


@responses.activate
def test_token_is_cached_and_renewed_before_expiry(clock):
    add_token(responses)
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    ctx = context(clock, ship_node_types=["WFSFulfilled"])
    list(walmart.fetch(ctx, "orders", None))
    clock.advance(minutes=10)
    list(walmart.fetch(ctx, "orders", None))  # a new client, same token (saved in the account state)
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 1
    clock.advance(minutes=4, seconds=30)  # 30 s left: renewed ahead of expiry
    list(walmart.fetch(ctx, "orders", None))
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 2


@responses.activate
def test_a_401_mid_sync_refreshes_the_token_once_and_retries(clock):
    add_token(responses)
    responses.add(responses.GET, ORDERS, status=401, json={"errors": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API"}]})
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    ctx = context(clock, ship_node_types=["WFSFulfilled"])
    records = [r for b in walmart.fetch(ctx, "orders", None) for r in b.records]
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 2
    assert len(records) == 2  # the order and its shipment, from the retried page
    tokens = [c.request.headers.get("WM_SEC.ACCESS_TOKEN") for c in responses.calls if c.request.method == "GET"]
    assert len(tokens) == 2


@responses.activate
def test_rate_limit_waits_for_the_replenishment_time_then_succeeds(clock):
    add_token(responses)
    refill_ms = int((clock.now() + timedelta(seconds=20)).timestamp() * 1000)
    responses.add(responses.GET, ORDERS, status=429, json={"errors": [{"code": "TOO_MANY_REQUESTS"}]},
                  headers={"x-current-token-count": "0", "x-next-replenishment-time": str(refill_ms)})
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    ctx = context(clock, ship_node_types=["WFSFulfilled"])
    records = [r for b in walmart.fetch(ctx, "orders", None) for r in b.records]
    assert records and clock.slept and clock.slept[0] == pytest.approx(20, abs=0.01)


@responses.activate
def test_an_empty_order_list_is_a_404_and_means_no_rows(clock):
    add_token(responses)
    responses.add(responses.GET, ORDERS, status=404, json=fixture("orders__empty_404"))
    ctx = context(clock, ship_node_types=["SellerFulfilled"])
    batches = list(walmart.fetch(ctx, "orders", None))
    assert all(b.records == [] for b in batches) and batches[-1].cursor == clock.now().isoformat()


@responses.activate
def test_5xx_exhausted_is_a_clear_wait_error_and_the_cursor_stays(clock, store):
    add_token(responses)
    responses.add(responses.GET, ORDERS, status=503, json={"errors": [{"code": "SERVICE_UNAVAILABLE"}]})
    acc = config(ship_node_types=["SellerFulfilled"]).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not out.ok and out.error_kind == "wait"
    assert out.error == ("wm: orders: walmart: GET https://marketplace.walmartapis.com/v3/orders: the marketplace is"
                         " unavailable (HTTP 503); gave up after 5 attempts")
    assert store.cursor("wm", "orders") is None


@responses.activate
def test_a_malformed_page_fails_cleanly_and_the_cursor_is_not_advanced(clock, store):
    add_token(responses)
    page1, page2 = fixture("orders__page1"), fixture("orders__page2")
    del page2["list"]["elements"]["order"][1]["orderDate"]
    cursor = page1["list"]["meta"]["nextCursor"]
    responses.add(responses.GET, ORDERS + cursor, json=page2,
                  match=[responses.matchers.query_string_matcher(cursor[1:])])
    responses.add(responses.GET, ORDERS, json=page1)
    acc = config(ship_node_types=["SellerFulfilled"]).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "payload"
    assert "walmart: /v3/orders: bad payload: order" in out.error and "orderDate: missing" in out.error
    assert store.cursor("wm", "orders") is None  # the next run starts the window again


@responses.activate
def test_invalid_json_is_a_payload_error(clock):
    add_token(responses)
    responses.add(responses.GET, ORDERS, body="<html>gateway</html>", status=200)
    ctx = context(clock, ship_node_types=["SellerFulfilled"])
    with pytest.raises(ConnectorError, match="not valid JSON") as err:
        list(walmart.fetch(ctx, "orders", None))
    assert err.value.kind == "payload"


@responses.activate
def test_a_rerun_asks_only_for_what_changed_since_the_cursor(clock, store):
    add_token(responses)
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    acc = config(ship_node_types=["WFSFulfilled"]).accounts[0]
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    first_end = clock.now()
    clock.advance(minutes=30)
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    second = query([c for c in responses.calls if c.request.method == "GET"][-1])
    expected = first_end - timedelta(minutes=15)  # the overlap for late index updates
    assert second["lastModifiedStartDate"] == expected.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert store.cursor("wm", "orders") == clock.now().isoformat()


@responses.activate
def test_returns_page_with_the_cursor(clock):
    add_token(responses)
    page = fixture("returns")
    first = {**page, "meta": {**page["meta"], "nextCursor": "?limit=1&offset=1"},
             "returnOrders": page["returnOrders"][:1]}
    second = {**page, "returnOrders": page["returnOrders"][1:]}
    responses.add(responses.GET, RETURNS + "?limit=1&offset=1", json=second,
                  match=[responses.matchers.query_string_matcher("limit=1&offset=1")])
    responses.add(responses.GET, RETURNS, json=first)
    ctx = context(clock)
    recs = [r for b in walmart.fetch(ctx, "returns", "2026-11-20T00:00:00+00:00") for r in b.records]
    assert [type(r) for r in recs] == [Return, Return]
    assert query(responses.calls[1])["returnLastModifiedStartDate"] == "2026-11-19T23:45:00.000Z"


# -- Walmart's own figures -----------------------------------------------------------------------------------


@responses.activate
def test_performance_summaries_become_reported_metrics(clock):
    add_token(responses)
    perf = f"{BASE}/v3/insights/performance"
    responses.add(responses.GET, f"{perf}/otd/summary", json=fixture("insights__otd"))
    responses.add(responses.GET, f"{perf}/cancellations/summary", json=fixture("insights__cancellations"))
    for path, *_ in walmart.INSIGHTS:
        if path not in ("otd", "cancellations"):
            responses.add(responses.GET, f"{perf}/{path}/summary", status=204)  # no data yet
    ctx = context(clock)
    [batch] = list(walmart.fetch(ctx, "performance", None))
    metrics = {m.metric_id: m for m in batch.records if isinstance(m, ReportedMetric)}
    assert set(metrics) == {"walmart.on_time_delivery_rate", "walmart.cancellation_rate"}  # unpublished: own stream
    otd = metrics["walmart.on_time_delivery_rate"]
    assert otd.value == pytest.approx(0.962) and otd.status == "GREEN_UP"  # seller-accountable rate
    assert otd.window_end - otd.window_start == timedelta(days=30)
    assert metrics["walmart.cancellation_rate"].value == pytest.approx(0.024)
    assert query(responses.calls[1])["reportDuration"] == "30"
    # refreshed daily by Walmart: a second sync within 12 hours asks nothing
    assert list(walmart.fetch(ctx, "performance", batch.cursor)) == []


@responses.activate
def test_a_failing_unpublished_items_call_fails_its_own_stream_not_the_performance_figures(clock, tmp_path):
    # issue 18: the unpublished counts were read inside the performance stream; a 200 without its list (or any
    # failure of that one call) failed the whole stream and stored none of the eight summaries
    from sellerguard.store import Store
    from sellerguard.sync import stream_status, sync_account

    add_token(responses)
    perf = f"{BASE}/v3/insights/performance"
    responses.add(responses.GET, f"{perf}/otd/summary", json=fixture("insights__otd"))
    for path, *_ in walmart.INSIGHTS:
        if path != "otd":
            responses.add(responses.GET, f"{perf}/{path}/summary", status=204)
    responses.add(responses.GET, f"{BASE}/v3/insights/items/unpublished/counts", json={"errors": []})
    store = Store(f"sqlite:///{tmp_path / 'wm.db'}")
    acc = context(clock).account
    outcome = sync_account(acc, store, clock=clock, sleep=lambda s: None, streams=["performance", "unpublished"],
                           lock_wait_s=0)
    assert outcome.failed_streams == {"unpublished": "payload"} and "payload: missing or not a list" in outcome.error
    assert store.count("reported_metric") == 1  # the on-time delivery summary is stored
    status = stream_status(store, acc.id, walmart.STREAMS)
    assert status["performance"]["ok"] and not status["unpublished"]["ok"]
    assert store.cursor(acc.id, "performance") and store.cursor(acc.id, "unpublished") is None  # read again next time


def test_a_rate_out_of_range_is_a_payload_error():
    from sellerguard.connectors.walmart_insights import parse_summary

    with pytest.raises(ConnectorError, match=r"payload\.overallRate: not a percentage \(0\.\.100\): .180."):
        parse_summary("wm", "walmart.x", "/v3/insights/performance/otd/summary", {"payload": {"overallRate": 180}},
                      30, ("overallRate",), datetime(2026, 11, 23, tzinfo=UTC))


def test_unknown_options_are_a_config_error(clock, store):
    acc = parse_config({"accounts": [{**account(), "options": {"shipnode": "WFS"}}]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep)
    assert out.error_kind == "config" and "accounts[wm].options" in out.error


def test_missing_credentials_name_the_key(clock, store):
    acc = parse_config({"accounts": [{"id": "wm", "marketplace": "walmart"}]}, where="t").accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "config" and "accounts[wm].credentials.client_id" in out.error


def test_secrets_never_reach_the_error_message(clock, store):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN, status=401, json={"error": "invalid_client"})
        acc = config().accounts[0]
        out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.error_kind == "config" and "csecret" not in out.error and "Basic" not in out.error
