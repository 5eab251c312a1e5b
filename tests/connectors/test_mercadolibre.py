"""Mercado Libre connector: given a hand-made payload (fixtures/mercadolibre/README.md), when synced, then ...

HTTP is mocked with ``responses``; the clock is fixed and sleeping only advances it.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pg import pg_schema_url
from sqlalchemy import select

from sellerguard.clock import FixedClock
from sellerguard.config import AccountConfig
from sellerguard.connectors import mercadolibre as ml
from sellerguard.connectors.mercadolibre_normalize import (
    normalize_claim,
    normalize_order,
    normalize_pack_messages,
    normalize_question,
    normalize_reputation,
)
from sellerguard.errors import ConnectorError
from sellerguard.store import Store
from sellerguard.store.tables import OrderRow
from sellerguard.sync import account_record, sync_account

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "mercadolibre"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
API = "https://api.mercadolibre.com"
SELLER = "202020"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def account(**kw) -> AccountConfig:
    data = {
        "id": "ml-br", "marketplace": "mercadolibre", "region": "MLB", "seller_id": SELLER,
        "credentials": {"client_id": "123456", "client_secret": "s3cret", "refresh_token": "TG-first"},
        **kw,
    }
    return AccountConfig.model_validate(data)


def query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


class Tokens:
    """A token endpoint with single-use refresh tokens, like Mercado Libre's."""

    def __init__(self, first: str = "TG-first") -> None:
        self.valid = {first}
        self.calls = 0
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        with self.lock:
            self.calls += 1
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in self.valid:
                return 400, {}, json.dumps({"error": "invalid_grant", "message": "invalid_grant", "status": 400})
            self.valid.discard(form["refresh_token"])
            self.n += 1
            new = f"TG-{self.n}"
            self.valid.add(new)
        body = {**load("token.json"), "access_token": f"APP_USR-{self.n}", "refresh_token": new}
        return 200, {}, json.dumps(body)


def orders_callback(pages: list[dict], seen: list[dict]):
    # paging.total counts the orders of the pages served (an empty page below the total is a payload error)
    total = sum(len(p["results"]) for p in pages)

    def reply(request):
        q = query(request)
        seen.append(q)
        offset = int(q.get("offset", "0"))
        page = next((p for p in pages if p["paging"]["offset"] == offset), None)
        if page is None:
            return 200, {}, json.dumps({"results": [], "paging": {"total": total, "offset": offset, "limit": 2}})
        return 200, {}, json.dumps({**page, "paging": {**page["paging"], "total": total}})

    return reply


def mock_orders(rsps, seen: list[dict], pages: list[dict] | None = None) -> None:
    pages = pages or [load("orders_search_page1.json"), load("orders_search_page2.json")]
    rsps.add_callback(responses.GET, f"{API}/orders/search", callback=orders_callback(pages, seen))
    rsps.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))


@pytest.fixture
def small_pages(monkeypatch):
    """Page size 2 so that the three fixture orders need two pages."""
    monkeypatch.setattr(ml, "_options", lambda ctx: ml.Options(page_size=2, slice_days=365))


# -- normalization ----------------------------------------------------------------------------------


def test_order_with_its_shipment_and_status_history():
    order = load("orders_search_page1.json")["results"][0]
    recs = normalize_order("a", order, load("shipment.json"), "MLB")
    o, s = recs
    assert (o.kind, o.external_id, o.status, o.item_count, o.site, o.fulfilment) == \
        ("order", "2000003508419013", "delivered", 2, "MLB", "seller")
    assert o.purchased_at == datetime(2026, 11, 20, 13, 15, tzinfo=UTC)
    assert o.ship_by == datetime(2026, 11, 22, 2, 59, 59, tzinfo=UTC)
    assert o.deliver_by == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert (s.kind, s.order_ref, s.carrier, s.tracking_validated) == ("shipment", o.external_id, "Correios", True)
    assert s.shipped_at == datetime(2026, 11, 21, 11, 40, tzinfo=UTC)
    assert s.delivered_at == datetime(2026, 11, 23, 17, 5, tzinfo=UTC)


