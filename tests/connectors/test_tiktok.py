"""TikTok Shop connector: hand-made fixtures (TikTok publishes no spec) replayed with `responses`.

The fake API below checks every request's signature with its own HMAC code, independent of the connector's.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.connectors.tiktok_normalize import normalize_cancellation, normalize_order, normalize_return
from sellerguard.connectors.tiktok_sign import SignedRequest, sign
from sellerguard.errors import ConnectorError
from sellerguard.sync import sync_account

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tiktok"
API = "https://open-api.tiktokglobalshop.com"
AUTH = "https://auth.tiktok-shops.com"
SECRET = "appsecret"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def account(**options):
    return parse_config({"accounts": [{
        "id": "tts-1", "marketplace": "tiktok", "region": "US",
        "credentials": {"app_key": "appkey", "app_secret": SECRET, "refresh_token": "rt-0"},
        "options": {"performance": True, **options},
    }]}).accounts[0]


def orders(n: int, start: int) -> list[dict]:
    base = load("order__delivered")
    out = []
    for i in range(n):
        o = copy.deepcopy(base)
        o["id"] = str(576461413038790000 + i)
        o["update_time"] = start + i * 60
        out.append(o)
    return out


# -- the worked example, computed by hand --------------------------------------------------------------


def test_signature_matches_the_worked_example():
    params = {"app_key": "ak", "shop_cipher": "sc", "timestamp": "1000", "access_token": "at", "sign": "old"}
    # HMAC-SHA256(key="shh", message="shh" + "/order/202309/orders/search" + "app_keyak" + "shop_ciphersc"
    #                                 + "timestamp1000" + "shh"); sign and access_token are never signed
    assert sign("shh", "/order/202309/orders/search", params) == \
        "82a6765f5b35bd5bc4207e2b77b75b3ade4eaa81ec0bd067e38e0223d7f181a1"
    # with a body, its exact bytes go between the sorted parameters and the closing secret
    params["page_size"] = "100"
    assert sign("shh", "/order/202309/orders/search", params, b'{"update_time_ge":1000}') == \
        "48def649f11810c511f37bbae1c08eccfda1390cefba29ece06d4544e9141303"


@responses.activate
def test_the_hook_signs_the_bytes_on_the_wire_under_a_path_prefix():
    got = {}
    responses.add_callback(responses.POST, "http://127.0.0.1:9/tiktok/order/202309/orders/search",
                           callback=lambda r: (got.update(url=r.url, body=r.body), (200, {}, "{}"))[1])
    clock = FixedClock(datetime.fromtimestamp(1000, UTC))
    hook = SignedRequest("ak", "shh", clock, base_path="/tiktok", access_token=lambda: "at", shop_cipher="sc")
    requests.post("http://127.0.0.1:9/tiktok/order/202309/orders/search?page_size=100", auth=hook,
                  data=b'{"update_time_ge":1000}', headers={"Content-Type": "application/json"})
    query = dict(parse_qsl(urlsplit(got["url"]).query))
    assert query == {"page_size": "100", "app_key": "ak", "timestamp": "1000", "shop_cipher": "sc",
                     "sign": "48def649f11810c511f37bbae1c08eccfda1390cefba29ece06d4544e9141303"}


# -- normalization -------------------------------------------------------------------------------------


def test_orders_cancellations_and_returns_normalize():
    order, shipment = normalize_order("t", load("order__delivered"), "POST search", "data.orders[0]")
    assert order.status == "delivered" and order.fulfilment == "seller" and str(order.total) == "39.9800"
    assert order.ship_by.timestamp() == load("order__delivered")["rts_sla_time"]
    assert shipment.external_id == "576461413038785001-1152921504000001"
    assert shipment.tracking_number == "9400111899223300000001" and shipment.delivered_at is not None
    assert shipment.confirmed_at.timestamp() == load("order__delivered")["rts_time"]

    order, cancel = normalize_order("t", load("order__cancelled"), "POST search", "data.orders[1]")
    assert order.status == "cancelled" and cancel.initiated_by == "seller" and not cancel.buyer_requested
    (waiting,) = normalize_order("t", load("order__awaiting_shipment"), "POST search", "data.orders[2]")
    assert waiting.status == "unshipped"
    fbt = dict(load("order__awaiting_shipment"), fulfillment_type="FULFILLMENT_BY_TIKTOK")
    assert normalize_order("t", fbt, "x", "y")[0].fulfilment == "marketplace"

    by_seller = normalize_cancellation("t", load("cancellation__by_seller"), "POST c", "data.cancellations[0]")
    by_buyer = normalize_cancellation("t", load("cancellation__by_buyer"), "POST c", "data.cancellations[1]")
    assert (by_seller.initiated_by, by_seller.buyer_requested) == ("seller", False)
    assert (by_buyer.initiated_by, by_buyer.buyer_requested) == ("buyer", True)
    assert by_seller.external_id == cancel.external_id  # the same cancellation from both endpoints: one row
    pending = dict(load("cancellation__by_buyer"), cancel_status="CANCELLATION_REQUEST_PENDING")
    assert normalize_cancellation("t", pending, "x", "y") is None

    ret = normalize_return("t", load("return__damaged"), "POST r", "data.return_orders[0]")
    assert ret.dissatisfied is True and str(ret.refund_amount) == "39.9800" and ret.resolved_at is not None


def test_malformed_order_names_endpoint_and_field():
    broken = load("order__delivered")
    broken["create_time"] = "soon"
    with pytest.raises(ConnectorError) as err:
        normalize_order("t", broken, "POST /order/202309/orders/search", "data.orders[3]")
    assert str(err.value) == ("tiktok: POST /order/202309/orders/search: bad payload: data.orders[3].create_time: "
                              "not unix seconds: 'soon'")


# -- the fake API --------------------------------------------------------------------------------------


def envelope(data, code=0, message="Success"):
    return json.dumps({"code": code, "message": message, "request_id": "REQ1", "data": data})


class FakeTikTok:
    def __init__(self, rsps: responses.RequestsMock, now: int, *, orders=(), cancellations=(), returns=(),
                 reviews=()):
        self.now = now
        self.data = {"orders": list(orders), "cancellations": list(cancellations),
                     "return_orders": list(returns), "reviews": list(reviews)}
        self.calls: list[tuple[str, dict, dict]] = []
        self.refreshes: list[dict] = []
        self.faults: dict[str, list] = {}  # path -> responses to give first
        rsps.add_callback(responses.GET, f"{AUTH}/api/v2/token/refresh", callback=self.token)
        rsps.add_callback(responses.GET, f"{API}/authorization/202309/shops", callback=self.handle)
        rsps.add_callback(responses.GET, f"{API}/customer_service/202407/performance", callback=self.handle)
        for path in ("/order/202309/orders/search", "/return_refund/202309/cancellations/search",
                     "/return_refund/202309/returns/search", "/review_rating/202605/product_reviews/search"):
            rsps.add_callback(responses.POST, f"{API}{path}", callback=self.handle)

    def token(self, request):
        q = dict(parse_qsl(urlsplit(request.url).query))
        self.refreshes.append(q)
        n = len(self.refreshes)
        data = {**load("token")["data"], "access_token": f"at-{n}", "refresh_token": f"rt-{n}",
                "access_token_expire_in": self.now + 7 * 86400}
        return 200, {}, envelope(data)

    def handle(self, request):
        parts = urlsplit(request.url)
        q = dict(parse_qsl(parts.query))
        body = request.body or b""
        # independent check of the signature over path, sorted params and the exact body bytes
        base = parts.path + "".join(f"{k}{q[k]}" for k in sorted(q) if k not in ("sign", "access_token"))
        expected = hmac.new(SECRET.encode(), SECRET.encode() + base.encode() + body + SECRET.encode(),
                            hashlib.sha256).hexdigest()
        assert q.pop("sign") == expected
        assert request.headers["x-tts-access-token"].startswith("at-")
        assert q["app_key"] == "appkey" and int(q["timestamp"]) > 0
        if parts.path != "/authorization/202309/shops":
            assert q["shop_cipher"] == "ROW_sample_cipher"
        payload = json.loads(body) if body else {}
        self.calls.append((parts.path, q, payload))
        if self.faults.get(parts.path):
            return self.faults[parts.path].pop(0)
        if parts.path == "/authorization/202309/shops":
            return 200, {}, json.dumps(load("shops"))
        if parts.path.endswith("/performance"):
            return 200, {}, json.dumps(load("performance"))
        key = {"orders": "orders", "cancellations": "cancellations", "returns": "return_orders",
               "product_reviews": "reviews"}[parts.path.split("/")[3]]
        items = self.data[key]
        if "update_time_ge" in payload:
            items = [i for i in items if payload["update_time_ge"] <= i["update_time"] < payload["update_time_lt"]]
        start = int(q.get("page_token") or 0)
        size = int(q["page_size"])
        page = items[start:start + size]
        more = start + size < len(items)
        return 200, {}, envelope({key: page, "total_count": len(items),
                                  "next_page_token": str(start + size) if more else ""})


def run(store, clock, **kw):
    return sync_account(account(**kw.pop("options", {})), store, clock=clock, sleep=clock.sleep, **kw)


@responses.activate
def test_full_sync_of_every_stream(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(150, now - 10 * 86400),
                      cancellations=[load("cancellation__by_seller"), load("cancellation__by_buyer")],
                      returns=[load("return__damaged")], reviews=[load("review")])
    outcome = run(store, clock)
    assert outcome.ok, outcome.error
    searches = [(p, q, b) for p, q, b in fake.calls if p == "/order/202309/orders/search"]
    assert [q.get("page_token") for _, q, _ in searches] == [None, "100"]  # paged to the end
    # calls: pages only (lines, packages, cancellation facts come inside each order; tiktok-shop.md, Calls)
    assert [p for p, _, _ in fake.calls if p.startswith("/order/")] == ["/order/202309/orders/search"] * 2
    assert searches[0][1]["sort_field"] == "update_time" and searches[0][1]["sort_order"] == "ASC"
    assert searches[0][2] == {"update_time_ge": now - 90 * 86400, "update_time_lt": now}
    assert store.count("order", account="tts-1") == 150
    assert store.count("cancellation", account="tts-1") == 2
    assert store.count("return", account="tts-1") == 1
    assert store.count("rating", account="tts-1") == 1
    assert store.count("reported_metric", account="tts-1") == 2
    assert store.cursor("tts-1", "orders") == str(now)
    assert store.state("tts-1", "shop_cipher") == "ROW_sample_cipher"
    assert len(fake.refreshes) == 1  # one token for all five streams
    assert fake.refreshes[0] == {"app_key": "appkey", "app_secret": SECRET, "refresh_token": "rt-0",
                                 "grant_type": "refresh_token"}


@responses.activate
def test_token_expiry_is_absolute_and_the_rotated_refresh_token_is_kept(store, clock):
    now = int(clock.now().timestamp())
    FakeTikTok(responses.mock, now)
    assert run(store, clock, streams=["orders"]).ok
    assert store.state("tts-1", "refresh_token") == "rt-1"
    # access_token_expire_in is a unix time: expiry is that moment, not now + that many seconds
    assert store.state("tts-1", "access_token") == f"{now + 7 * 86400}:at-1"
    assert store.state("tts-1", "refresh_token_expires_at") == str(load("token")["data"]["refresh_token_expire_in"])


@responses.activate
def test_expired_token_code_mid_sync_refreshes_once(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(150, now - 86400))
    # page 2 answers HTTP 200 with code 105002, as TikTok does
    state = {"n": 0}
    original = fake.handle

    def second_page_expired(request):
        if "orders/search" in request.url:
            state["n"] += 1
            if state["n"] == 2:
                return 200, {}, envelope(None, 105002, "access token is expired, please refresh it")
        return original(request)

    responses.mock.remove(responses.POST, f"{API}/order/202309/orders/search")
    responses.mock.add_callback(responses.POST, f"{API}/order/202309/orders/search", callback=second_page_expired)
    outcome = run(store, clock, streams=["orders"])
    assert outcome.ok, outcome.error
    assert [r["refresh_token"] for r in fake.refreshes] == ["rt-0", "rt-1"]
    assert store.count("order", account="tts-1") == 150


@responses.activate
def test_code_errors_are_sorted_config_wait_payload(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    path = "/order/202309/orders/search"
    fake.faults[path] = [(200, {}, envelope(None, 105005, "you should apply auth pkg for this api"))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "config"
    assert "lacks the API package" in outcome.error and "request_id REQ1" in outcome.error
    assert SECRET not in outcome.error

    fake.faults[path] = [(200, {}, envelope(None, 36009999, "too many requests, please retry later"))]
    assert run(store, clock, streams=["orders"]).ok  # throttled in the body: retried like a 429

    fake.faults[path] = [(200, {}, envelope(None, 12052700, "update_time_lt must be greater than update_time_ge"))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "TikTok code 12052700" in outcome.error


@responses.activate
def test_http_429_waits_then_succeeds(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    fake.faults["/order/202309/orders/search"] = [(429, {"Retry-After": "4"}, envelope(None, 429, "Too many requests"))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.ok, outcome.error
    assert 4 in clock.slept and store.count("order", account="tts-1") == 3


@responses.activate
def test_5xx_exhausted_keeps_the_cursor(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    fake.faults["/order/202309/orders/search"] = [(502, {}, "Bad Gateway")] * 5
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "wait" and outcome.error.endswith("(HTTP 502); gave up after 5 attempts")
    assert store.cursor("tts-1", "orders") is None and store.count("order", account="tts-1") == 0


@responses.activate
def test_malformed_page_stores_nothing_of_that_page(store, clock):
    now = int(clock.now().timestamp())
    items = orders(150, now - 86400)
    del items[130]["create_time"]
    FakeTikTok(responses.mock, now, orders=items)
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload"
    assert outcome.error.endswith(
        "POST /order/202309/orders/search: bad payload: data.orders[130].create_time: missing")
    assert store.count("order", account="tts-1") == 100
    assert store.cursor("tts-1", "orders") == str(now - 86400 + 99 * 60)


@responses.activate
def test_rerun_asks_only_for_what_changed(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(5, now - 3600))
    assert run(store, clock, streams=["orders"]).ok
    clock.advance(1800)
    fake.calls.clear()
    fake.data["orders"].append({**orders(1, now + 900)[0], "id": "999"})
    assert run(store, clock, streams=["orders"]).ok
    (_, _, body), = [c for c in fake.calls if c[0].endswith("orders/search")]
    assert body == {"update_time_ge": now - 300, "update_time_lt": now + 1800}
    assert store.count("order", account="tts-1") == 6


@responses.activate
def test_reviews_without_the_package_say_how_to_switch_them_off(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    fake.faults["/review_rating/202605/product_reviews/search"] = [
        (200, {}, envelope(None, 32002017, "app is not authorized for this api"))]
    outcome = run(store, clock, streams=["reviews"])
    assert outcome.error_kind == "config" and outcome.error.endswith("(or set options.reviews = false)")
    assert run(store, clock, streams=["reviews"], options={"reviews": False}).ok


def test_a_package_shared_by_orders_or_split_over_packages_is_seen_by_every_order():
    """Issue 17 kind: one object covering several orders. TikTok combines orders into one package and splits
    an order over several; shipments are per (order, package), so every order sees its package(s)."""
    first, second = orders(2, 1795262400)
    (_, s1), (_, s2) = (normalize_order("t", o, "POST search", "data.orders[]") for o in (first, second))
    assert (s1.order_ref, s2.order_ref) == (first["id"], second["id"])  # one package, both orders
    assert s1.external_id != s2.external_id and s1.tracking_number == s2.tracking_number
    split = copy.deepcopy(first)
    split["line_items"][1]["package_id"] = "1152921504000002"
    split["line_items"][1]["tracking_number"] = "9400111899223300000002"
    _, *ships = normalize_order("t", split, "POST search", "data.orders[]")
    assert sorted((s.external_id.split("-")[-1], s.item_count) for s in ships) == [
        ("1152921504000001", 1), ("1152921504000002", 1)]


def test_schema_facts_from_the_order_and_the_return():
    from sellerguard.connectors.contract import SyncContext

    ctx = SyncContext(account=account(), state=None, clock=FixedClock(datetime(2026, 11, 23, tzinfo=UTC)),
                      sleep=lambda s: None)
    order, shipment = normalize_order("t", load("order__delivered"), "POST search", "data.orders[0]",
                                      buyer_key=ctx.buyer_key)
    assert order.buyer_key == ctx.buyer_key("7021436810468230477") and len(order.buyer_key) == 64
    assert "7021436810468230477" not in order.model_dump_json()  # never the raw buyer id
    assert (order.buyer_country, order.order_type, str(order.items_subtotal)) == ("US", "NORMAL", "49.9800")
    assert order.paid_at.timestamp() == load("order__delivered")["paid_time"]
    assert [(line.line_id, line.quantity, line.category_id) for line in order.lines] == [
        ("5764614130387850011", 1, None), ("5764614130387850012", 1, None)]
    assert shipment.first_scan_at.timestamp() == load("order__delivered")["collection_time"]
    ret = normalize_return("t", load("return__damaged"), "POST r", "data.return_orders[0]")
    assert (ret.reason, ret.reason_category) == ("ecom_order_delivered_refund_and_return_reason_damaged", "damaged")
    remorse = dict(load("return__damaged"), return_reason="ecom_order_delivered_refund_reason_no_longer_needed")
    assert normalize_return("t", remorse, "x", "y").reason_category == "remorse"


@pytest.mark.parametrize("status,expected", [
    ("UNPAID", "pending"), ("ON_HOLD", "pending"), ("AWAITING_SHIPMENT", "unshipped"),
    ("PARTIALLY_SHIPPING", "partially_shipped"), ("AWAITING_COLLECTION", "shipped"), ("IN_TRANSIT", "shipped"),
    ("DELIVERED", "delivered"), ("COMPLETED", "delivered"), ("CANCELLED", "cancelled"),
])
def test_every_listed_order_status_is_mapped(status, expected):
    order = dict(load("order__awaiting_shipment"), status=status)
    assert normalize_order("t", order, "x", "y")[0].status == expected


def test_an_unknown_status_is_kept_recognisable_and_warned_once(caplog):
    order = dict(load("order__awaiting_shipment"), status="AWAITING_PICKUP_BY_ALIENS")
    with caplog.at_level("WARNING", logger="sellerguard.connectors.tiktok"):
        first = normalize_order("t", order, "x", "y")[0]
        normalize_order("t", order, "x", "y")
    assert first.status == "unknown"  # never a plausible wrong state such as "pending"
    assert sum("AWAITING_PICKUP_BY_ALIENS" in r.message for r in caplog.records) == 1
    odd = dict(load("return__damaged"), return_status="RETURN_TELEPORTED")
    assert normalize_return("t", odd, "x", "y").resolved_at is None  # kept open, not resolved by a guess


# -- token replies and state that must never be kept (issue 18 kind 4) -----------------------------------


@pytest.mark.parametrize("patch,named", [
    ({"access_token_expire_in": "2026-11-30T12:00:00Z"}, "access_token_expire_in"),  # date-shaped
    ({"access_token_expire_in": 1e308}, "access_token_expire_in"),
    ({"access_token_expire_in": 604800}, "access_token_expire_in"),  # a duration, not a unix time (G3)
    ({"refresh_token_expire_in": "never"}, "refresh_token_expire_in"),
    ({"access_token": None}, "access_token"),
    ({"access_token": "at 1\n"}, "access_token"),
])
@responses.activate
def test_a_bad_token_reply_is_a_payload_error_and_nothing_is_saved(store, clock, patch, named):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    good = fake.token

    def token(request):
        status, headers, body = good(request)
        data = {**json.loads(body)["data"], **patch}
        return status, headers, envelope(data)

    responses.mock.remove(responses.GET, f"{AUTH}/api/v2/token/refresh")
    responses.mock.add_callback(responses.GET, f"{AUTH}/api/v2/token/refresh", callback=token)
    outcome = run(store, clock, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload"), outcome.error
    assert named in outcome.error
    for key in ("access_token", "refresh_token", "refresh_token_expires_at"):
        assert store.state("tts-1", key) is None, key  # the configured refresh token stays the one in use


@responses.activate
def test_garbled_state_is_dropped_and_fetched_again(store, clock):
    now = int(clock.now().timestamp())
    FakeTikTok(responses.mock, now)
    store.put_state("tts-1", "access_token", "99999999999999999999:at-old", now=clock.now())  # huge expiry
    store.put_state("tts-1", "shop_cipher", "ROW bad\u0000cipher", now=clock.now())
    outcome = run(store, clock, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.state("tts-1", "shop_cipher") == "ROW_sample_cipher"
    assert store.state("tts-1", "access_token").endswith(":at-1")


@responses.activate
def test_a_garbled_shop_cipher_or_huge_shop_id_is_never_saved(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    shops = load("shops")
    shops["data"]["shops"][0]["cipher"] = "x" * 5000
    fake.faults["/authorization/202309/shops"] = [(200, {}, json.dumps(shops))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "cipher" in outcome.error
    assert store.state("tts-1", "shop_cipher") is None
    huge = parse_config({"accounts": [{
        "id": "tts-1", "marketplace": "tiktok", "region": "US",
        "credentials": {"app_key": "appkey", "app_secret": SECRET, "refresh_token": "rt-0"},
        "options": {"shop_id": str(10**40)}}]}).accounts[0]
    outcome = sync_account(huge, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "shop_id" in outcome.error
    assert store.state("tts-1", "shop_cipher") is None


@responses.activate
def test_a_revoked_refresh_token_says_reauthorize_and_names_the_account(store, clock):
    now = int(clock.now().timestamp())
    FakeTikTok(responses.mock, now)
    responses.mock.remove(responses.GET, f"{AUTH}/api/v2/token/refresh")
    responses.mock.add(responses.GET, f"{AUTH}/api/v2/token/refresh",
                       body=envelope(None, 36004005, "refresh_token is invalid or expired"))
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "config"
    assert "re-authorize the shop of account 'tts-1'" in outcome.error and "rt-0" not in outcome.error


@pytest.mark.parametrize("data,ok", [
    ({"total_count": 0, "next_page_token": ""}, True),  # TikTok leaves the list out when nothing matched
    ({"total_count": 7, "next_page_token": ""}, False),  # says 7, sends none: not an empty page
    ({}, False),
    ({"orders": "none", "total_count": 0}, False),
    ({"orders": [None], "total_count": 1}, False),
])
@responses.activate
def test_a_page_without_its_list_is_empty_only_when_it_says_so(store, clock, data, ok):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    fake.faults["/order/202309/orders/search"] = [(200, {}, envelope(data))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.ok is ok, outcome.error
    if not ok:
        assert outcome.error_kind == "payload" and store.cursor("tts-1", "orders") is None


@responses.activate
def test_a_page_token_that_comes_back_is_a_payload_error_not_a_loop(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    page = (200, {}, envelope({"orders": orders(3, now - 3600)[:1], "total_count": 3, "next_page_token": "A"}))
    page2 = (200, {}, envelope({"orders": orders(3, now - 3600)[1:2], "total_count": 3, "next_page_token": "A"}))
    fake.faults["/order/202309/orders/search"] = [page, page2]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "twice" in outcome.error


@pytest.mark.parametrize("value", ["USPS\x00", "\ud800", ["USPS"], {"x": None}])
def test_text_with_control_characters_or_of_another_type_is_never_stored(value):
    order = dict(load("order__delivered"), shipping_provider=value)
    for line in order["line_items"]:
        line["shipping_provider_name"] = None
    with pytest.raises(ConnectorError) as err:
        normalize_order("t", order, "POST search", "data.orders[0]")
    assert "shipping_provider" in str(err.value)


@responses.activate
def test_an_infinite_code_is_an_error_line_not_an_overflow_traceback(store, clock):
    """Fuzz (issue 18): ``"code": 1e400`` (read as infinity) crashed classify with an OverflowError."""
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    fake.faults["/order/202309/orders/search"] = [(200, {}, '{"code": 1e400, "message": "x", "data": null}')]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "TikTok code -1" in outcome.error


def test_a_shipped_line_without_its_package_id_is_a_payload_error_when_the_order_lists_packages():
    """Fuzz (issue 18): the shipment was stored under package "1" and the real package never arrived."""
    order = load("order__delivered")
    del order["line_items"][0]["package_id"]
    with pytest.raises(ConnectorError) as err:
        normalize_order("t", order, "POST search", "data.orders[0]")
    assert "line_items[0].package_id" in str(err.value)


@responses.activate
def test_a_shop_cipher_tiktok_refuses_is_dropped_and_looked_up_again(store, clock):
    """Fuzz (issue 18): a cipher that looks fine but TikTok refuses (code 36009004) was kept: every sync failed."""
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now)
    store.put_state("tts-1", "shop_cipher", "ROW_stale_cipher", now=clock.now())
    path = f"{API}/order/202309/orders/search"

    def search(request):
        if "ROW_stale_cipher" in request.url:
            return 200, {}, envelope(None, 36009004, "shop_cipher is invalid")
        return fake.handle(request)

    responses.mock.remove(responses.POST, path)
    responses.mock.add_callback(responses.POST, path, callback=search)
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "config" and "shop_cipher" in outcome.error
    assert store.state("tts-1", "shop_cipher") is None
    assert run(store, clock, streams=["orders"]).ok
    assert store.state("tts-1", "shop_cipher") == "ROW_sample_cipher"


def test_an_order_without_its_line_items_is_a_payload_error_not_a_guessed_package():
    # fuzz finding: without line_items the shipment was stored under a made-up package id and the real one lost
    broken = load("order__delivered")
    del broken["line_items"]
    with pytest.raises(ConnectorError, match=r"data.orders\[0\].line_items: missing"):
        normalize_order("t", broken, "POST /order/202309/orders/search", "data.orders[0]")
