"""bol.com connector: given spec-shaped payloads (fixtures/bol), when synced, then ...

HTTP is mocked with ``responses``; the clock is fixed and sleeping only advances it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from spec_check import component, load_spec, response_schema, validate

from sellerguard.config import AccountConfig
from sellerguard.connectors import bol
from sellerguard.connectors.bol_normalize import (
    iso_week_bounds,
    normalize_indicator,
    normalize_order,
    normalize_return,
    normalize_shipment,
)
from sellerguard.errors import ConnectorError
from sellerguard.sync import sync_account

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "bol"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday: ISO week 48 of 2026
API = "https://api.bol.com"
MEDIA = "application/vnd.retailer.v10+json"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def account(**kw) -> AccountConfig:
    return AccountConfig.model_validate({
        "id": "bol-nl", "marketplace": "bol", "region": "NL",
        "credentials": {"client_id": "cid", "client_secret": "csecret"}, **kw,
    })


def query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


def mock_token(rsps, counter: list | None = None) -> None:
    def reply(request):
        if counter is not None:
            counter.append(request)
        n = len(counter or [None])
        return 200, {}, json.dumps({**load("token.json"), "access_token": f"jwt-{n}"})

    rsps.add_callback(responses.POST, "https://login.bol.com/token", callback=reply)


def mock_orders(rsps, seen: list, days_with_orders: set[str], pages: int = 1) -> None:
    def reply(request):
        q = query(request)
        seen.append(q)
        if q["latest-change-date"] not in days_with_orders or int(q["page"]) > pages:
            return 200, {}, "{}"  # bol's empty list
        body = load("orders_page1.json")
        if pages > 1 and int(q["page"]) < pages:  # a full page of 50 means: ask for the next one
            body["orders"] = body["orders"] * 25
        return 200, {}, json.dumps(body)

    rsps.add_callback(responses.GET, f"{API}/retailer/orders", callback=reply)
    for oid in ("1043946570", "1043965710"):
        rsps.add(responses.GET, f"{API}/retailer/orders/{oid}", json=load(f"order_{oid}.json"),
                 content_type=MEDIA)


# -- spec -------------------------------------------------------------------------------------------


SPEC_CASES = [
    ("orders_page1.json", "/retailer/orders", None),
    ("order_1043946570.json", "/retailer/orders/{order-id}", None),
    ("order_1043965710.json", "/retailer/orders/{order-id}", None),
    ("shipments_page1.json", "/retailer/shipments", None),
    ("shipment_541757635.json", "/retailer/shipments/{shipment-id}", None),
    ("returns_unhandled.json", "/retailer/returns", None),
    ("returns_handled.json", "/retailer/returns", None),
    ("indicator_fulfilment.json", "/retailer/insights/performance/indicator", None),
    ("indicator_cancellations.json", "/retailer/insights/performance/indicator", None),
    ("problem_429.json", None, "Problem"),
]


@pytest.mark.parametrize("name,path,schema", SPEC_CASES)
def test_fixtures_match_the_official_spec(specs, name, path, schema):
    spec = load_spec(specs / "bol" / "retailer-v10.json")
    target = response_schema(spec, path, "get", media=MEDIA) if path else component(spec, schema)
    validate(spec, target, load(name))


# -- normalization ----------------------------------------------------------------------------------


def test_orders_count_items_and_who_cancelled():
    o, = normalize_order("a", load("order_1043946570.json"))
    assert (o.status, o.item_count, o.fulfilment, str(o.total), o.currency) == ("shipped", 3, "seller", "38.97", "EUR")
    assert o.deliver_by == datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC)  # end of the day, Dutch time
    assert o.ship_by == datetime(2026, 11, 25, 22, 59, 59, tzinfo=UTC)  # expiry: auto-cancel if unshipped
    o2, c = normalize_order("a", load("order_1043965710.json"))
    assert (o2.status, c.initiated_by, c.buyer_requested, c.item_count) == ("cancelled", "buyer", True, 2)
    assert o2.deliver_by == datetime(2026, 11, 24, 22, 59, 59, tzinfo=UTC)  # exactDeliveryDate wins
    no_request = load("order_1043965710.json")
    no_request["orderItems"][0]["cancellationRequest"] = False
    assert normalize_order("a", no_request)[1].initiated_by == "unknown"  # seller, or bol's expiry


def test_no_customer_data_is_kept():
    records = [*normalize_order("a", load("order_1043946570.json")),
               normalize_shipment("a", load("shipment_541757635.json"))]
    dumped = json.dumps([r.model_dump(mode="json") for r in records])
    assert "Placeholder" not in dumped and "1234AB" not in dumped


def test_shipment_delivery_is_the_first_delivery_attempt():
    s = normalize_shipment("a", load("shipment_541757635.json"))
    assert (s.order_ref, s.carrier, s.tracking_number, s.tracking_validated, s.item_count) == \
        ("1043946570", "TNT", "3SBOL0987654321", True, 3)
    assert s.delivered_at == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    pre = load("shipment_541757635.json")
    pre["transport"]["transportEvents"] = pre["transport"]["transportEvents"][:1]
    assert normalize_shipment("a", pre).tracking_validated is None  # only pre-announced: not scanned yet


def test_returns_are_resolved_when_handled():
    open_, = normalize_return("a", load("returns_unhandled.json")["returns"][0])
    done, = normalize_return("a", load("returns_handled.json")["returns"][0])
    assert (open_.external_id, open_.resolved_at) == ("31234567", None)
    assert done.resolved_at == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)


def test_indicators_keep_the_iso_week_and_the_bad_item_count():
    late, = normalize_indicator("a", load("indicator_fulfilment.json"), final=True, as_of=NOW)
    assert late.metric_id == "bol.late_items"
    assert (round(late.value, 4), late.numerator, late.denominator, late.scope) == (0.075, 3, 40, "week")
    assert (late.window_start, late.window_end) == iso_week_bounds(2026, 47)
    assert late.window_start == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)  # Monday 00:00 in Amsterdam
    cancelled, = normalize_indicator("a", load("indicator_cancellations.json"), final=False, as_of=NOW)
    assert (cancelled.metric_id, cancelled.value, cancelled.numerator, cancelled.scope) == \
        ("bol.cancelled_items", 0.025, 1, "current")


def test_a_malformed_order_names_the_field():
    bad = load("order_1043946570.json")
    bad["orderItems"][0]["quantity"] = "three"
    with pytest.raises(ConnectorError) as err:
        normalize_order("a", bad)
    assert str(err.value) == ("bol: /retailer/orders/{order-id}: bad payload: orderItems[0].quantity:"
                              " not a count: 'three'")


# -- fetching ---------------------------------------------------------------------------------------


@responses.activate
def test_orders_one_day_at_a_time_to_the_last_page(store, clock):
    seen: list = []
    mock_token(responses)
    mock_orders(responses, seen, {"2026-11-21"}, pages=2)
    acc = account(options={"backfill_days": 3})
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert [(q["latest-change-date"], q["page"]) for q in seen] == [
        ("2026-11-21", "1"), ("2026-11-21", "2"), ("2026-11-22", "1"), ("2026-11-23", "1")]
    assert seen[0]["status"] == "ALL" and seen[0]["fulfilment-method"] == "ALL"
    call = next(c for c in responses.calls if "/retailer/orders" in c.request.url)
    assert call.request.headers["Accept"] == MEDIA and call.request.headers["Authorization"] == "Bearer jwt-1"
    assert store.count("order", account="bol-nl") == 2 and store.count("cancellation", account="bol-nl") == 1
    assert store.cursor("bol-nl", "orders") == "2026-11-23"


@responses.activate
def test_call_count_backfill_and_incremental(store, clock):
    """docs/connectors/bol.md, Limits: a backfill of D days with N orders takes one list page per day (plus one per
    50 orders) and N detail reads; re-reading a day (the cursor's, every sync) reads only the orders that changed
    since they were stored."""
    seen: list = []
    mock_token(responses)
    mock_orders(responses, seen, {"2026-11-21"})
    details = lambda: [c for c in responses.calls if "/retailer/orders/" in c.request.url]  # noqa: E731
    acc = account(options={"backfill_days": 3})
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(seen) == 3 and len(details()) == 2
    store.write([], {("bol-nl", "orders"): "2026-11-21"})  # that day listed again, both orders unchanged
    seen.clear()
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(seen) == 3 and len(details()) == 2  # pages only
    store.write([], {("bol-nl", "orders"): "2026-11-21"})
    listed, detail = load("orders_page1.json"), load("order_1043965710.json")
    for body in (listed["orders"][1], detail):  # one order changed later that day
        body["orderItems"][0]["latestChangedDateTime"] = "2026-11-21T19:00:00+01:00"
    responses.replace(responses.GET, f"{API}/retailer/orders/1043965710", json=detail, content_type=MEDIA)
    responses.remove(responses.GET, f"{API}/retailer/orders")
    responses.add_callback(responses.GET, f"{API}/retailer/orders", callback=lambda r: (
        200, {}, json.dumps(listed) if query(r)["latest-change-date"] == "2026-11-21" else "{}"))
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert [c.request.url.rsplit("/", 1)[-1] for c in details()[2:]] == ["1043965710"]


@responses.activate
def test_rerun_starts_at_the_cursor_day(store, clock):
    seen: list = []
    mock_token(responses)
    mock_orders(responses, seen, set())
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert seen[0]["latest-change-date"] == (date(2026, 11, 23) - timedelta(days=89)).isoformat()  # 3 months
    seen.clear()
    clock.advance(hours=13)  # now 2026-11-24 01:00 UTC
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert [q["latest-change-date"] for q in seen] == ["2026-11-23", "2026-11-24"]


@responses.activate
def test_the_token_is_cached_and_reused_until_it_expires(store, clock):
    asked: list = []
    mock_token(responses, asked)
    mock_orders(responses, [], set())
    acc = account(options={"backfill_days": 1})
    for _ in range(3):  # three syncs within the token's 5 minutes: one token request
        assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
        clock.advance(seconds=60)
    assert len(asked) == 1
    assert asked[0].url.endswith("/token?grant_type=client_credentials")
    assert asked[0].headers["Authorization"].startswith("Basic ")
    clock.advance(seconds=200)  # past expiry
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(asked) == 2


@responses.activate
def test_a_rejected_token_is_replaced_once(store, clock):
    asked: list = []
    mock_token(responses, asked)
    responses.add(responses.GET, f"{API}/retailer/orders", status=401,
                  json={"type": "https://api.bol.com/problems", "title": "Unauthorized", "status": 401,
                        "detail": "expired", "violations": []})
    responses.add(responses.GET, f"{API}/retailer/orders", body="{}", content_type=MEDIA)
    outcome = sync_account(account(options={"backfill_days": 1}), store, clock=clock, sleep=clock.sleep,
                           streams=["orders"])
    assert outcome.ok, outcome.error
    assert len(asked) == 2


@responses.activate
def test_a_blocked_address_is_named(store, clock):
    responses.add(responses.POST, "https://login.bol.com/token", status=404, body="")
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "config")
    assert "blocked" in outcome.error and "csecret" not in outcome.error


@responses.activate
def test_rate_limited_with_retry_after_then_served(store, clock):
    mock_token(responses)
    responses.add(responses.GET, f"{API}/retailer/orders", status=429, json=load("problem_429.json"),
                  headers={"Retry-After": "3"})
    mock_orders(responses, [], set())
    outcome = sync_account(account(options={"backfill_days": 1}), store, clock=clock, sleep=clock.sleep,
                           streams=["orders"])
    assert outcome.ok, outcome.error
    assert 3 in clock.slept


@responses.activate
def test_a_spent_budget_waits_for_the_reset(store, clock):
    mock_token(responses)
    responses.add(responses.GET, f"{API}/retailer/orders", body="{}", content_type=MEDIA,
                  headers={"x-ratelimit-limit": "25", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "4"})
    assert sync_account(account(options={"backfill_days": 1}), store, clock=clock, sleep=clock.sleep,
                        streams=["orders"]).ok
    assert 4.0 in clock.slept


@responses.activate
def test_server_errors_exhausted_leave_the_cursor_alone(store, clock):
    mock_token(responses)
    responses.add(responses.GET, f"{API}/retailer/orders", status=503, body="")
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "wait")
    assert "gave up after 5 attempts" in outcome.error
    assert store.cursor("bol-nl", "orders") is None


@responses.activate
def test_a_malformed_order_stops_the_stream_and_keeps_the_cursor(store, clock):
    mock_token(responses)
    responses.add(responses.GET, f"{API}/retailer/orders", json=load("orders_page1.json"), content_type=MEDIA)
    responses.add(responses.GET, f"{API}/retailer/orders/1043946570", json=load("order_1043946570.json"))
    bad = load("order_1043965710.json")
    del bad["orderItems"][0]["latestChangedDateTime"]
    responses.add(responses.GET, f"{API}/retailer/orders/1043965710", json=bad)
    outcome = sync_account(account(options={"backfill_days": 1}), store, clock=clock, sleep=clock.sleep,
                           streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload")
    assert outcome.error == ("bol-nl: orders: bol: /retailer/orders/{order-id}: bad payload:"
                             " orderItems[0].latestChangedDateTime: missing")
    assert store.count("order", account="bol-nl") == 0  # the page's batch is all or nothing
    assert store.cursor("bol-nl", "orders") is None


@responses.activate
def test_shipments_newest_first_down_to_the_cursor_with_transport_events(store, clock):
    mock_token(responses)
    pages: list = []

    def listing(request):
        pages.append(query(request))
        return 200, {}, json.dumps(load("shipments_page1.json"))

    responses.add_callback(responses.GET, f"{API}/retailer/shipments", callback=listing)
    responses.add(responses.GET, f"{API}/retailer/shipments/541757635", json=load("shipment_541757635.json"))
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["shipments"]).ok
    assert pages == [{"fulfilment-method": "FBR", "page": "1"}]  # a short page is the last
    assert store.count("shipment", account="bol-nl") == 1
    assert store.cursor("bol-nl", "shipments") == "2026-11-21T08:12:00+00:00"
    # 30 days later the same shipment is older than the cursor less transport_days: not read again
    clock.advance(days=30)
    calls = len(responses.calls)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["shipments"]).ok
    assert not any("/shipments/541757635" in c.request.url for c in responses.calls[calls:])


@responses.activate
def test_returns_unhandled_then_handled(store, clock):
    mock_token(responses)
    asked: list = []

    def reply(request):
        q = query(request)
        asked.append(q["handled"])
        name = "returns_handled.json" if q["handled"] == "true" else "returns_unhandled.json"
        return 200, {}, json.dumps(load(name))

    responses.add_callback(responses.GET, f"{API}/retailer/returns", callback=reply)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["returns"]).ok
    assert asked == ["false", "true"]
    assert store.count("return", account="bol-nl") == 2


@responses.activate
def test_performance_last_week_and_this_week(store, clock):
    mock_token(responses)
    asked: list = []

    def reply(request):
        q = query(request)
        asked.append((q["name"], q["year"], q["week"]))
        body = load("indicator_fulfilment.json")
        body["performanceIndicators"][0]["name"] = q["name"]
        body["performanceIndicators"][0]["details"]["period"] = {"year": q["year"], "week": q["week"]}
        return 200, {}, json.dumps(body)

    responses.add_callback(responses.GET, f"{API}/retailer/insights/performance/indicator", callback=reply)
    acc = account(options={"indicators": ["FULFILMENT", "CANCELLATIONS"]})
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["performance"]).ok
    assert asked == [("FULFILMENT", "2026", "47"), ("FULFILMENT", "2026", "48"),
                     ("CANCELLATIONS", "2026", "47"), ("CANCELLATIONS", "2026", "48")]
    assert store.count("reported_metric", account="bol-nl") == 4


def test_messages_and_cases_are_not_streams():
    assert "messages" not in bol.STREAMS and "claims" not in bol.STREAMS
    assert "no API for customer messages or cases" in bol.__doc__


def test_shipments_and_returns_that_cover_several_orders_or_items_reach_each_order():
    """Issue 17 kind: one object covering several orders. A bol shipment names one order (``order`` is singular
    in the v10 spec) and an order may ship in several shipments (keyed by shipment id); a return (returnId) can
    hold items of several orders: one record per RMA, each with its own order id."""
    one = load("shipment_541757635.json")
    two = {**one, "shipmentId": "541757636"}
    assert {normalize_shipment("a", s).external_id for s in (one, two)} == {"541757635", "541757636"}
    ret = load("returns_unhandled.json")["returns"][0]
    other = {**ret["returnItems"][0], "rmaId": "31234599", "orderId": "4099999999"}
    recs = normalize_return("a", {**ret, "returnItems": [ret["returnItems"][0], other]})
    assert [(r.external_id, r.order_ref) for r in recs] == [
        (ret["returnItems"][0]["rmaId"], ret["returnItems"][0]["orderId"]), ("31234599", "4099999999")]


def test_schema_facts_of_orders_shipments_and_returns():
    o, = normalize_order("a", load("order_1043946570.json"))
    assert (o.buyer_country, str(o.items_subtotal), o.buyer_key, o.paid_at) == ("NL", "38.97", None, None)
    assert [(x.line_id, x.quantity) for x in o.lines] == [("6042823871", 3)]
    o2, c = normalize_order("a", load("order_1043965710.json"))
    assert o2.buyer_country == "BE"
    # the customer asked, the seller processed it by cancelling the item: no defect if before the promised date
    assert c.buyer_requested and c.processed_at == datetime(2026, 11, 21, 17, 2, 11, tzinfo=UTC)
    s = normalize_shipment("a", load("shipment_541757635.json"))
    assert s.first_scan_at == datetime(2026, 11, 21, 16, 40, tzinfo=UTC)  # AT_TRANSPORTER
    assert s.first_attempt_at == s.delivered_at == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    assert s.tracking_uploaded_at == s.shipped_at
    open_, = normalize_return("a", load("returns_unhandled.json")["returns"][0])
    done, = normalize_return("a", load("returns_handled.json")["returns"][0])
    assert (open_.reason, open_.reason_category) == ("Klacht over artikel / Artikel is beschadigd", "damaged")
    assert done.reason_category == "remorse"
    assert "customerComments" not in json.dumps(open_.model_dump(mode="json"))


def test_first_attempt_is_the_pick_up_point_when_nobody_was_home():
    """bol judges on-time delivery by the first attempt: a parcel left at a pick-up point on day 1 and collected
    on day 3 was attempted on day 1, delivered on day 3."""
    ship = load("shipment_541757635.json")
    ship["transport"]["transportEvents"][3:] = [
        {"eventCode": "AT_PICK_UP_POINT", "eventDateTime": "2026-11-22T13:05:00+01:00"},
        {"eventCode": "PICKED_UP_AT_PICK_UP_POINT", "eventDateTime": "2026-11-24T10:00:00+01:00"}]
    s = normalize_shipment("a", ship)
    assert s.first_attempt_at == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    assert s.delivered_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    chosen = {**ship, "pickupPoint": True}  # the customer chose the pick-up point: arriving there is delivery
    assert normalize_shipment("a", chosen).delivered_at == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)


EVENT_ENUM = ["PRE_ANNOUNCED", "AT_TRANSPORTER", "IN_TRANSIT", "DELIVERED_AT_NEIGHBOURS", "DELIVERED_AT_CUSTOMER",
              "PICKED_UP_AT_PICK_UP_POINT", "AT_PICK_UP_POINT", "RETURNED_TO_SENDER", "INBOUND_COLLECT"]


def test_every_transport_event_code_of_the_spec_is_known(specs):
    spec = load_spec(specs / "bol" / "retailer-v10.json")
    assert spec["components"]["schemas"]["TransportEvent"]["properties"]["eventCode"]["enum"] == EVENT_ENUM
    from sellerguard.connectors.bol_normalize import EVENT_CODES
    assert set(EVENT_ENUM) == EVENT_CODES


@pytest.mark.parametrize("code,scan,attempt", [
    ("PRE_ANNOUNCED", False, False), ("INBOUND_COLLECT", False, False), ("AT_TRANSPORTER", True, False),
    ("IN_TRANSIT", True, False), ("DELIVERED_AT_NEIGHBOURS", True, True), ("DELIVERED_AT_CUSTOMER", True, True),
    ("PICKED_UP_AT_PICK_UP_POINT", True, True), ("AT_PICK_UP_POINT", True, True), ("RETURNED_TO_SENDER", True, False),
])
def test_each_transport_event_code_is_a_scan_or_an_attempt_or_neither(code, scan, attempt):
    ship = load("shipment_541757635.json")
    ship["transport"]["transportEvents"] = [{"eventCode": code, "eventDateTime": "2026-11-22T13:05:00+01:00"}]
    s = normalize_shipment("a", ship)
    assert (s.first_scan_at is not None, s.first_attempt_at is not None) == (scan, attempt)


def test_an_unknown_event_code_is_warned_once_and_never_a_delivery(caplog):
    ship = load("shipment_541757635.json")
    ship["transport"]["transportEvents"] = [{"eventCode": "TELEPORTED", "eventDateTime": "2026-11-22T13:05:00+01:00"}]
    with caplog.at_level("WARNING", logger="sellerguard.connectors.bol"):
        s = normalize_shipment("a", ship)
        normalize_shipment("a", ship)
    assert (s.delivered_at, s.first_attempt_at, s.tracking_validated) == (None, None, None)
    assert sum("TELEPORTED" in r.message for r in caplog.records) == 1


@pytest.mark.parametrize("main,detailed,category", [
    ("Verkeerde maat of afmeting", "Te groot", "remorse"), ("Verkeerd besteld", "Dubbel besteld", "remorse"),
    ("Artikel werkt niet", None, "not_as_described"), ("Klacht over artikel", "Artikel is incompleet",
                                                       "not_as_described"),
    ("Klacht over artikel", "Artikel is beschadigd", "damaged"), ("Klacht over de bezorging",
                                                                  "Verpakking is beschadigd", "damaged"),
    ("Klacht over de bezorging", "Artikel is te laat bezorgd", "other"), ("Elders goedkoper", None, "remorse"),
    ("Ander artikel ontvangen dan besteld", "Onduidelijke afbeelding", "not_as_described"),
    ("Anders", "Ik heb me bedacht", "remorse"), ("Anders", "Anders-namelijk", "other"),
    ("Iets nieuws", None, None),
])
def test_every_main_return_reason_of_the_spec_has_a_category(main, detailed, category):
    from sellerguard.connectors.bol_normalize import reason_category
    assert reason_category(main, detailed) == category


# -- token shapes and state (issue 17 item 4, issue 18 kind 4) -----------------------------------------------


@pytest.mark.parametrize("status,body", [
    (401, "JWT expired at 2026-11-23T11:59:19Z. Current time: 2026-11-23T12:00:00Z, a difference of 40501"
          " milliseconds.  Allowed clock skew: 1000 milliseconds."),  # ho-nl/BolCom_RetailerApi#30
    (403, json.dumps({"type": "https://api.bol.com/problems", "title": "Forbidden", "status": 403,
                      "detail": "JWT expired at 2026-11-23T11:59:19Z"})),
])
@responses.activate
def test_every_expired_token_shape_gets_one_new_token_and_a_retry(store, clock, status, body):
    asked: list = []
    mock_token(responses, asked)
    responses.add(responses.GET, f"{API}/retailer/orders", status=status, body=body)
    responses.add(responses.GET, f"{API}/retailer/orders", body="{}", content_type=MEDIA)
    outcome = sync_account(account(options={"backfill_days": 1}), store, clock=clock, sleep=clock.sleep,
                           streams=["orders"])
    assert outcome.ok, outcome.error
    assert len(asked) == 2 and store.state("bol-nl", "access_token").endswith(" jwt-2")


@pytest.mark.parametrize("reply,named", [
    ({"token_type": "Bearer", "expires_in": 299}, "access_token"),
    ({"access_token": "jwt-1", "expires_in": 1e308}, "expires_in"),
    ({"access_token": "jwt-1", "expires_in": "2026-11-23T12:05:00Z"}, "expires_in"),
    ({"access_token": "jwt 1", "expires_in": 299}, "access_token"),
])
@responses.activate
def test_a_bad_token_reply_is_a_payload_error_and_is_not_kept(store, clock, reply, named):
    responses.add(responses.POST, "https://login.bol.com/token", json=reply)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload") and named in outcome.error
    assert store.state("bol-nl", "access_token") is None


@responses.activate
def test_revoked_credentials_name_the_account_and_a_garbled_stored_token_is_dropped(store, clock):
    store.put_state("bol-nl", "access_token", "9999-99-99 jwt-old", now=clock.now())
    responses.add(responses.POST, "https://login.bol.com/token", status=401,
                  json={"error": "invalid_client", "error_description": "Bad client credentials"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "account 'bol-nl'" in outcome.error and "re-create" in outcome.error
    assert "csecret" not in outcome.error
    assert store.state("bol-nl", "access_token") is None  # the garbled value was dropped, not kept


# -- resumable backfills (issue 18 kind 5) ------------------------------------------------------------------


def _shipments_pages(n_pages: int) -> list[dict]:
    """``n_pages`` full pages of 50 shipments, newest first, one an hour back from 2026-11-21 09:00 UTC."""
    base = load("shipments_page1.json")["shipments"][0]
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    rows = [{**base, "shipmentId": str(600_000_000 + i),
             "shipmentDateTime": (start - timedelta(hours=i)).isoformat()} for i in range(50 * n_pages)]
    return [{"shipments": rows[p * 50:(p + 1) * 50]} for p in range(n_pages)]


@responses.activate
def test_an_interrupted_shipments_backfill_skips_what_it_read_in_full(store, clock):
    mock_token(responses)
    pages = _shipments_pages(3)
    broken = {"on": True}

    def listing(request):
        n = int(query(request)["page"])
        if broken["on"] and n == 2:
            return 500, {}, json.dumps({"title": "Internal Server Error", "status": 500})
        return 200, {}, json.dumps(pages[n - 1] if n <= 3 else {})

    def detail(request):
        sid = request.url.rsplit("/", 1)[1]
        row = next(r for p in pages for r in p["shipments"] if r["shipmentId"] == sid)
        return 200, {}, json.dumps({**load("shipment_541757635.json"), "shipmentId": sid,
                                    "shipmentDateTime": row["shipmentDateTime"]})

    responses.add_callback(responses.GET, f"{API}/retailer/shipments", callback=listing)
    responses.add_callback(responses.GET, re.compile(f"{API}/retailer/shipments/\\d+"), callback=detail)
    clock.advance(days=20)  # these shipments are older than transport_days: no reason to read them again
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["shipments"])
    assert (outcome.ok, store.count("shipment", account="bol-nl")) == (False, 50)
    cursor = json.loads(store.cursor("bol-nl", "shipments"))
    assert cursor["low"] == (datetime(2026, 11, 21, 9, 0, tzinfo=UTC) - timedelta(hours=49)).isoformat()
    broken["on"] = False
    calls = len(responses.calls)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["shipments"]).ok
    details = [c for c in responses.calls[calls:] if re.search(r"/shipments/\d+", c.request.url)]
    assert len(details) == 100 and store.count("shipment", account="bol-nl") == 150  # page one not read again
    assert store.cursor("bol-nl", "shipments") == "2026-11-21T09:00:00+00:00"


@responses.activate
def test_an_interrupted_returns_backfill_resumes_near_its_page(store, clock):
    mock_token(responses)
    ret = load("returns_handled.json")["returns"][0]
    item = ret["returnItems"][0]
    # handled after it was registered (the schema refuses a return resolved before it was requested)
    rows = [{**ret, "returnId": str(i), "registrationDateTime": (NOW - timedelta(hours=i)).isoformat(),
             "returnItems": [{**item, "rmaId": str(80_000_000 + i), "processingResults": [
                 {**r, "processingDateTime": (NOW - timedelta(hours=i, minutes=-30)).isoformat()}
                 for r in item["processingResults"]]}]} for i in range(200)]
    asked: list[tuple[str, str]] = []
    broken = {"on": True}

    def reply(request):
        q = query(request)
        asked.append((q["handled"], q["page"]))
        n = int(q["page"])
        if q["handled"] == "false":
            return 200, {}, "{}"
        if broken["on"] and n == 3:
            return 500, {}, json.dumps({"title": "Internal Server Error", "status": 500})
        return 200, {}, json.dumps({"returns": rows[(n - 1) * 50:n * 50]} if n <= 4 else {})

    responses.add_callback(responses.GET, f"{API}/retailer/returns", callback=reply)
    assert not sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["returns"]).ok
    assert json.loads(store.cursor("bol-nl", "returns"))["page"] == 3
    broken["on"] = False
    asked.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["returns"]).ok
    assert [p for h, p in asked if h == "true"] == ["2", "3", "4", "5"]  # one page of overlap, not from page 1
    assert store.count("return", account="bol-nl") == 200
    assert store.cursor("bol-nl", "returns") == NOW.isoformat()


@pytest.mark.parametrize("body", ["[]", "123", json.dumps({"shipmentz": []}), json.dumps({"shipments": [1]})])
@responses.activate
def test_a_list_without_its_structure_is_a_payload_error_not_an_empty_page(store, clock, body):
    mock_token(responses)
    responses.add(responses.GET, f"{API}/retailer/shipments", body=body, content_type=MEDIA)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["shipments"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload")
    assert store.cursor("bol-nl", "shipments") is None


@pytest.mark.parametrize("value", ["../../shared/x", "2026-13-45T99:99:99Z", "x" * 5000, [1], True, "a\x00b"])
def test_a_garbled_id_is_a_payload_error_not_a_record_under_the_wrong_key(value):
    order = {**load("order_1043946570.json"), "orderId": value}
    with pytest.raises(ConnectorError) as err:
        normalize_order("a", order)
    assert err.value.kind == "payload" and "orderId" in str(err.value)
    ship = load("shipment_541757635.json")
    with pytest.raises(ConnectorError):
        normalize_shipment("a", {**ship, "shipmentId": value})


def test_an_indicator_answer_without_the_indicator_asked_for_is_a_payload_error():
    """Fuzz (issue 18): a reply that lost its row was read as "no figure this week" and the sync said ok."""
    body = load("indicator_fulfilment.json")
    with pytest.raises(ConnectorError) as err:
        normalize_indicator("a", {**body, "performanceIndicators": []}, final=True, as_of=NOW, expected="FULFILMENT")
    assert "FULFILMENT" in str(err.value)
    assert normalize_indicator("a", body, final=True, as_of=NOW, expected="FULFILMENT")


@pytest.mark.parametrize("mangle", [
    lambda s: s.update(shipmentItems=7),
    lambda s: s["transport"].update(transportEvents=[None]),
])
def test_a_shipment_part_of_the_wrong_type_is_a_payload_error(mangle):
    ship = load("shipment_541757635.json")
    mangle(ship)
    with pytest.raises(ConnectorError):
        normalize_shipment("a", ship)


@pytest.mark.parametrize("item", [7, {"processingResults": 5}])
def test_a_return_item_of_the_wrong_type_is_a_payload_error(item):
    ret = load("returns_handled.json")["returns"][0]
    bad = {**ret, "returnItems": [item if not isinstance(item, dict) else {**ret["returnItems"][0], **item}]}
    with pytest.raises(ConnectorError):
        normalize_return("a", bad)