def test_cancellation_says_who_asked():
    seller_cancel = load("orders_search_page1.json")["results"][1]
    buyer_cancel = load("orders_search_page2.json")["results"][0]
    _, c1 = normalize_order("a", seller_cancel, None, "MLB")
    _, c2 = normalize_order("a", buyer_cancel, None, "MLB")
    assert (c1.initiated_by, c1.buyer_requested, c1.reason) == ("seller", False, "seller/out_of_stock")
    assert (c2.initiated_by, c2.buyer_requested) == ("buyer", True)
    assert c1.cancelled_at == datetime(2026, 11, 20, 21, 29, tzinfo=UTC)


def test_fulfillment_orders_are_shipped_by_mercado_libre():
    ship = {**load("shipment.json"), "logistic": {"mode": "me2", "type": "fulfillment"}}
    o = normalize_order("a", load("orders_search_page1.json")["results"][0], ship, "MLB")[0]
    assert o.fulfilment == "marketplace"


def test_reputation_reads_each_period():
    metrics = {m.metric_id: m for m in normalize_reputation("a", load("user_reputation.json"), NOW)}
    claims = metrics["mercadolibre.claims_rate"]
    assert (claims.value, claims.numerator, claims.denominator, claims.scope) == (0.0166, 4, 241, "MLB")
    assert claims.window_start == NOW - timedelta(days=60)
    assert metrics["mercadolibre.delayed_handling_rate"].denominator == 228
    assert metrics["mercadolibre.level"].value == 3
    rep = load("user_reputation.json")
    rep["seller_reputation"]["metrics"]["claims"]["period"] = "365 days"
    rep["seller_reputation"]["real_level"] = "2_orange"
    again = {m.metric_id: m for m in normalize_reputation("a", rep, NOW)}
    assert again["mercadolibre.claims_rate"].window_start == NOW - timedelta(days=365)
    assert again["mercadolibre.level"].value == 2  # the real level, not the protected one
    assert "protected" in again["mercadolibre.level"].status


def test_claims_fault_follows_who_benefited():
    won, pending = (normalize_claim("a", c) for c in load("claims_search.json")["data"])
    assert (won.claim_kind, won.seller_at_fault, won.order_ref, won.outcome) == \
        ("item_not_received", True, "2000003508419013", "dispute:item_returned")
    assert (pending.claim_kind, pending.seller_at_fault, pending.closed_at) == ("not_as_described", None, None)


def test_messages_wait_from_the_first_unanswered_buyer_message():
    msgs = normalize_pack_messages("a", "2000003508419013", "2000003508419013", SELLER, load("messages_pack.json"))
    assert [(m.external_id, m.first_reply_at) for m in msgs] == [
        ("019a0001", datetime(2026, 11, 20, 17, 0, tzinfo=UTC)),  # the seller's reply answers both buyer lines
        ("019a0004", None),
    ]
    assert all(m.thread_id == "pack-2000003508419013" for m in msgs)


def test_questions_are_messages_to_answer():
    unanswered, answered = (normalize_question("a", q) for q in load("questions_search.json")["questions"])
    assert unanswered.first_reply_at is None and unanswered.needs_reply
    assert answered.first_reply_at == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("field,value,named", [
    ("date_created", "yesterday", "date_created"),
    ("order_items", [{"quantity": "two"}], "order_items[0].quantity"),
    ("id", None, "id"),
])
def test_a_malformed_order_names_the_field(field, value, named):
    order = {**load("orders_search_page1.json")["results"][0], field: value}
    with pytest.raises(ConnectorError) as err:
        normalize_order("a", order, None, "MLB")
    assert err.value.kind == "payload"
    assert str(err.value).startswith(f"mercadolibre: /orders/search: bad payload: {named}")


# -- fetching ---------------------------------------------------------------------------------------


@responses.activate
def test_orders_page_to_the_end_by_date_last_updated(store, clock, small_pages):
    tokens = Tokens()
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=tokens)
    seen: list[dict] = []
    mock_orders(responses, seen)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert [q["offset"] for q in seen] == ["0", "2"]
    assert all("order.date_last_updated.from" in q and "order.last_updated.from" not in q for q in seen)
    assert seen[0]["seller"] == SELLER and seen[0]["sort"] == "date_asc"
    assert store.count("order", account="ml-br") == 3
    assert store.count("cancellation", account="ml-br") == 2
    assert store.count("shipment", account="ml-br") == 1
    ship_call = next(c for c in responses.calls if "/shipments/" in c.request.url)
    assert ship_call.request.headers["x-format-new"] == "true"
    assert ship_call.request.headers["Authorization"] == "Bearer APP_USR-1"
    assert "access_token" not in ship_call.request.url  # never in the query string
    assert store.cursor("ml-br", "orders") == NOW.isoformat()


