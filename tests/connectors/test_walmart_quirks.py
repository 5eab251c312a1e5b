"""Walmart: the issue 16 facts and the issue 17/18 kinds (dead tokens, status enums, bad payloads), pinned."""

from __future__ import annotations

import copy
import json

import pytest
import responses
from spec_check import load_spec
from test_walmart import ORDERS, RETURNS, TOKEN, DictState, add_token, config, context, fixture

from sellerguard.connectors import walmart, walmart_normalize
from sellerguard.connectors.contract import SyncContext
from sellerguard.connectors.walmart_normalize import normalize_order, normalize_return
from sellerguard.errors import ConnectorError
from sellerguard.pseudonym import buyer_key
from sellerguard.schema import Order, Return, Shipment

SECRET = b"test-secret"


def _key(raw: str | None) -> str | None:
    return buyer_key(SECRET, "walmart", raw)


def _first_order() -> dict:
    return fixture("orders__page1")["list"]["elements"]["order"][0]


# -- issue 16: the facts ----------------------------------------------------------------------------------------


def test_order_facts_buyer_key_country_type_lines_subtotal_and_tracking_upload():
    raw = _first_order()
    order, shipment = normalize_order("wm", raw, "SellerFulfilled", buyer_key=_key)
    assert isinstance(order, Order) and isinstance(shipment, Shipment)
    assert order.buyer_key == _key("b7f6a1d0-0000-4000-8000-00000000b001") and len(order.buyer_key) == 64
    assert "b7f6a1d0" not in order.model_dump_json() and "relay.walmart.com" not in order.model_dump_json()
    assert order.buyer_country == "US" and order.order_type == "REGULAR"
    assert [(line.line_id, line.quantity, line.category_id) for line in order.lines] == [("1", 2, None)]
    assert str(order.items_subtotal) == "138.8" and order.paid_at is None
    assert shipment.tracking_uploaded_at == shipment.confirmed_at is not None
    assert shipment.first_scan_at is None and shipment.first_attempt_at is None  # not exposed by the API


def test_without_buyer_id_the_relay_address_keys_the_buyer():
    raw = fixture("orders__page2")["list"]["elements"]["order"][0]
    order = normalize_order("wm", raw, "SellerFulfilled", buyer_key=_key)[0]
    assert order.buyer_key == _key(raw["customerEmailId"])


