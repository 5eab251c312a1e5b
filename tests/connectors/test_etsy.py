"""Etsy connector: spec-shaped fixtures replayed with `responses` (no network), clock fixed, sleep recorded."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from sellerguard.config import parse_config
from sellerguard.connectors.etsy_normalize import normalize_receipt, normalize_review
from sellerguard.errors import ConnectorError
from sellerguard.schema import Cancellation, Order, Rating, Return, Shipment
from sellerguard.sync import sync_account

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "etsy"
API = "https://api.etsy.com"
RECEIPTS = f"{API}/v3/application/shops/88001/receipts"
REVIEWS = f"{API}/v3/application/shops/88001/reviews"
TOKEN = f"{API}/v3/public/oauth/token"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def account(**options):
    cfg = parse_config({"accounts": [{
        "id": "etsy-1", "marketplace": "etsy",
        "credentials": {"keystring": "kstr", "shared_secret": "ssecret", "refresh_token": "rt-0"},
        "options": {"shop_id": 88001, **options},
    }]})
    return cfg.accounts[0]


def receipts(n: int, start_updated: int) -> list[dict]:
    """n spec-shaped receipts built from the shipped-receipt fixture, oldest update first."""
    base = load("receipt__shipped")
    out = []
    for i in range(n):
        r = copy.deepcopy(base)
        r["receipt_id"] = 5_000_000 + i
        r["updated_timestamp"] = r["update_timestamp"] = start_updated + i * 60
        out.append(r)
    return out


class FakeEtsy:
    """Serves receipts and reviews the way Etsy pages them; records every request."""

    def __init__(self, rsps: responses.RequestsMock, receipts: list[dict], reviews: list[dict] | None = None):
        self.receipts, self.reviews = receipts, reviews or []
        self.calls: list[dict[str, str]] = []
        self.token_forms: list[dict[str, str]] = []
        self.refresh_counter = 0
        rsps.add_callback(responses.POST, TOKEN, callback=self.token)
        rsps.add_callback(responses.GET, RECEIPTS, callback=self.list_receipts)
        rsps.add_callback(responses.GET, REVIEWS, callback=self.list_reviews)

    def token(self, request):
        assert request.headers["x-api-key"] == "kstr:ssecret"
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        self.token_forms.append(form)
        self.refresh_counter += 1
        body = {**load("token"), "access_token": f"5551.at-{self.refresh_counter}",
                "refresh_token": f"rt-{self.refresh_counter}"}
        return 200, {}, json.dumps(body)

    def _page(self, request, items, key_ts):
        assert request.headers["x-api-key"] == "kstr:ssecret"
        assert request.headers["Authorization"].startswith("Bearer 5551.at-")
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(q)
        if "min_last_modified" in q:
            items = [r for r in items if r["updated_timestamp"] >= int(q["min_last_modified"])]
        if "min_created" in q:
            items = [r for r in items if r["created_timestamp"] >= int(q["min_created"])]
        if "receipt_id" in (items[0] if items else {}):
            # like Etsy (etsy/open-api#153): cancelled receipts only when asked for with was_canceled=true
            wanted = q.get("was_canceled") == "true"
            items = [r for r in items if (r.get("status") == "canceled") == wanted]
            if q.get("was_shipped") == "false":
                items = [r for r in items if not r.get("is_shipped")]
        items = sorted(items, key=lambda r: r[key_ts if q.get("sort_on") != "created" else "created_timestamp"])
        offset, limit = int(q["offset"]), int(q["limit"])
        return 200, {"x-limit-per-second": "10", "x-remaining-today": "9000"}, json.dumps(
            {"count": len(items), "results": items[offset:offset + limit]})

    def list_receipts(self, request):
        return self._page(request, self.receipts, "updated_timestamp")

    def list_reviews(self, request):
        return self._page(request, self.reviews, "created_timestamp")


def test_fixtures_match_the_etsy_spec(specs):
    from spec_check import component, load_spec, response_schema, validate

    spec = load_spec(specs / "etsy" / "etsy-openapi-v3-3.0.0.json")
    for name in ("receipt__shipped", "receipt__canceled", "receipt__refunded", "receipt__open"):
        validate(spec, component(spec, "ShopReceipt"), load(name))
    validate(spec, component(spec, "TransactionReview"), load("review"))
    validate(spec, response_schema(spec, "/v3/application/users/me", "get"), load("users_me"))
    page = {"count": 150, "results": receipts(100, 1795000000)}
    validate(spec, response_schema(spec, "/v3/application/shops/{shop_id}/receipts", "get"), page)
    validate(spec, response_schema(spec, "/v3/application/shops/{shop_id}/reviews", "get"),
             {"count": 1, "results": [load("review")]})
    validate(spec, response_schema(spec, "/v3/application/users/me", "get", "401"), {"error": "invalid_token"})


def test_a_receipt_becomes_order_shipment_cancellation_and_refunds():
    shipped = normalize_receipt("e", load("receipt__shipped"), "GET receipts", "results[0]")
    order, shipment = shipped
    assert isinstance(order, Order) and order.status == "shipped" and order.fulfilment == "seller"
    # ship-by is the END of the earliest expected ship date of the physical lines (a date, in the shop's clock)
    lines = load("receipt__shipped")["transactions"]
    first = datetime.fromtimestamp(min(t["expected_ship_date"] for t in lines), UTC)
    assert order.ship_by == datetime.combine(first.date(), time(23, 59, 59), UTC)
    assert order.ship_by.utcoffset() == timedelta(0)
    assert str(order.total) == "66.0000" and order.currency == "USD" and order.item_count == 2
    assert isinstance(shipment, Shipment) and shipment.tracking_number == "9400111899223344556677"
    assert shipment.carrier == "USPS" and shipment.confirmed_at == shipment.shipped_at

    order, cancel = normalize_receipt("e", load("receipt__canceled"), "GET receipts", "results[1]")
    assert order.status == "cancelled"
    assert isinstance(cancel, Cancellation) and cancel.initiated_by == "seller" and cancel.reason == "out of stock"
    assert cancel.cancelled_at.timestamp() == load("receipt__canceled")["refunds"][0]["created_timestamp"]

    kinds = [type(r) for r in normalize_receipt("e", load("receipt__refunded"), "GET receipts", "results[2]")]
    assert kinds == [Order, Shipment, Return]
    (open_order,) = normalize_receipt("e", load("receipt__open"), "GET receipts", "results[3]")
    assert open_order.status == "unshipped"

    rating = normalize_review("e", load("review"), "GET reviews", "results[0]")
    assert isinstance(rating, Rating) and rating.negative  # Etsy's standard counts 1-3 stars as low
    assert rating.external_id == "t4001001"


def test_malformed_receipt_names_endpoint_and_field():
    broken = load("receipt__shipped")
    del broken["created_timestamp"], broken["create_timestamp"]
    with pytest.raises(ConnectorError) as err:
        normalize_receipt("e", broken, "GET /v3/application/shops/1/receipts", "results[7]")
    assert err.value.kind == "payload"
    assert str(err.value) == ("etsy: GET /v3/application/shops/1/receipts: bad payload: "
                              "results[7].created_timestamp: missing")


@responses.activate
def test_full_sync_pages_to_the_end_with_the_api_key_on_every_call(store, clock):
    since = int(clock.now().timestamp()) - 80 * 86400
    fake = FakeEtsy(responses.mock, receipts(150, since), [load("review")])
    outcome = sync_account(account(rescan_days=0), store, clock=clock, sleep=clock.sleep)
    assert outcome.ok, outcome.error
    receipt_calls = [c for c in fake.calls if "min_last_modified" in c]
    assert [c["offset"] for c in receipt_calls] == ["0", "100"]  # 100 + 50: paged to the end
    # calls: pages only, no call per receipt (transactions and shipments come inside; etsy.md, Calls)
    assert all(urlsplit(c.request.url).path.endswith(("/receipts", "/reviews", "/token", "/users/me"))
               for c in responses.calls), [c.request.url for c in responses.calls]
    assert receipt_calls[0]["sort_on"] == "updated" and receipt_calls[0]["limit"] == "100"
    assert store.count("order", account="etsy-1") == 150
    assert store.count("rating", account="etsy-1") == 1
    assert store.cursor("etsy-1", "receipts") == str(since + 149 * 60)
    # one refresh for both streams: the access token is reused from the state while it is valid
    assert len(fake.token_forms) == 1
    assert fake.token_forms[0] == {"grant_type": "refresh_token", "client_id": "kstr", "refresh_token": "rt-0"}


@responses.activate
def test_rotated_refresh_token_is_saved_before_the_new_access_token_is_used(store, clock):
    seen_state = []
    fake = FakeEtsy(responses.mock, receipts(3, int(clock.now().timestamp()) - 3600))
    original = fake.list_receipts

    def spy(request):
        seen_state.append(store.state("etsy-1", "refresh_token"))
        return original(request)

    responses.mock.remove(responses.GET, RECEIPTS)
    responses.mock.add_callback(responses.GET, RECEIPTS, callback=spy)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert seen_state and all(s == "rt-1" for s in seen_state)
    # the next sync starts from the rotated token, not the one in the config
    store.put_state("etsy-1", "access_token", None, now=clock.now())
    clock.advance(7200)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert fake.token_forms[-1]["refresh_token"] == "rt-1"


@responses.activate
def test_expired_access_token_mid_sync_is_refreshed_once(store, clock):
    fake = FakeEtsy(responses.mock, receipts(150, int(clock.now().timestamp()) - 86400))
    original = fake.list_receipts
    state = {"n": 0}

    def expire_on_second_page(request):
        state["n"] += 1
        if state["n"] == 2:
            return 401, {}, json.dumps({"error": "invalid_token"})
        return original(request)

    responses.mock.remove(responses.GET, RECEIPTS)
    responses.mock.add_callback(responses.GET, RECEIPTS, callback=expire_on_second_page)
    outcome = sync_account(account(rescan_days=0), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert outcome.ok, outcome.error
    assert [f["refresh_token"] for f in fake.token_forms] == ["rt-0", "rt-1"]
    assert store.count("order", account="etsy-1") == 150


@responses.activate
def test_429_waits_for_retry_after_then_succeeds(store, clock):
    fake = FakeEtsy(responses.mock, receipts(2, int(clock.now().timestamp()) - 3600))
    original, state = fake.list_receipts, {"n": 0}

    def limited_once(request):
        state["n"] += 1  # Etsy sends no usage headers on a 429
        return (429, {"retry-after": "7"}, json.dumps({"error": "Too many requests"})) if state["n"] == 1 \
            else original(request)

    responses.mock.remove(responses.GET, RECEIPTS)
    responses.mock.add_callback(responses.GET, RECEIPTS, callback=limited_once)
    outcome = sync_account(account(rescan_days=0), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert outcome.ok, outcome.error
    assert 7 in clock.slept
    assert store.count("order", account="etsy-1") == 2


@responses.activate
def test_5xx_exhausted_gives_a_clear_error_and_keeps_the_cursor(store, clock):
    FakeEtsy(responses.mock, [])
    responses.mock.remove(responses.GET, RECEIPTS)
    responses.mock.add(responses.GET, RECEIPTS, status=503, json={"error": "Service Unavailable"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert not outcome.ok and outcome.error_kind == "wait"
    assert outcome.error == ("etsy-1: receipts: etsy: GET https://api.etsy.com/v3/application/shops/88001/receipts: "
                             "the marketplace is unavailable (HTTP 503); gave up after 5 attempts")
    assert store.cursor("etsy-1", "receipts") is None and store.count("order", account="etsy-1") == 0
    assert "ssecret" not in outcome.error and "kstr" not in outcome.error


@responses.activate
def test_malformed_page_stores_nothing_of_that_page(store, clock):
    start = int(clock.now().timestamp()) - 86400
    items = receipts(150, start)
    del items[120]["created_timestamp"], items[120]["create_timestamp"]
    FakeEtsy(responses.mock, items)
    outcome = sync_account(account(rescan_days=0), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert not outcome.ok and outcome.error_kind == "payload"
    assert outcome.error.endswith("bad payload: results[120].created_timestamp: missing")
    assert store.count("order", account="etsy-1") == 100  # page 1 only, with its cursor
    assert store.cursor("etsy-1", "receipts") == str(start + 99 * 60)


@responses.activate
def test_rerun_reads_changes_and_rescans_the_open_window_for_refunds(store, clock):
    now = int(clock.now().timestamp())
    old = receipts(3, now - 40 * 86400)  # created long ago: outside the re-scan window
    fresh = load("receipt__open")  # created 2 h ago, still open
    fake = FakeEtsy(responses.mock, [*old, fresh])
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    cursor = int(store.cursor("etsy-1", "receipts"))
    assert cursor == fresh["updated_timestamp"]
    assert store.count("cancellation", account="etsy-1") == 0

    # the seller cancels and refunds the open order: Etsy leaves updated_timestamp alone (etsy/open-api#604)
    refund = {"amount": fresh["grandtotal"], "created_timestamp": now + 60, "reason": "out of stock",
              "note_from_issuer": None, "status": "complete"}
    fresh.update(status="canceled", refunds=[refund])
    clock.advance(3600)
    fake.calls.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    incremental, rescan, cancelled, still_open = fake.calls
    assert int(incremental["min_last_modified"]) == cursor - 300  # only what changed (with a small overlap)
    assert int(rescan["min_created"]) == now + 3600 - 30 * 86400 and rescan["sort_on"] == "created"
    assert cancelled["was_canceled"] == "true" and int(cancelled["min_created"]) == now + 3600 - 90 * 86400
    assert still_open["was_shipped"] == "false" and still_open["was_canceled"] == "false"
    assert store.count("cancellation", account="etsy-1") == 1
    assert store.cursor("etsy-1", "receipts") == str(cursor)


@responses.activate
def test_api_key_refused_is_a_config_error_without_secrets(store, clock):
    FakeEtsy(responses.mock, [])
    responses.mock.remove(responses.GET, RECEIPTS)
    responses.mock.add(responses.GET, RECEIPTS, status=403,
                       json={"error": "Shared secret is required in x-api-key header."})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert outcome.error_kind == "config"
    assert "set credentials keystring and shared_secret" in outcome.error
    assert "ssecret" not in outcome.error


@responses.activate
def test_shop_id_comes_from_users_me_when_not_configured(store, clock):
    FakeEtsy(responses.mock, receipts(1, int(clock.now().timestamp()) - 3600))
    responses.mock.add(responses.GET, f"{API}/v3/application/users/me", json=load("users_me"))
    acc = parse_config({"accounts": [{"id": "etsy-1", "marketplace": "etsy", "credentials": {
        "keystring": "kstr", "shared_secret": "ssecret", "refresh_token": "rt-0"}}]}).accounts[0]
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert store.state("etsy-1", "shop_id") == "88001"


def test_receipt_facts_for_the_rules():
    order, shipment = normalize_receipt("e", load("receipt__shipped"), "GET receipts", "results[0]",
                                        buyer_key=lambda raw: f"{'0' * 60}{int(raw):04d}"[-64:])
    assert order.buyer_key == "0" * 60 + "7771"  # from buyer_user_id, through ctx.buyer_key; never the id itself
    assert order.buyer_country == "US" and order.handling_days == 3  # max_processing_days of the lines
    assert order.paid_at == datetime.fromtimestamp(1795003260, UTC)  # the earliest paid_timestamp
    assert str(order.items_subtotal) == "56.0000"  # total_price: the items before coupons (tracking exemption)
    assert [(line.line_id, line.quantity) for line in order.lines] == [("4001001", 1), ("4001002", 1)]
    assert order.seller_timezone is None  # not in the API; set with options.timezone
    assert shipment.tracking_uploaded_at == shipment.confirmed_at
    for bad_value, field in ((-1, "quantity"), (2**64, "transaction_id")):
        broken = load("receipt__shipped")
        broken["transactions"][0][field] = bad_value
        with pytest.raises(ConnectorError, match=rf"results\[0\]\.transactions\[0\]\.{field}"):
            normalize_receipt("e", broken, "GET receipts", "results[0]")


def _dated(receipt_id: int, ship_by_day: datetime, shipped_day: datetime) -> dict:
    """A receipt whose ship-by date and shipment date come the way Etsy sends them: a day at a fixed hour
    (expected_ship_date at 07:00 UTC, shipment_notification_timestamp at 16:00 UTC: etsy/open-api#553)."""
    r = load("receipt__shipped")
    r["receipt_id"] = receipt_id
    for t in r["transactions"]:
        t["expected_ship_date"] = int(ship_by_day.replace(hour=7).timestamp())
    r["shipments"][0]["shipment_notification_timestamp"] = int(shipped_day.replace(hour=16).timestamp())
    r["shipments"][0]["receipt_shipping_id"] = receipt_id
    return r


def test_ship_by_is_a_date_an_on_time_shipment_at_a_fixed_hour_is_on_time():
    day = datetime(2026, 11, 20, tzinfo=UTC)
    order, on_day = normalize_receipt("e", _dated(1, day, day), "G", "r")
    assert on_day.shipped_at > day.replace(hour=7)  # later than the ship-by *time* Etsy sent ...
    assert on_day.shipped_at <= order.ship_by  # ... but on the ship-by date: on time
    _, next_day = normalize_receipt("e", _dated(2, day, day + timedelta(days=1)), "G", "r")
    assert next_day.shipped_at > order.ship_by  # the next day is late

    # Etsy evaluates in UTC (policies/etsy.md, E7): a New York shop's ship-by is still the end of the UTC date
    ny, _ = normalize_receipt("e", _dated(3, day, day), "G", "r", zone_name="America/New_York")
    assert ny.ship_by.isoformat() == "2026-11-20T23:59:59+00:00" and ny.seller_timezone == "America/New_York"


@responses.activate
def test_on_time_shipping_metric_counts_fixed_hour_shipments_on_time(store, clock):
    from sellerguard.rules.engine import Engine, accounts_to_check
    from sellerguard.rules.packs import load_packs

    day = (clock.now() - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [_dated(6_000_000 + i, day, day) for i in range(8)]  # all shipped on their ship-by date
    for r in rows:
        r["created_timestamp"] = r["create_timestamp"] = int((day - timedelta(days=2)).timestamp())
        r["updated_timestamp"] = r["update_timestamp"] = int(day.replace(hour=16).timestamp())
    FakeEtsy(responses.mock, rows)
    config = parse_config({"accounts": [{
        "id": "etsy-1", "marketplace": "etsy", "options": {"shop_id": 88001},
        "credentials": {"keystring": "kstr", "shared_secret": "ssecret", "refresh_token": "rt-0"}}]})
    assert sync_account(config.accounts[0], store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    report = Engine(store, load_packs()).evaluate(accounts_to_check(config, store), clock.now())
    metric = next(m for a in report.accounts for m in a.metrics if m.id == "etsy.std_on_time_shipping")
    assert metric.value == 1.0 and metric.level == "ok"  # 8 of 8 on time (was 0 of 8 by the clock time)


@responses.activate
def test_a_cancellation_the_receipt_list_hides_is_found(store, clock):
    """etsy/open-api#153: a cancelled receipt drops out of getShopReceipts unless was_canceled=true is asked for,
    and its updated_timestamp does not move (#604): a receipt stored as paid must still become cancelled."""
    now = int(clock.now().timestamp())
    paid = load("receipt__open")
    paid["created_timestamp"] = paid["create_timestamp"] = now - 40 * 86400  # older than rescan_days (30)
    paid["updated_timestamp"] = paid["update_timestamp"] = now - 40 * 86400
    fake = FakeEtsy(responses.mock, [paid])
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert store.count("cancellation", account="etsy-1") == 0
    paid.update(status="canceled", refunds=[{"amount": paid["grandtotal"], "created_timestamp": now + 60,
                                             "reason": "out of stock", "note_from_issuer": None,
                                             "status": "complete"}])
    clock.advance(3600)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert store.count("cancellation", account="etsy-1") == 1
    from sqlmodel import select

    from sellerguard.store.tables import OrderRow

    with store.session() as s:
        row = s.exec(select(OrderRow).where(OrderRow.external_id == str(paid["receipt_id"]))).one()
        assert row.status == "cancelled"
    assert any(c.get("was_canceled") == "true" for c in fake.calls)


@responses.activate
def test_revoked_refresh_token_says_reauthorize_and_names_the_account(store, clock):
    FakeEtsy(responses.mock, [])
    responses.mock.remove(responses.POST, TOKEN)
    responses.mock.add(responses.POST, TOKEN, status=400,
                       json={"error": "invalid_grant", "error_description": "refresh token not found"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert outcome.error_kind == "config" and "re-authorize" in outcome.error and "account etsy-1" in outcome.error
    assert "rt-0" not in outcome.error


@responses.activate
def test_a_garbled_stored_token_or_shop_id_is_dropped_not_kept(store, clock):
    fake = FakeEtsy(responses.mock, receipts(1, int(clock.now().timestamp()) - 3600))
    responses.mock.add(responses.GET, f"{API}/v3/application/users/me", json=load("users_me"))
    store.put_state("etsy-1", "access_token", "2026-11-23T13:00:00+00:00 5551.tok\u00e9n", now=clock.now())
    store.put_state("etsy-1", "shop_id", "9" * 30, now=clock.now())
    acc = parse_config({"accounts": [{"id": "etsy-1", "marketplace": "etsy", "credentials": {
        "keystring": "kstr", "shared_secret": "ssecret", "refresh_token": "rt-0"}}]}).accounts[0]
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["receipts"]).ok
    assert fake.refresh_counter == 1 and store.state("etsy-1", "shop_id") == "88001"


@responses.activate
def test_a_shop_id_etsy_refuses_is_dropped_and_read_again(store, clock):
    """Issue 18 kind 4 (fuzz): users/me answered a huge but valid shop id; Etsy refused it with 403 on every later
    sync because it was kept. Now it is dropped and read again."""
    FakeEtsy(responses.mock, [])
    responses.mock.add(responses.GET, f"{API}/v3/application/users/me", json={"user_id": 5551, "shop_id": 17 * 10**14})
    responses.mock.add(responses.GET, f"{API}/v3/application/shops/{17 * 10**14}/receipts", status=403,
                       json={"error": "The user does not own this shop"})
    acc = parse_config({"accounts": [{"id": "etsy-1", "marketplace": "etsy", "credentials": {
        "keystring": "kstr", "shared_secret": "ssecret", "refresh_token": "rt-0"}}]}).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["receipts"])
    assert out.error_kind == "config" and store.state("etsy-1", "shop_id") is None