@responses.activate
def test_rerun_fetches_only_what_changed_since_the_cursor(store, clock, small_pages):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    seen: list[dict] = []
    mock_orders(responses, seen)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    first_from = seen[0]["order.date_last_updated.from"]
    assert datetime.fromisoformat(first_from) == NOW - timedelta(days=90)
    clock.advance(hours=1)
    seen.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert datetime.fromisoformat(seen[0]["order.date_last_updated.from"]) == NOW - timedelta(minutes=10)
    assert datetime.fromisoformat(seen[0]["order.date_last_updated.to"]) == NOW + timedelta(hours=1)


@responses.activate
def test_call_count_backfill_and_incremental(store, clock, small_pages):
    """docs/connectors/mercadolibre.md, Limits: pages + one shipment read per changed order with a shipment (a
    pack's orders share one read); orders listed again unchanged (the overlap, a re-read window) cost nothing."""
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    seen: list[dict] = []
    mock_orders(responses, seen)
    shipments = lambda: [c for c in responses.calls if "/shipments/" in c.request.url]  # noqa: E731
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(seen) == 2 and len(shipments()) == 1
    seen.clear()
    store.write([], {("ml-br", "orders"): (NOW - timedelta(days=30)).isoformat()})  # the same orders listed again
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(seen) == 2 and len(shipments()) == 1  # pages only


@responses.activate
def test_expired_token_mid_sync_refreshes_once_and_saves_the_new_refresh_token_first(store, clock, small_pages):
    tokens = Tokens()
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=tokens)
    seen: list[dict] = []
    pages = [load("orders_search_page1.json"), load("orders_search_page2.json")]
    inner = orders_callback(pages, seen)
    state_at_retry: list[str | None] = []

    def reply(request):
        if query(request).get("offset") == "2" and request.headers["Authorization"] == "Bearer APP_USR-1":
            return 401, {}, json.dumps({"message": "invalid access token", "error": "invalid_token", "status": 401})
        if query(request).get("offset") == "2":
            state_at_retry.append(store.state("ml-br", "refresh_token"))
        return inner(request)

    responses.add_callback(responses.GET, f"{API}/orders/search", callback=reply)
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert tokens.calls == 2
    assert state_at_retry == ["TG-2"]  # saved before the new access token was used
    assert store.count("order", account="ml-br") == 3


