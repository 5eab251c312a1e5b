"""eBay connector: spec-shaped fixtures replayed with `responses` (no network), clock fixed, sleep recorded."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import responses

from sellerguard.config import parse_config
from sellerguard.connectors.ebay_normalize import (
    normalize_case,
    normalize_conversation,
    normalize_order,
    normalize_return,
    normalize_service_metric,
    normalize_standards,
)
from sellerguard.errors import ConnectorError
from sellerguard.schema import Cancellation, Order, Shipment
from sellerguard.sync import sync_account

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ebay"
API = "https://api.ebay.com"
ORDERS = f"{API}/sell/fulfillment/v1/order"
TOKEN = f"{API}/identity/v1/oauth2/token"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def account(**options):
    return parse_config({"accounts": [{
        "id": "ebay-1", "marketplace": "ebay",
        "credentials": {"client_id": "App-PRD-1", "client_secret": "PRD-s3cret", "refresh_token": "v^1.1#refresh"},
        "options": options,
    }]}).accounts[0]


def query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


def orders(n: int, start_minute: int = 0) -> list[dict]:
    base = load("orders__page")["orders"][2]  # open, not shipped: no extra calls per order
    out = []
    for i in range(n):
        o = copy.deepcopy(base)
        o["orderId"] = f"12-{10000 + i:05d}-{start_minute:05d}"
        out.append(o)
    return out


class FakeEbay:
    def __init__(self, rsps: responses.RequestsMock, order_list: list[dict] | None = None):
        self.orders = order_list if order_list is not None else load("orders__page")["orders"]
        self.calls: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.tokens: list[dict[str, str]] = []
        rsps.add_callback(responses.POST, TOKEN, callback=self.token)
        rsps.add_callback(responses.GET, ORDERS, callback=self.search)
        rsps.add_callback(responses.GET, f"{ORDERS}/12-33333-44444", callback=self.one)
        rsps.add(responses.GET, f"{ORDERS}/12-11111-22222/shipping_fulfillment", json=load("shipping_fulfillment"))

    def token(self, request):
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"App-PRD-1:PRD-s3cret").decode()
        self.tokens.append({k: v[0] for k, v in parse_qs(request.body).items()})
        return 200, {}, json.dumps({**load("token"), "access_token": f"v^1.1#i^1#token-{len(self.tokens)}"})

    def search(self, request):
        assert request.headers["Authorization"].startswith("Bearer v^1.1#i^1#token-")
        q = query(request)
        self.calls.append(q)
        offset, limit = int(q["offset"]), int(q["limit"])
        field, lo, hi = re.fullmatch(r"(\w+):\[(.*?)\.\.(.*)\]", unquote(q["filter"])).groups()
        key = "creationDate" if field == "creationdate" else "lastModifiedDate"
        rows = [o for o in self.orders if o[key] >= lo and (not hi or o[key] <= hi)]  # ISO strings sort as times
        return 200, {}, json.dumps({"total": len(rows), "limit": limit, "offset": offset,
                                    "orders": rows[offset:offset + limit]})

    def one(self, request):
        self.paths.append(urlsplit(request.url).path)
        return 200, {}, json.dumps(load("order__cancelled_by_seller"))


def test_fixtures_match_the_ebay_specs(specs):
    from spec_check import load_spec, response_schema, validate

    ful = load_spec(specs / "ebay" / "sell_fulfillment_v1_oas3.json")
    validate(ful, response_schema(ful, "/order", "get"), load("orders__page"))
    for name in ("order__cancelled_by_seller", "order__cancelled_by_buyer"):
        validate(ful, response_schema(ful, "/order/{orderId}", "get"), load(name))
    validate(ful, response_schema(ful, "/order/{orderId}/shipping_fulfillment", "get"), load("shipping_fulfillment"))
    ana = load_spec(specs / "ebay" / "sell_analytics_v1_oas3.json")
    validate(ana, response_schema(ana, "/customer_service_metric/{customer_service_metric_type}/{evaluation_type}",
                                  "get"), load("customer_service_metric"))
    profile = load("seller_standards_profile")
    for p in profile["standardsProfiles"]:  # metrics follow eBay's documented example, not the file (NOTES.md)
        p["metrics"] = []
    validate(ana, response_schema(ana, "/seller_standards_profile", "get"), profile)
    msg = load_spec(specs / "ebay" / "commerce_message_v1_oas3.json")
    validate(msg, response_schema(msg, "/conversation", "get"), load("conversations"))
    for name in ("conversation__answered", "conversation__waiting"):
        validate(msg, response_schema(msg, "/conversation/{conversation_id}", "get"), load(name))
    fb = load_spec(specs / "ebay" / "commerce_feedback_v1_beta_oas3.json")
    validate(fb, response_schema(fb, "/feedback", "get"), load("feedback"))
    idn = load_spec(specs / "ebay" / "commerce_identity_v1_oas3.json")
    validate(idn, response_schema(idn, "/user/", "get"), load("user"))


def test_an_order_with_its_fulfillment_and_cancel_requests():
    shipped, _, _ = load("orders__page")["orders"]
    order, shipment = normalize_order("e", shipped, load("shipping_fulfillment")["fulfillments"], "GET", "orders[0]")
    assert isinstance(order, Order) and order.fulfilment == "seller" and order.status == "shipped"
    assert order.ship_by.isoformat() == "2026-11-12T04:59:59+00:00"
    assert order.deliver_by.isoformat() == "2026-11-18T07:59:59+00:00"
    assert str(order.total) == "44.9700" and order.site == "EBAY_US"
    assert isinstance(shipment, Shipment) and shipment.carrier == "USPS"
    assert shipment.tracking_number == "9400111899223344556677"
    assert shipment.shipped_at.isoformat() == "2026-11-11T18:30:00+00:00" and shipment.delivered_at is None

    order, cancel = normalize_order("e", load("order__cancelled_by_seller"), [], "GET", "order")
    assert order.status == "cancelled"
    assert isinstance(cancel, Cancellation) and cancel.initiated_by == "seller" and not cancel.buyer_requested
    assert cancel.reason == "OUT_OF_STOCK_OR_CANNOT_FULFILL"  # a defect
    _, cancel = normalize_order("e", load("order__cancelled_by_buyer"), [], "GET", "order")
    assert cancel.initiated_by == "buyer" and cancel.buyer_requested  # not a defect


def test_standards_profile_percent_strings_become_fractions(clock):
    metrics = normalize_standards("e", load("seller_standards_profile"), clock.now(), "GET standards")
    by = {(m.metric_id, m.scope): m for m in metrics}
    tdr = by[("ebay.transaction_defect_rate", "PROGRAM_US")]
    assert tdr.value == pytest.approx(0.0014) and tdr.numerator == 1 and tdr.denominator == 720
    assert tdr.window_start.isoformat() == "2026-08-01T07:00:00+00:00"  # each metric its own lookback
    assert by[("ebay.top_rated_transaction_defect_rate", "PROGRAM_US")].value == tdr.value
    assert by[("ebay.late_shipment_rate", "PROGRAM_US")].value == pytest.approx(0.0091)
    assert by[("ebay.transaction_defect_rate_projected", "PROGRAM_US")].value == pytest.approx(0.0062)
    missing = by[("ebay.tracking_uploaded_on_time_validated", "PROGRAM_US")]
    assert missing.value is None and missing.status == "NOT_REPORTED"  # absent: not reported, never zero
    assert not any(m.scope == "PROGRAM_GLOBAL" for m in metrics)  # only the default program


def test_customer_service_metric(clock):
    (inr,) = normalize_service_metric("e", "ITEM_NOT_RECEIVED", load("customer_service_metric"), clock.now(), "GET")
    assert inr.metric_id == "ebay.inr_rate" and inr.value == pytest.approx(0.004) and inr.status == "HIGH"
    assert inr.scope == "15032"


def test_conversations_first_buyer_message_and_first_reply():
    conv = load("conversations")["conversations"]
    answered = normalize_conversation("e", conv[0], load("conversation__answered")["messages"], "example_seller", "G",
                                      "c[0]")
    assert answered.received_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert answered.first_reply_at.isoformat() == "2026-11-20T15:00:00+00:00"
    assert answered.order_ref == "12-11111-22222"
    waiting = normalize_conversation("e", conv[1], load("conversation__waiting")["messages"], "example_seller", "G",
                                     "c[1]")
    assert waiting.first_reply_at is None and waiting.needs_reply and waiting.order_ref is None


def test_post_order_returns_and_cases_hand_made():
    (ret,) = [normalize_return("e", m, "GET", "m") for m in load("return_search")["members"]]
    assert ret.order_ref == "12-11111-22222" and str(ret.refund_amount) == "39.9800"
    closed, open_ = [normalize_case("e", m, "GET", "m") for m in load("case_search")["members"]]
    assert closed.claim_kind == "item_not_received" and closed.seller_at_fault is True
    assert open_.claim_kind == "not_as_described" and open_.seller_at_fault is None and open_.closed_at is None


def test_malformed_order_names_endpoint_and_field():
    broken = load("orders__page")["orders"][0]
    broken["creationDate"] = "yesterday"
    with pytest.raises(ConnectorError) as err:
        normalize_order("e", broken, [], "GET /sell/fulfillment/v1/order", "orders[4]")
    assert str(err.value) == ("ebay: GET /sell/fulfillment/v1/order: bad payload: orders[4].creationDate: "
                              "not an ISO 8601 date-time: 'yesterday'")


@responses.activate
def test_sync_reads_by_lastmodifieddate_only_and_fetches_cancel_and_shipment_details(store, clock):
    fake = FakeEbay(responses.mock)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    backfill, incremental = fake.calls  # a backfill by creation date, then what changed meanwhile
    assert backfill["filter"] == "creationdate:[2026-08-25T12:00:00.000Z..2026-11-23T12:00:00.000Z]"
    assert incremental["filter"] == "lastmodifieddate:[2026-11-23T11:45:00.000Z..]"
    assert "creationdate" not in incremental["filter"]  # both in one filter: eBay ignores lastmodifieddate
    assert backfill["limit"] == "200" and backfill["offset"] == "0"
    assert fake.paths == ["/sell/fulfillment/v1/order/12-33333-44444"]  # getOrder only for the cancelled one
    assert store.count("order", account="ebay-1") == 3 and store.count("shipment", account="ebay-1") == 1
    assert store.count("cancellation", account="ebay-1") == 1
    assert store.cursor("ebay-1", "orders") == "2026-11-23T12:00:00.000Z"
    scopes = fake.tokens[0]["scope"].split()
    assert fake.tokens[0]["grant_type"] == "refresh_token" and \
        "https://api.ebay.com/oauth/api_scope/sell.fulfillment.readonly" in scopes


@responses.activate
def test_offset_paging_to_the_end_and_rerun_from_the_cursor(store, clock):
    fake = FakeEbay(responses.mock, orders(450))
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert [c["offset"] for c in fake.calls] == ["0", "200", "400", "0"]  # backfill, then what changed
    assert store.count("order", account="ebay-1") == 450
    clock.advance(3600)
    fake.calls.clear()
    fake.orders[:] = orders(1, 99)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert [unquote(c["filter"]) for c in fake.calls] == ["lastmodifieddate:[2026-11-23T11:45:00.000Z..]"]
    assert len(fake.tokens) == 1  # the 2-hour token was reused


@responses.activate
def test_expired_token_mid_sync_is_refreshed_once(store, clock):
    fake = FakeEbay(responses.mock, orders(300))
    original, state = fake.search, {"n": 0}

    def expire_second(request):
        state["n"] += 1
        if state["n"] == 2:
            return 401, {}, json.dumps({"errors": [{"errorId": 1001, "domain": "OAuth", "category": "REQUEST",
                                                    "message": "Invalid access token"}]})
        return original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=expire_second)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert len(fake.tokens) == 2 and store.count("order", account="ebay-1") == 300


@responses.activate
def test_429_then_success(store, clock):
    fake = FakeEbay(responses.mock, orders(2))
    original, state = fake.search, {"n": 0}

    def limited_once(request):
        state["n"] += 1
        if state["n"] == 1:
            return 429, {"Retry-After": "30"}, json.dumps({"errors": [{"errorId": 2001, "message": "Too many"}]})
        return original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=limited_once)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert 30 in clock.slept


@responses.activate
def test_5xx_exhausted_gives_a_clear_error_and_keeps_the_cursor(store, clock):
    FakeEbay(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add(responses.GET, ORDERS, status=500, json={"errors": [{"errorId": 2003}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not outcome.ok and outcome.error_kind == "wait"
    assert outcome.error == ("ebay-1: orders: ebay: GET https://api.ebay.com/sell/fulfillment/v1/order: "
                             "the marketplace had an internal error (HTTP 500); gave up after 5 attempts")
    assert store.cursor("ebay-1", "orders") is None and "s3cret" not in outcome.error


@responses.activate
def test_malformed_page_stores_the_pages_before_it_and_the_backfill_resumes_at_that_page(store, clock):
    items = orders(300)
    items[250]["lineItems"][0]["quantity"] = -1
    fake = FakeEbay(responses.mock, items)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "payload"
    assert outcome.error.endswith("orders[250].lineItems[0].quantity: not a plausible quantity: '-1'")
    assert store.count("order", account="ebay-1") == 200  # nothing of the bad page, all of the page before
    resume = json.loads(store.cursor("ebay-1", "orders"))  # written per page: no restart from zero
    assert resume == {"from": "2026-08-25T12:00:00.000Z", "to": "2026-11-23T12:00:00.000Z", "offset": 200}
    items[250]["lineItems"][0]["quantity"] = 1
    fake.calls.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert [c["offset"] for c in fake.calls] == ["200", "0"]
    assert fake.calls[0]["filter"] == "creationdate:[2026-08-25T12:00:00.000Z..2026-11-23T12:00:00.000Z]"
    assert store.count("order", account="ebay-1") == 300 and store.cursor("ebay-1", "orders") == \
        "2026-11-23T12:00:00.000Z"


@responses.activate
def test_standards_messages_feedback_returns_cases_streams(store, clock):
    FakeEbay(responses.mock)
    responses.mock.add(responses.GET, "https://apiz.ebay.com/commerce/identity/v1/user/", json=load("user"))
    responses.mock.add(responses.GET, f"{API}/sell/analytics/v1/seller_standards_profile",
                       json=load("seller_standards_profile"))
    for kind in ("ITEM_NOT_AS_DESCRIBED", "ITEM_NOT_RECEIVED"):
        responses.mock.add(responses.GET, f"{API}/sell/analytics/v1/customer_service_metric/{kind}/CURRENT",
                           json=load("customer_service_metric"))
    responses.mock.add(responses.GET, f"{API}/commerce/message/v1/conversation", json=load("conversations"))
    responses.mock.add(responses.GET, f"{API}/commerce/message/v1/conversation/C-1001",
                       json=load("conversation__answered"))
    responses.mock.add(responses.GET, f"{API}/commerce/message/v1/conversation/C-1002",
                       json=load("conversation__waiting"))
    responses.mock.add(responses.GET, f"{API}/commerce/feedback/v1/feedback", json=load("feedback"))
    seen = []

    def post_order(name):
        def reply(request):
            seen.append((request.headers["Authorization"].split()[0], request.headers["X-EBAY-C-MARKETPLACE-ID"],
                         query(request)))
            return 200, {}, json.dumps(load(name))
        return reply

    responses.mock.add_callback(responses.GET, f"{API}/post-order/v2/return/search",
                                callback=post_order("return_search"))
    responses.mock.add_callback(responses.GET, f"{API}/post-order/v2/casemanagement/search",
                                callback=post_order("case_search"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep,
                           streams=["standards", "messages", "feedback", "returns", "cases"])
    assert outcome.ok, outcome.error
    assert store.count("reported_metric", account="ebay-1") == 16  # 6 ids x 2 cycles, INAD, INR, 2 levels
    assert store.count("message", account="ebay-1") == 2 and store.count("rating", account="ebay-1") == 2
    assert store.count("return", account="ebay-1") == 1 and store.count("claim", account="ebay-1") == 2
    assert seen[0][0] == "IAF" and seen[0][1] == "EBAY_US" and seen[0][2]["offset"] == "1"
    assert seen[1][2]["case_creation_date_range_from"] == "2026-08-25T12:00:00.000Z"
    assert store.state("ebay-1", "username") == "example_seller"


def test_order_facts_for_the_rules_buyer_key_country_payment_lines_subtotal():
    shipped = load("orders__page")["orders"][0]
    keys = {}

    def buyer_key(raw):
        keys[raw] = "ab" * 32
        return keys[raw]

    order, _ = normalize_order("e", shipped, load("shipping_fulfillment")["fulfillments"], "GET", "orders[0]",
                               buyer_key=buyer_key)
    assert keys == {"placeholder_buyer": "ab" * 32} and order.buyer_key == "ab" * 32  # the key, never the name
    assert "placeholder_buyer" not in order.model_dump_json()
    assert order.buyer_country == "US" and order.order_type == "SHIP_TO"
    assert order.paid_at.isoformat() == "2026-11-10T14:05:30+00:00"
    assert str(order.items_subtotal) == "39.9800"  # pricingSummary.priceSubtotal: items before discounts
    assert [(line.line_id, line.quantity, line.category_id) for line in order.lines] == [("10011111111111", 2, None)]
    # not in the Fulfillment API: the handling time and the seller's clock (ship-by comes as a date-time)
    assert order.handling_days is None and order.seller_timezone is None
    assert order.ship_by.isoformat() == "2026-11-12T04:59:59+00:00"
    _, cancel = normalize_order("e", load("order__cancelled_by_seller"), [], "GET", "order")
    assert cancel.processed_at is not None and cancel.item_count == 1


def test_return_reason_category_inad_vs_remorse():
    (ret,) = [normalize_return("e", m, "GET", "m") for m in load("return_search")["members"]]
    assert ret.reason == "DEFECTIVE_ITEM" and ret.reason_category == "not_as_described"  # reasonType SNAD
    member = load("return_search")["members"][0]
    del member["creationInfo"]["reasonType"]
    member["creationInfo"]["reason"] = "NO_LONGER_NEED_ITEM"
    assert normalize_return("e", member, "GET", "m").reason_category == "remorse"
    member["creationInfo"]["reason"] = "ARRIVED_DAMAGED"
    assert normalize_return("e", member, "GET", "m").reason_category == "damaged"
    member["creationInfo"]["reasonType"] = "REMORSE"
    member["creationInfo"]["reason"] = "SOMETHING_NEW"
    assert normalize_return("e", member, "GET", "m").reason_category == "remorse"


def _shipped(order: dict, n: int) -> dict:
    order = copy.deepcopy(order)
    order["orderFulfillmentStatus"] = "FULFILLED"
    fid = load("shipping_fulfillment")["fulfillments"][0]["fulfillmentId"]
    order["fulfillmentHrefs"] = [f"{ORDERS}/{order['orderId']}/shipping_fulfillment/{fid}"]
    return order


@responses.activate
def test_call_count_backfill_and_incremental(store, clock):
    """N orders, S shipped, C cancelled: a backfill takes ceil(N/200) + 1 getOrders pages (the incremental
    catch-up), S shipping_fulfillment and C getOrder calls; an incremental sync of K changed orders takes
    ceil(K/200) pages plus the calls of the changed ones only (unchanged orders in the overlap cost nothing)."""
    items = orders(450)
    for i in range(0, 450, 3):  # 150 shipped orders
        items[i] = _shipped(items[i], i)
    fake = FakeEbay(responses.mock, items)
    fulfil = []
    responses.mock.add_callback(responses.GET, re.compile(rf"{re.escape(ORDERS)}/[^/]+/shipping_fulfillment"),
                                callback=lambda r: (fulfil.append(r.url), (200, {}, json.dumps(
                                    load("shipping_fulfillment"))))[1])
    start = responses.mock.calls.__len__()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    api_calls = [c for c in responses.mock.calls[start:] if "oauth2/token" not in c.request.url]
    assert len(fake.calls) == 3 + 1 and len(fulfil) == 150 and len(api_calls) == 154
    # 10 orders changed just now (5 of them shipped); 30 more sit in the overlap window, unchanged
    clock.advance(3600)
    now = "2026-11-23T13:00:00.000Z"
    for i in range(40):
        items[i]["lastModifiedDate"] = "2026-11-23T12:50:00.000Z" if i >= 10 else now
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    fake.calls.clear()
    fulfil.clear()
    clock.advance(60)  # a sync a minute later: the same 40 orders come back (overlap), none changed
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(fake.calls) == 1 and fulfil == []
    for i in range(10):
        items[i]["lastModifiedDate"] = "2026-11-23T13:01:00.000Z"  # 10 change again, 4 of them shipped
    fake.calls.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(fake.calls) == 1 and len(fulfil) == 4
    # the whole backfill read again from its first page (a reset or resumed cursor): every order is stored at
    # its lastModifiedDate, so pages only, no detail call (issue 21)
    fake.calls.clear()
    fulfil.clear()
    again = {"from": "2020-01-01T00:00:00.000Z", "to": clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z"), "offset": 0}
    store.write([], {("ebay-1", "orders"): json.dumps(again)})
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(fake.calls) == 3 + 1 and fulfil == []


IDENTITY = "https://apiz.ebay.com/commerce/identity/v1/user/"
CONVERSATIONS = f"{API}/commerce/message/v1/conversation"


@responses.activate
def test_identity_404_names_the_missing_scope_and_fails_only_its_streams(store, clock):
    """Issue 17 item 5: a seller who did not grant commerce.identity.readonly gets a 404 from Identity; the
    messages and feedback streams (they need the username) fail with a hint naming that scope, not the
    marketplace id, and the other streams still sync."""
    FakeEbay(responses.mock)
    responses.mock.add(responses.GET, IDENTITY, status=404,
                       json={"errors": [{"errorId": 2002, "message": "Not Found"}]})
    responses.mock.add(responses.GET, f"{API}/sell/analytics/v1/seller_standards_profile",
                       json=load("seller_standards_profile"))
    for kind in ("ITEM_NOT_AS_DESCRIBED", "ITEM_NOT_RECEIVED"):
        responses.mock.add(responses.GET, f"{API}/sell/analytics/v1/customer_service_metric/{kind}/CURRENT",
                           json=load("customer_service_metric"))
    responses.mock.add(responses.GET, f"{API}/post-order/v2/return/search", json=load("return_search"))
    responses.mock.add(responses.GET, f"{API}/post-order/v2/casemanagement/search", json=load("case_search"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep)
    assert not outcome.ok and set(outcome.failed_streams) == {"messages", "feedback"}
    assert "https://api.ebay.com/oauth/api_scope/commerce.identity.readonly" in outcome.error
    assert "marketplace_id" not in outcome.error
    assert store.count("order", account="ebay-1") == 3 and store.count("return", account="ebay-1") == 1
    assert store.count("claim", account="ebay-1") == 2 and store.count("reported_metric", account="ebay-1") == 16
    assert store.cursor("ebay-1", "returns") is not None and store.cursor("ebay-1", "messages") is None


@responses.activate
def test_an_order_that_is_not_found_is_not_called_a_missing_scope(store, clock):
    fake = FakeEbay(responses.mock)
    responses.mock.remove(responses.GET, f"{ORDERS}/12-33333-44444")
    responses.mock.add(responses.GET, f"{ORDERS}/12-33333-44444", status=404,
                       json={"errors": [{"errorId": 32100, "message": "Order not found"}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "api_scope" not in outcome.error and "404" in outcome.error
    assert fake.calls


@responses.activate
def test_message_paging_on_always_full_pages_without_a_total_ends(store, clock):
    """Issue 18 kind 5: eBay messages once made 7,077 requests in 20 s on pages always full with no total."""
    FakeEbay(responses.mock)
    responses.mock.add(responses.GET, IDENTITY, json=load("user"))
    conv = load("conversations")["conversations"][0]
    full = {"conversations": [{**conv, "conversationId": f"C-{i}"} for i in range(50)]}  # offset ignored
    responses.mock.add(responses.GET, CONVERSATIONS, json=full)
    responses.mock.add(responses.GET, re.compile(rf"{re.escape(CONVERSATIONS)}/C-\d+"),
                       json=load("conversation__waiting"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["messages"])
    calls = [c for c in responses.mock.calls if c.request.url.startswith(CONVERSATIONS + "?")]
    assert outcome.error_kind == "payload" and "repeats page 1" in outcome.error and len(calls) == 2
    assert store.cursor("ebay-1", "messages") is None


@responses.activate
def test_message_paging_with_new_full_pages_forever_stops_at_the_cap(store, clock, monkeypatch):
    from sellerguard.connectors import ebay

    monkeypatch.setattr(ebay, "MESSAGE_PAGES", 4)  # 200 in production: 10,000 conversations per window
    FakeEbay(responses.mock)
    responses.mock.add(responses.GET, IDENTITY, json=load("user"))
    conv = load("conversations")["conversations"][0]

    def endless(request):
        offset = int(query(request)["offset"])
        return 200, {}, json.dumps({"conversations": [{**conv, "conversationId": f"C-{offset + i}"}
                                                      for i in range(50)]})

    responses.mock.add_callback(responses.GET, CONVERSATIONS, callback=endless)
    responses.mock.add(responses.GET, re.compile(rf"{re.escape(CONVERSATIONS)}/C-\d+"),
                       json=load("conversation__waiting"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["messages"])
    lists = [c for c in responses.mock.calls if c.request.url.startswith(CONVERSATIONS + "?")]
    assert outcome.error_kind == "wait" and "stopped after 4 pages" in outcome.error and len(lists) == 4


@responses.activate
def test_revoked_refresh_token_says_reauthorize_and_names_the_account(store, clock):
    FakeEbay(responses.mock)
    responses.mock.remove(responses.POST, TOKEN)
    responses.mock.add(responses.POST, TOKEN, status=400, json={
        "error": "invalid_grant", "error_description": "the provided authorization refresh token is invalid or was"
                                                       " issued to another client"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "re-authorize" in outcome.error and "account ebay-1" in outcome.error
    assert "refresh" in outcome.error and "v^1.1#refresh" not in outcome.error


@responses.activate
def test_a_garbled_stored_token_is_dropped_and_fetched_again(store, clock):
    fake = FakeEbay(responses.mock)
    store.put_state("ebay-1", "access_token", "99999999999999999999:v^1.1 token with spaces", now=clock.now())
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(fake.tokens) == 1 and store.state("ebay-1", "access_token").endswith("#token-1")


def test_one_parcel_for_two_orders_gives_each_order_its_shipment():
    """Issue 17 kind 1: one marketplace object covering several orders. Two orders shipped in one parcel carry the
    same fulfillmentId (the tracking number); each must see the shipment."""
    fulfillments = load("shipping_fulfillment")["fulfillments"]
    first, second = load("orders__page")["orders"][0], copy.deepcopy(load("orders__page")["orders"][0])
    second["orderId"] = "12-99999-00000"
    a = normalize_order("e", first, fulfillments, "GET", "orders[0]")[1]
    b = normalize_order("e", second, fulfillments, "GET", "orders[1]")[1]
    assert (a.order_ref, b.order_ref) == ("12-11111-22222", "12-99999-00000")
    assert a.external_id != b.external_id  # two records, not one overwritten by the other


def test_fulfillments_null_entry_is_one_clear_line():
    """Issue 18 kind 1: `fulfillments: [null]` was an AttributeError traceback."""
    with pytest.raises(ConnectorError) as err:
        normalize_order("e", load("orders__page")["orders"][0], [None], "GET shipping_fulfillment", "order")
    assert err.value.kind == "payload" and "fulfillments[0]" in str(err.value)
