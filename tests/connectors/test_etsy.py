"""Etsy connector: spec-shaped fixtures replayed with `responses` (no network), clock fixed, sleep recorded."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
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
    # ship-by is the earliest expected_ship_date of the physical lines, in UTC
    lines = load("receipt__shipped")["transactions"]
    assert order.ship_by.timestamp() == min(t["expected_ship_date"] for t in lines)
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
    incremental, rescan = fake.calls
    assert int(incremental["min_last_modified"]) == cursor - 300  # only what changed (with a small overlap)
    assert int(rescan["min_created"]) == now + 3600 - 30 * 86400 and rescan["sort_on"] == "created"
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