@responses.activate
def test_a_token_from_an_earlier_sync_is_reused(store, clock, small_pages):
    tokens = Tokens()
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=tokens)
    mock_orders(responses, [])
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    clock.advance(hours=2)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert tokens.calls == 1


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_db(request, tmp_path):
    """A database URL two Store objects share: SQLite (file lock) or PostgreSQL (advisory lock)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    with pg_schema_url() as url:
        yield url


def test_two_concurrent_syncs_refresh_a_single_use_token_once(shared_db, small_pages):
    """Two processes (two Store objects on one database) sync the same seller at the same moment."""
    url = shared_db
    tokens = Tokens()
    gate = threading.Barrier(2)
    outcomes = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, f"{API}/oauth/token", callback=tokens)
        mock_orders(rsps, [])
        first = Store(url)  # migrate and register the account once before the race (the account upsert is
        first.upsert_accounts([account_record(account())])  # not itself race-safe: see the report)
        first.close()

        stores = [Store(url), Store(url)]  # opened (and migration-checked) one after the other

        def run(store: Store) -> None:
            clock = FixedClock(NOW)
            gate.wait()
            outcomes.append(sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]))
            store.close()

        threads = [threading.Thread(target=run, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
    assert tokens.calls == 1  # the second sync found the first one's fresh token inside the lock
    store = Store(url)
    assert store.state("ml-br", "refresh_token") == "TG-1"
    store.close()


@responses.activate
def test_a_spent_refresh_token_is_a_config_error(store, clock):
    responses.add(responses.POST, f"{API}/oauth/token", status=400,
                  json={"error": "invalid_grant", "message": "invalid_grant", "status": 400})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "config")
    assert "re-authorize" in outcome.error and "TG-first" not in outcome.error and "s3cret" not in outcome.error
    assert "account 'ml-br'" in outcome.error  # names the account to re-authorize


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "7"}])  # Mercado Libre documents no Retry-After
@responses.activate
def test_rate_limited_then_served(store, clock, small_pages, headers):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    seen: list[dict] = []
    pages = [load("orders_search_page1.json"), load("orders_search_page2.json")]
    responses.add(responses.GET, f"{API}/orders/search", status=429, json={"message": "local_rate_limited"},
                  headers=headers)
    responses.add_callback(responses.GET, f"{API}/orders/search", callback=orders_callback(pages, seen))
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert clock.slept and (7 in clock.slept or not headers)  # Retry-After when given, else a backoff
    assert store.count("order", account="ml-br") == 3


@responses.activate
def test_seller_and_site_come_from_users_me_when_not_configured(store, clock, small_pages):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add(responses.GET, f"{API}/users/me", json=load("users_me.json"))
    seen: list[dict] = []
    mock_orders(responses, seen)
    acc = account(seller_id=None, region=None)
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert seen[0]["seller"] == SELLER
    with store.session() as session:
        sites = set(session.execute(select(OrderRow.site)).scalars())
    assert sites == {"MLB"}


@responses.activate
def test_server_errors_exhausted_leave_the_cursor_alone(store, clock):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add(responses.GET, f"{API}/orders/search", status=503, json={"message": "unavailable"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "wait")
    assert "gave up after 5 attempts" in outcome.error and "/orders/search" in outcome.error
    assert store.cursor("ml-br", "orders") is None
    assert store.count("order", account="ml-br") == 0


@responses.activate
def test_a_malformed_page_stops_the_stream_and_keeps_the_cursor(store, clock, small_pages):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    bad = load("orders_search_page2.json")
    bad["results"][0]["date_created"] = "not a date"
    seen: list[dict] = []
    mock_orders(responses, seen, [load("orders_search_page1.json"), bad])
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload")
    assert outcome.error == ("ml-br: orders: mercadolibre: /orders/search: bad payload: date_created:"
                             " not an ISO 8601 date-time: 'not a date'")
    assert store.cursor("ml-br", "orders") is None  # the next run reads the whole window again
    assert store.count("order", account="ml-br") == 2  # the first page's batch, complete; nothing of page two


@responses.activate
def test_a_deep_window_is_split_instead_of_paging_past_the_offset_limit(store, clock, monkeypatch):
    monkeypatch.setattr(ml, "_options", lambda ctx: ml.Options(slice_days=365))
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    seen: list[dict] = []

    def reply(request):
        q = query(request)
        seen.append(q)
        start = datetime.fromisoformat(q["order.date_last_updated.from"])
        end = datetime.fromisoformat(q["order.date_last_updated.to"])
        total = 12_000 if end - start > timedelta(days=50) else 0
        return 200, {}, json.dumps({"results": [], "paging": {"total": total, "offset": 0, "limit": 50}})

    responses.add_callback(responses.GET, f"{API}/orders/search", callback=reply)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(seen) == 3  # 90 days (too deep) -> two halves of 45 days


@responses.activate
def test_claims_messages_questions_and_reputation(store, clock):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    claims_q: list[dict] = []

    def claims(request):
        claims_q.append(query(request))
        return 200, {}, json.dumps(load("claims_search.json"))

    responses.add_callback(responses.GET, f"{API}/post-purchase/v1/claims/search", callback=claims)
    responses.add_callback(responses.GET, f"{API}/orders/search",
                           callback=orders_callback([load("orders_search_page1.json")], []))
    responses.add(responses.GET, f"{API}/messages/packs/2000003508419013/sellers/{SELLER}",
                  json=load("messages_pack.json"))
    responses.add(responses.GET, f"{API}/messages/packs/2000004000000001/sellers/{SELLER}",
                  json={"paging": {"limit": 50, "offset": 0, "total": 0}, "messages": []})
    responses.add(responses.GET, f"{API}/questions/search", json=load("questions_search.json"))
    responses.add(responses.GET, f"{API}/users/{SELLER}", json=load("user_reputation.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep,
                           streams=["claims", "messages", "reputation"])
    assert outcome.ok, outcome.error
    assert claims_q[0]["players.role"] == "respondent" and claims_q[0]["players.user_id"] == SELLER
    assert store.count("claim", account="ml-br") == 2
    assert store.count("message", account="ml-br") == 4  # two waits in the pack, two questions
    msg_call = next(c for c in responses.calls if "/messages/packs/" in c.request.url)
    assert query(msg_call.request)["tag"] == "post_sale" and query(msg_call.request)["mark_as_read"] == "false"
    # 4 figures + the account status site, sell and list rows (not reported here)
    assert store.count("reported_metric", account="ml-br") == 7
    # reputation is recomputed daily: a sync an hour later does not ask again
    clock.advance(hours=1)
    calls = len(responses.calls)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["reputation"]).ok
    assert len(responses.calls) == calls


@responses.activate
def test_a_withdrawn_shipment_leaves_the_order_alone(store, clock, small_pages):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add_callback(responses.GET, f"{API}/orders/search", callback=orders_callback(
        [load("orders_search_page1.json"), load("orders_search_page2.json")], []))
    responses.add(responses.GET, f"{API}/shipments/41000000001", status=404,
                  json={"message": "Shipment not found", "error": "not_found", "status": 404})
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert (store.count("order", account="ml-br"), store.count("shipment", account="ml-br")) == (3, 0)


# -- packs: one shipment, several orders (issue 17, item 1) ---------------------------------------------


def _pack_orders() -> tuple[list[dict], dict[int, dict]]:
    """3 orders of one pack sharing shipment 41000000100 + 7 single orders, every one shipped on time."""
    template = load("orders_search_page1.json")["results"][0]
    ship = load("shipment.json")
    orders, shipments = [], {}
    for i in range(10):
        sid = 41000000100 if i < 3 else 41000000100 + i
        orders.append({**template, "id": 2000003600000000 + i, "pack_id": 2000004100000000 if i < 3 else None,
                       "shipping": {"id": sid}, "buyer": {"id": 909000 if i < 3 else 909000 + i},
                       "tags": ["paid", "delivered"] + (["pack_order"] if i < 3 else [])})
        shipments[sid] = {**ship, "id": sid, "order_id": orders[-1]["id"]}  # a pack's shipment names one order
    return orders, shipments


def test_every_order_of_a_pack_sees_the_shared_shipment():
    orders, shipments = _pack_orders()
    recs = [r for o in orders[:3] for r in normalize_order("a", o, shipments[41000000100], "MLB")]
    ships = [r for r in recs if r.kind == "shipment"]
    assert [(s.external_id, s.order_ref) for s in ships] == [
        (f"41000000100:{o['id']}", str(o["id"])) for o in orders[:3]]
    assert all(r.status == "delivered" for r in recs if r.kind == "order")


@responses.activate
def test_pack_orders_shipped_on_time_are_not_delayed(store, clock):
    """3 pack orders + 7 single orders, all on time: delayed handling 0/10 (keyed by shipment alone: 2/10)."""
    from sellerguard.config import parse_config
    from sellerguard.rules.engine import Engine, accounts_to_check
    from sellerguard.rules.packs import load_packs

    orders, shipments = _pack_orders()
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add(responses.GET, f"{API}/orders/search",
                  json={"results": orders, "paging": {"total": 10, "offset": 0, "limit": 50}})
    for sid, body in shipments.items():
        responses.add(responses.GET, f"{API}/shipments/{sid}", json=body)
    acc = account()
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.count("shipment", account="ml-br") == 10
    assert sum("/shipments/41000000100" in c.request.url for c in responses.calls) == 1  # read once per pack
    config = parse_config({"accounts": [{"id": "ml-br", "marketplace": "mercadolibre", "region": "MLB"}]})
    report = Engine(store, load_packs()).evaluate(accounts_to_check(config, store), clock.now())
    delayed = next(m for a in report.accounts for m in a.metrics if m.id == "mercadolibre.delayed_handling_rate")
    assert (delayed.value, delayed.denominator) == (0.0, 10)


def test_schema_facts_of_an_order_and_its_shipment():
    from sellerguard.connectors.contract import SyncContext

    ctx = SyncContext(account=account(), state=None, clock=FixedClock(NOW), sleep=lambda s: None)
    order = load("orders_search_page1.json")["results"][0]
    o, s = normalize_order("a", order, load("shipment.json"), "MLB", buyer_key=ctx.buyer_key)
    assert o.buyer_key == ctx.buyer_key("909090") and "909090" not in o.model_dump_json()
    assert (o.buyer_country, str(o.items_subtotal), o.order_type) == ("BR", "159.8", None)
    assert o.paid_at == datetime(2026, 11, 20, 13, 16, 2, tzinfo=UTC)  # date_closed: payment confirmed
    assert [(x.line_id, x.quantity, x.category_id) for x in o.lines] == [("MLB1234567890", 2, "MLB1055")]
    assert s.first_attempt_at == datetime(2026, 11, 22, 19, 30, tzinfo=UTC)  # date_first_visit
    no_full = {**order, "order_items": [{**order["order_items"][0], "full_unit_price": None}]}
    assert normalize_order("a", no_full, None, "MLB")[0].items_subtotal is None  # not known, never the paid price


@pytest.mark.parametrize("order_status,ship_status,expected", [
    ("confirmed", None, "pending"), ("payment_required", None, "pending"), ("payment_in_process", None, "pending"),
    ("partially_paid", None, "pending"), ("cancelled", None, "cancelled"), ("invalid", None, "cancelled"),
    ("paid", None, "unshipped"), ("partially_refunded", "shipped", "shipped"), ("pending_cancel", "handling",
                                                                                 "unshipped"),
    ("paid", "pending", "unshipped"), ("paid", "handling", "unshipped"), ("paid", "ready_to_ship", "unshipped"),
    ("paid", "shipped", "shipped"), ("paid", "not_delivered", "shipped"), ("paid", "delivered", "delivered"),
    ("paid", "cancelled", "unshipped"), ("paid", "to_be_agreed", "unshipped"),
    ("paid", "beamed_up", "unknown"), ("frozen", None, "unknown"),
])
def test_every_listed_order_and_shipment_status_is_mapped(order_status, ship_status, expected):
    order = {**load("orders_search_page1.json")["results"][0], "status": order_status, "cancel_detail": None}
    ship = {**load("shipment.json"), "status": ship_status} if ship_status else None
    assert normalize_order("a", order, ship, "MLB")[0].status == expected


# -- token shapes and state (issue 17 item 4, issue 18 kind 4) -----------------------------------------------


@pytest.mark.parametrize("status,body", [
    (401, {"message": "invalid_token", "error": "not_found", "status": 401, "cause": []}),
    (401, {"code": "unauthorized", "message": "invalid access token"}),
    (403, {"message": "invalid access token", "error": "forbidden", "status": 403, "cause": []}),
])
@responses.activate
def test_every_expired_token_shape_refreshes_once_and_retries(store, clock, status, body):
    tokens = Tokens()
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=tokens)
    inner = orders_callback([load("orders_search_page1.json")], [])

    def reply(request):
        if request.headers["Authorization"] == "Bearer APP_USR-1":
            return status, {}, json.dumps(body)
        return inner(request)

    responses.add_callback(responses.GET, f"{API}/orders/search", callback=reply)
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert tokens.calls == 2 and store.state("ml-br", "refresh_token") == "TG-2"


@pytest.mark.parametrize("reply,named", [
    ({"token_type": "Bearer", "expires_in": 21600, "refresh_token": "TG-new"}, "access_token"),
    ({"access_token": "APP USR 9", "expires_in": 21600, "refresh_token": "TG-new"}, "access_token"),
    ({"access_token": "APP_USR-9", "expires_in": 21600, "refresh_token": "TG new\u0000"}, "refresh_token"),
])
@responses.activate
def test_a_bad_token_reply_saves_nothing_and_keeps_the_refresh_token(store, clock, reply, named):
    """Mercado Libre's refresh token is single-use: a new one is saved only together with a valid access token,
    so a garbled reply never locks the account out (issue 18: 29/1000 "bad state kept")."""
    responses.add(responses.POST, f"{API}/oauth/token", json=reply)
    store.put_state("ml-br", "refresh_token", "TG-current", now=NOW)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload")
    assert named in outcome.error and "TG-new" not in outcome.error
    assert store.state("ml-br", "refresh_token") == "TG-current"
    assert store.state("ml-br", "access_token") is None


@responses.activate
def test_a_garbled_stored_token_is_dropped_and_fetched_again(store, clock):
    store.put_state("ml-br", "access_token", "not-a-date APP_USR-old", now=NOW)
    store.put_state("ml-br", "refresh_token", "TG first\u0007", now=NOW)  # garbled: the configured one is used
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add_callback(responses.GET, f"{API}/orders/search",
                           callback=orders_callback([load("orders_search_page1.json")], []))
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.state("ml-br", "refresh_token") == "TG-1"


# -- resumable backfill and orders the search does not show again (issue 17 item 2 kind, issue 18 kind 5) -----


@responses.activate
def test_an_interrupted_backfill_resumes_from_the_last_finished_window(store, clock):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    windows: list[tuple[str, str]] = []
    down = {"from": (NOW - timedelta(days=76)).isoformat(timespec="milliseconds")}

    def reply(request):
        q = query(request)
        windows.append((q["order.date_last_updated.from"], q["order.date_last_updated.to"]))
        if q["order.date_last_updated.from"] == down["from"]:  # the third week fails, every attempt
            return 503, {}, json.dumps({"message": "down", "error": "service_unavailable", "status": 503})
        return 200, {}, json.dumps({"results": [], "paging": {"total": 0, "offset": 0, "limit": 50}})

    responses.add_callback(responses.GET, f"{API}/orders/search", callback=reply)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "wait")
    assert store.cursor("ml-br", "orders") == (NOW - timedelta(days=90 - 14)).isoformat()  # two weeks done
    windows.clear()
    down["from"] = ""
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert datetime.fromisoformat(windows[0][0]) == NOW - timedelta(days=76, minutes=10)  # not from zero


@responses.activate
def test_an_open_order_is_read_again_when_its_deadline_comes(store, small_pages):
    """Mercado Libre's order search by date_last_updated need not show a shipment's progress: an order stored
    unshipped is read again (with its shipment) once its ship-by is near, so an on-time shipment is not late."""
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    order = {**load("orders_search_page1.json")["results"][0], "tags": ["paid"]}
    waiting = {**load("shipment.json"), "status": "ready_to_ship",
               "status_history": {**load("shipment.json")["status_history"], "date_shipped": None,
                                  "date_delivered": None, "date_first_visit": None}}
    state = {"search": [order], "shipment": waiting}
    responses.add_callback(responses.GET, f"{API}/orders/search", callback=lambda r: (200, {}, json.dumps(
        {"results": state["search"], "paging": {"total": len(state["search"]), "offset": 0, "limit": 2}})))
    responses.add_callback(responses.GET, f"{API}/shipments/41000000001",
                           callback=lambda r: (200, {}, json.dumps(state["shipment"])))
    responses.add(responses.GET, f"{API}/orders/2000003508419013", json=order)
    clock = FixedClock(datetime(2026, 11, 20, 20, 0, tzinfo=UTC))
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    with store.session() as session:
        assert session.scalar(select(OrderRow.status)) == "unshipped"
    # shipped on time; the order's date_last_updated did not move, so the search no longer lists it
    state["search"], state["shipment"] = [], load("shipment.json")
    clock.advance(hours=31)  # 2026-11-22 03:00: ship-by (02:59:59) has passed
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    with store.session() as session:
        assert session.scalar(select(OrderRow.status)) == "delivered"
    assert store.state("ml-br", "open_orders") == "{}"


@pytest.mark.parametrize("expires_in", [1e308, "2026-11-23T18:00:00Z", -5, "NaN"])
@responses.activate
def test_a_garbled_lifetime_keeps_the_single_use_chain_with_the_documented_six_hours(store, clock, expires_in):
    """The refresh token was spent by this very request: refusing the whole reply would lock the account out.
    A valid access and refresh token with a nonsense expires_in are kept, with Mercado Libre's 6 hours."""
    reply = {"access_token": "APP_USR-9", "expires_in": expires_in, "refresh_token": "TG-new"}
    responses.add(responses.POST, f"{API}/oauth/token", json=reply)
    responses.add_callback(responses.GET, f"{API}/orders/search",
                           callback=orders_callback([load("orders_search_page1.json")], []))
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.state("ml-br", "refresh_token") == "TG-new"
    stamp, token = store.state("ml-br", "access_token").split(" ")
    assert token == "APP_USR-9" and datetime.fromisoformat(stamp) == NOW + timedelta(hours=6)