def test_return_reasons_of_the_spec_all_have_a_category(specs):
    spec = load_spec(specs / "walmart" / "walmart-marketplace-returns-openapi-original.yml")
    schema = spec["paths"]["/v3/returns"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    line = schema["properties"]["returnOrders"]["items"]["properties"]["returnOrderLines"]["items"]
    listed = line["properties"]["returnReason"]["description"].split("Reason codes are:")[1]
    codes = {c.strip(" .") for c in listed.replace(" and ", ", ").split(",")}
    assert codes == set(walmart_normalize.RETURN_REASONS)
    orders = load_spec(specs / "walmart" / "walmart-marketplace-orders-openapi-original.yml")
    o = orders["paths"]["/v3/orders"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    ol = o["properties"]["list"]["properties"]["elements"]["properties"]["order"]["items"]["properties"][
        "orderLines"]["properties"]["orderLine"]["items"]["properties"]
    refund = ol["refund"]["properties"]["refundCharges"]["properties"]["refundCharge"]["items"]["properties"]
    assert set(refund["refundReason"]["enum"]) == set(walmart_normalize.REFUND_REASONS)
    status = ol["orderLineStatuses"]["properties"]["orderLineStatus"]["items"]["properties"]["status"]["enum"]
    assert set(status) == walmart_normalize.LINE_STATUSES


def test_returns_carry_reason_and_category(caplog):
    done, pending = (normalize_return("wm", r)[0] for r in fixture("returns")["returnOrders"])
    assert isinstance(done, Return) and (done.reason, done.reason_category) == ("DEFECTIVE", "not_as_described")
    assert (pending.reason, pending.reason_category) == ("NOT_AS_DESCRIBED", "not_as_described")
    raw = copy.deepcopy(fixture("returns")["returnOrders"][0])
    raw["returnOrderLines"][0]["returnReason"] = "CHANGED_PLANETS"
    walmart_normalize._warned.clear()
    odd = normalize_return("wm", raw)[0]
    assert odd.reason == "CHANGED_PLANETS" and odd.reason_category is None  # unknown: not guessed as "other"
    assert sum("CHANGED_PLANETS" in r.getMessage() for r in caplog.records) == 1


# -- issue 17 item 8 (kind): every status value mapped, unknown kept recognisable ---------------------------------


@pytest.mark.parametrize(("status", "expected"), [
    ("Created", "unshipped"), ("Acknowledged", "unshipped"), ("Shipped", "shipped"), ("Delivered", "delivered"),
    ("Cancelled", "cancelled"), ("Refund", "cancelled"), ("InTransitToTheMoon", "unknown"),
])
def test_every_line_status_and_an_unknown_one(status, expected):
    raw = copy.deepcopy(_first_order())
    raw["orderLines"]["orderLine"][0]["orderLineStatuses"]["orderLineStatus"][0]["status"] = status
    assert normalize_order("wm", raw, "SellerFulfilled")[0].status == expected


# -- issue 17 item 4 (kind): Walmart's dead-token shapes --------------------------------------------------------

DEAD = [
    (401, {"errors": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API", "description": "Unauthorized"}]}),
    (400, {"errors": [{"code": "INVALID_TOKEN.GMP_GATEWAY_API", "description": "Invalid access token"}]}),
    (403, {"errors": {"error": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API",
                                 "description": "The access token has expired"}]}}),
]


@pytest.mark.parametrize(("status", "body"), DEAD)
@responses.activate
def test_every_dead_token_shape_refreshes_once_and_the_dead_token_is_dropped(clock, status, body):
    add_token(responses)
    responses.add(responses.GET, ORDERS, status=status, json=body)
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    ctx = context(clock, ship_node_types=["WFSFulfilled"])
    ctx.state.put("access_token", f"{(clock.now().replace(year=2027)).isoformat()} dead-token")
    records = [r for b in walmart.fetch(ctx, "orders", None) for r in b.records]
    assert len(records) == 2
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 1
    assert "dead-token" not in ctx.state["access_token"]


@responses.activate
def test_a_403_without_token_words_is_a_permission_error_not_a_refresh(clock):
    add_token(responses)
    responses.add(responses.GET, ORDERS, status=403, json={"errors": [{"code": "FORBIDDEN.GMP_GATEWAY_API",
                                                                       "description": "Access denied"}]})
    with pytest.raises(ConnectorError, match="API Key Management"):
        list(walmart.fetch(context(clock, ship_node_types=["WFSFulfilled"]), "orders", None))
    assert len([c for c in responses.calls if c.request.url == TOKEN]) == 1


@responses.activate
def test_revoked_keys_say_reauthorize_name_the_account_and_keep_no_token(clock):
    responses.add(responses.POST, TOKEN, status=401, json={"errors": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API"}]})
    ctx = context(clock, ship_node_types=["WFSFulfilled"])
    ctx.state.put("access_token", f"{clock.now().isoformat()} expired-token")
    with pytest.raises(ConnectorError) as err:
        list(walmart.fetch(ctx, "orders", None))
    assert err.value.kind == "config" and "re-authorize" in str(err.value) and "'wm'" in str(err.value)
    assert "csecret" not in str(err.value) and ctx.state["access_token"] is None


def test_a_garbled_saved_token_is_dropped(clock):
    state = DictState({"access_token": "2027-01-01T00:00:00 naive\x00token"})
    ctx = SyncContext(account=config().accounts[0], state=state, clock=clock, sleep=clock.sleep)
    assert walmart._cached_token(ctx) is None and state["access_token"] is None


# -- issue 18: bad payloads, one clear line each ----------------------------------------------------------------

BAD_ORDERS = {
    "orderDate 1e308": lambda o: o.__setitem__("orderDate", 1e308),
    "orderDate year 9999": lambda o: o.__setitem__("orderDate", 253402300799000),
    "negative quantity": lambda o: o["orderLines"]["orderLine"][0]["orderLineQuantity"].__setitem__("amount", "-2"),
    "NaN amount": lambda o: o["orderLines"]["orderLine"][0]["charges"]["charge"][0]["chargeAmount"]
    .__setitem__("amount", "NaN"),
    "negative price": lambda o: o["orderLines"]["orderLine"][0]["charges"]["charge"][0]["chargeAmount"]
    .__setitem__("amount", -5),
    "null line": lambda o: o["orderLines"].__setitem__("orderLine", [None]),
    "charge not an object": lambda o: o["orderLines"]["orderLine"][0]["charges"].__setitem__("charge", ["x"]),
    "status not an object": lambda o: o["orderLines"]["orderLine"][0]["orderLineStatuses"]
    .__setitem__("orderLineStatus", [7]),
    "empty po": lambda o: o.__setitem__("purchaseOrderId", ""),
    "po with control chars": lambda o: o.__setitem__("purchaseOrderId", "12\x003"),
    # fuzz findings: a shipment silently missing or keyed by a guess
    "trackingInfo -50": lambda o: o["orderLines"]["orderLine"][0]["orderLineStatuses"]["orderLineStatus"][0]
    .__setitem__("trackingInfo", -50),
    "trackingInfo as text": lambda o: o["orderLines"]["orderLine"][0]["orderLineStatuses"]["orderLineStatus"][0]
    .__setitem__("trackingInfo", '{"trackingNumber": "1Z"}'),
    "tracking number lone surrogate": lambda o: o["orderLines"]["orderLine"][0]["orderLineStatuses"][
        "orderLineStatus"][0]["trackingInfo"].__setitem__("trackingNumber", "\ud800"),
    "tracking number in a list": lambda o: o["orderLines"]["orderLine"][0]["orderLineStatuses"][
        "orderLineStatus"][0]["trackingInfo"].__setitem__("trackingNumber", ["1Z9"]),
    "tracking number missing (required with trackingInfo)": lambda o: o["orderLines"]["orderLine"][0][
        "orderLineStatuses"]["orderLineStatus"][0]["trackingInfo"].pop("trackingNumber"),
}


@pytest.mark.parametrize("mutate", BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
def test_bad_order_payloads_are_one_payload_error(mutate):
    raw = copy.deepcopy(_first_order())
    mutate(raw)
    with pytest.raises(ConnectorError) as err:
        normalize_order("wm", raw, "SellerFulfilled")
    assert err.value.kind == "payload" and "\n" not in str(err.value) and len(str(err.value)) < 300


@pytest.mark.parametrize("body", [
    {"list": {"meta": {"totalCount": 5}}},  # the list key is missing from a page that says it has 5
    {"list": {"meta": {"totalCount": 5}, "elements": {}}},
    {"list": {"meta": {"totalCount": 1, "nextCursor": 123}, "elements": {"order": []}}},
    123,
])
@responses.activate
def test_a_page_without_its_structure_is_an_error_and_the_cursor_stays(clock, store, body):
    from sellerguard.sync import sync_account

    add_token(responses)
    responses.add(responses.GET, ORDERS, json=body)
    outcome = sync_account(config(ship_node_types=["WFSFulfilled"]).accounts[0], store, clock=clock,
                           sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "payload"
    assert store.cursor("wm", "orders") is None and store.count("order", account="wm") == 0


@responses.activate
def test_returns_page_missing_its_list_is_an_error(clock):
    add_token(responses)
    responses.add(responses.GET, RETURNS, json={"meta": {"totalCount": 3}})
    with pytest.raises(ConnectorError, match="returnOrders"):
        list(walmart.fetch(context(clock), "returns", None))


@pytest.mark.parametrize("payload", [
    {"payload": {"cumulativeRate": "Infinity"}}, {"payload": {"cumulativeRate": 12, "reportDuration": 1e308}},
    {"payload": {"cumulativeRate": 12, "ordersImpacted": -4}}, {"payload": {"cumulativeRate": [1]}},
])
def test_bad_insights_summaries_are_payload_errors(clock, payload):
    from sellerguard.connectors.walmart_insights import parse_summary

    with pytest.raises(ConnectorError) as err:
        parse_summary("wm", "walmart.cancellation_rate", "/x", payload, 30, ("cumulativeRate",), clock.now())
    assert err.value.kind == "payload"


def test_a_naive_or_future_cursor_never_crashes_the_window(clock):
    ctx = context(clock)
    with pytest.raises(ConnectorError, match="not a time"):
        walmart._window_start(ctx, "2026-11-01T00:00:00", walmart.Options())
    start = walmart._window_start(ctx, "2099-01-01T00:00:00+00:00", walmart.Options())
    assert start <= clock.now()
    assert json.dumps(start.isoformat())


def test_a_summary_without_any_rate_key_is_a_payload_error_not_no_figure(clock):
    from sellerguard.connectors.walmart_insights import parse_summary

    keys = ("cumulativeRate", "overallRate")
    with pytest.raises(ConnectorError, match="none of cumulativeRate"):
        parse_summary("wm", "walmart.vtr", "/x", {"reportDuration": 30}, 30, keys, clock.now())
    empty = parse_summary("wm", "walmart.vtr", "/x", {"payload": {"cumulativeRate": None}}, 30, keys, clock.now())
    assert empty.value is None and empty.status == "NOT_REPORTED"  # no figure yet: kept as such, never skipped


@responses.activate
def test_an_interrupted_backfill_resumes_from_the_page_it_had_not_stored(clock, store):
    """Issue 18 kind 5: Walmart backfills restarted from zero after an interruption; now they go on."""
    from sellerguard.sync import sync_account

    add_token(responses)
    page1, page2 = fixture("orders__page1"), fixture("orders__page2")
    cursor = page1["list"]["meta"]["nextCursor"]
    calls: list[str] = []
    state = {"fail": True}

    def orders(request):
        calls.append(request.url)
        if "hasMoreElements" in request.url:
            if state["fail"]:
                return 503, {}, json.dumps({"errors": [{"code": "SYSTEM_ERROR"}]})
            return 200, {}, json.dumps(page2)
        return 200, {}, json.dumps(page1)

    responses.add_callback(responses.GET, ORDERS, callback=orders)
    acc = config(ship_node_types=["SellerFulfilled"]).accounts[0]
    first = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert first.error_kind == "wait" and store.cursor("wm", "orders") is None
    stored = store.count("order", account="wm")
    assert stored == len(page1["list"]["elements"]["order"])
    state["fail"], calls[:] = False, []
    clock.advance(600)
    second = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert second.ok, second.error
    assert len(calls) == 1 and cursor[1:] in calls[0]  # straight to page 2, not page 1 again
    assert store.count("order", account="wm") == 6 and store.state("wm", "orders:resume") is None
    assert store.cursor("wm", "orders") is not None


@responses.activate
def test_a_saved_position_walmart_refuses_is_forgotten_not_retried_forever(clock, store):
    from sellerguard.sync import sync_account

    add_token(responses)
    responses.add(responses.GET, ORDERS, status=400, json={"errors": [{"code": "INVALID_REQUEST_PARAM"}]},
                  match=[responses.matchers.query_param_matcher({"hasMoreElements": "true"}, strict_match=False)])
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    acc = config(ship_node_types=["WFSFulfilled"]).accounts[0]
    start = walmart._ms(walmart._window_start(context(clock), None, walmart.Options()))
    store.put_state("wm", "orders:resume", json.dumps({
        "stream": "orders", "start": start, "end": clock.now().isoformat(), "done": [], "node": "WFSFulfilled",
        "next": "/v3/orders?hasMoreElements=true&poIndex=9", "at": clock.now().timestamp()}), now=clock.now())
    first = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert first.error_kind == "wait" and "first page" in first.error
    assert store.state("wm", "orders:resume") is None
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok


@responses.activate
def test_a_pass_that_sent_fewer_orders_than_it_announced_is_not_a_complete_window(clock, store):
    from sellerguard.sync import sync_account

    add_token(responses)
    page = fixture("orders__wfs")
    page["list"]["meta"]["totalCount"] = len(page["list"]["elements"]["order"]) + 1  # one order lost
    responses.add(responses.GET, ORDERS, json=page)
    acc = config(ship_node_types=["WFSFulfilled"]).accounts[0]
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "wait" and "announced 2 rows" in outcome.error
    assert store.cursor("wm", "orders") is None  # the window is read again


@responses.activate
def test_a_200_with_a_system_error_inside_is_retried_like_a_5xx(clock):
    """Issue 17 item 6 (kind): a 200 whose body is an error list is classified like its HTTP equivalent."""
    add_token(responses)
    responses.add(responses.GET, ORDERS, json={"errors": [{"code": "SYSTEM_ERROR.GMP_ORDER_API",
                                                           "description": "Internal error", "category": "SYSTEM"}]})
    responses.add(responses.GET, ORDERS, json=fixture("orders__wfs"))
    records = [r for b in walmart.fetch(context(clock, ship_node_types=["WFSFulfilled"]), "orders", None)
               for r in b.records]
    assert len(records) == 2 and clock.slept  # retried after a backoff, then stored