@pytest.mark.parametrize("patch,named", [
    ({"shipping": None}, "shipping.id"), ({"shipping": {}}, "shipping.id"), ({"shipping": {"id": [41]}}, "id"),
    ({"pack_id": "2026-13-45T99:99:99Z"}, "pack_id"), ({"shipping": {"id": "12345678901234567890123456789"}}, "id"),
])
def test_a_missing_or_garbled_shipping_or_pack_id_is_a_payload_error(patch, named):
    """Fuzz (issue 18): without its shipping block an order was stored without its shipment and the sync said ok."""
    from sellerguard.connectors.mercadolibre_normalize import pack_id, shipment_id

    order = {**load("orders_search_page1.json")["results"][0], **patch}
    with pytest.raises(ConnectorError) as err:
        pack_id(order) if "pack_id" in patch else shipment_id(order)
    assert err.value.kind == "payload" and named in str(err.value)
    assert shipment_id({**order, "shipping": {"id": None}}) is None  # no shipment: said so


def test_a_garbled_claim_id_is_a_payload_error_not_a_new_claim():
    claim = {**load("claims_search.json")["data"][0], "id": [5000000057]}
    with pytest.raises(ConnectorError):
        normalize_claim("a", claim)
    with pytest.raises(ConnectorError):
        normalize_claim("a", {**load("claims_search.json")["data"][0], "resource_id": {"x": None}})


@pytest.mark.parametrize("me,named", [
    ({"id": 10**30, "site_id": "MLB"}, "id"), ({"id": "12 34", "site_id": "MLB"}, "id"),
    ({"id": 202020, "site_id": "MLB\x00"}, "site_id"), ({"site_id": "MLB"}, "id"),
])
@responses.activate
def test_a_huge_or_garbled_seller_id_from_users_me_is_a_payload_error(store, clock, me, named):
    """Issue 18: a huge id must not become the seller every later call is made for (and no config advice)."""
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add(responses.GET, f"{API}/users/me", json=me)
    acc = AccountConfig.model_validate({**account().model_dump(mode="json", exclude_none=True, exclude={"sync_every"}),
                                        "seller_id": None, "region": None})
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert (outcome.ok, outcome.error_kind) == (False, "payload")
    assert f"/users/me: bad payload: {named}" in outcome.error


@pytest.mark.parametrize("patch,named", [
    ({"rate": 1e-320, "value": 5}, None), ({"rate": 7.5}, "rate"), ({"value": -1}, "value"), ({"rate": "high"}, "rate"),
])
def test_reputation_figures_out_of_range_are_payload_errors_never_an_overflow(patch, named):
    user = load("user_reputation.json")
    user["seller_reputation"]["metrics"]["claims"].update(patch)
    if named is None:  # a rate so small that value / rate overflows: the completed sales are the base
        claims = next(m for m in normalize_reputation("a", user, NOW) if m.metric_id == "mercadolibre.claims_rate")
        assert claims.denominator == user["seller_reputation"]["metrics"]["sales"]["completed"]
        return
    with pytest.raises(ConnectorError) as err:
        normalize_reputation("a", user, NOW)
    assert f"claims.{named}" in str(err.value)


@pytest.mark.parametrize("patch,named", [
    ({"resolution": {"benefited": -(10**20), "reason": "x", "date_created": "2026-11-21T10:00:00.000-03:00"}},
     "resolution.benefited"),
    ({"resolution": "won"}, "resolution"), ({"stage": ["dispute"]}, "stage"),
])
def test_a_garbled_claim_resolution_is_a_payload_error_not_a_type_error(patch, named):
    """Fuzz (issue 18): ``benefited: -1e20`` raised TypeError ('int' is not iterable) inside the sync."""
    claim = {**load("claims_search.json")["data"][0], **patch}
    with pytest.raises(ConnectorError) as err:
        normalize_claim("a", claim)
    assert named in str(err.value)


def test_an_unknown_claim_status_stays_open():
    claim = {**load("claims_search.json")["data"][0], "status": "teleported"}
    got = normalize_claim("a", claim)
    assert (got.closed_at, got.seller_at_fault) == (None, None)
