"""Quotas per marketplace APPLICATION shared through the store (issue 24): many accounts of one app, in many
processes, together stay within the app's published limit (Etsy QPS/QPD, eBay's daily method quotas, Mercado
Libre's 500 message GETs a minute)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from pg import pg_schema_url

from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.daemon import app_scope_for
from sellerguard.errors import ConnectorError
from sellerguard.http import APP_QUOTAS, AppBuckets, AppScope, HttpClient, app_quotas, app_scope
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ML = "https://api.mercadolibre.test"


class MemState:
    """``Store.update_state`` in memory: one lock, one dict (what the store does across processes)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def update_state(self, account: str, key: str, update: Callable[[str | None], Any]) -> Any:
        with self._lock:
            new, result = update(self.values.get((account, key)))
            self.values[(account, key)] = new
            return result


class OkSession(requests.Session):
    """Answers every request 200 ``{}`` without a network (the quota is taken before the request is sent)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kw: Any) -> requests.Response:  # type: ignore[override]
        response = requests.Response()
        response.status_code, response._content, response.url = 200, b"{}", str(url)
        return response


def _accounts(*rows: tuple[str, str, str]) -> dict[str, Any]:
    """id -> AccountConfig, each (id, marketplace, client id)."""
    field = {"etsy": "keystring", "ebay": "client_id", "mercadolibre": "client_id"}
    config = parse_config({"accounts": [{"id": i, "marketplace": m, "credentials": {field[m]: c}}
                                        for i, m, c in rows]})
    return {a.id: a for a in config.accounts}


def _client(marketplace: str, clock: FixedClock, **kw: Any) -> HttpClient:
    return HttpClient(base_url=ML, marketplace=marketplace, clock=clock, sleep=clock.sleep, session=OkSession(), **kw)


def test_accounts_of_one_app_share_a_scope_that_never_shows_the_client_id() -> None:
    accs = _accounts(("etsy-a", "etsy", "KEYSTRING1"), ("etsy-b", "etsy", "KEYSTRING1"),
                     ("etsy-c", "etsy", "OTHERAPP"), ("ebay-a", "ebay", "KEYSTRING1"))
    state = MemState()
    scopes = {i: app_scope_for(state, a) for i, a in accs.items()}  # type: ignore[arg-type]
    assert scopes["etsy-a"] == scopes["etsy-b"] != scopes["etsy-c"]
    assert scopes["ebay-a"].scope.startswith("app:ebay:") and scopes["ebay-a"].scope != scopes["etsy-a"].scope
    assert all("KEYSTRING1" not in s.scope for s in scopes.values())
    no_id = parse_config({"accounts": [{"id": "x", "marketplace": "etsy"}, {"id": "y", "marketplace": "amazon"}]})
    assert [app_scope_for(state, a) for a in no_id.accounts] == [None, None]  # type: ignore[arg-type]


def test_the_published_figures_can_be_raised_per_app_or_switched_off() -> None:
    assert [(q.name, q.limit) for q in app_quotas("etsy", "")] == [("qps", 10), ("day", 10_000)]
    assert [(q.name, q.limit) for q in app_quotas("etsy", "etsy.qps=150, etsy.day=100000")] == [
        ("qps", 150), ("day", 100_000)]
    assert app_quotas("etsy", "mercadolibre.messages-minute=900")[0].limit == 10  # another marketplace's
    assert app_quotas("etsy", "off") == () and app_quotas("amazon", "") == ()
    for bad in ("etsy.qpd=5", "etsy.qps=ten", "etsy.qps"):
        with pytest.raises(ValueError, match="SELLERGUARD_APP_QUOTAS"):
            app_quotas("etsy", bad)
    for quotas in APP_QUOTAS.values():  # any window of the published length holds at most the limit
        assert all(q.burst + q.rate * q.window_s == pytest.approx(q.limit) for q in quotas)


def test_an_ebay_method_quota_counts_only_that_method_and_a_used_up_app_says_when_to_come_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """eBay's seller standards call: 100 a day per app (50 at once, then one every 86,400 / 50 s). Other calls do
    not spend it; once the wait would exceed the client's max_wait the call is refused with kind "wait" and
    retry_after, reserving nothing."""
    clock = FixedClock(NOW)  # time stands still: reservations pile up
    slept: list[float] = []
    state = MemState()
    scope = AppScope(state, "ebay", "app1")  # type: ignore[arg-type]
    token = app_scope.set(scope)
    try:
        http = HttpClient(base_url=ML, marketplace="ebay", clock=clock, sleep=slept.append, session=OkSession(),
                          max_wait=4000)
        other = _client("etsy", clock)  # made in the same scope, another marketplace: no app buckets
    finally:
        app_scope.reset(token)
    assert other.app is None and isinstance(http.app, AppBuckets)
    for _ in range(30):
        http.get_json("/sell/fulfillment/v1/order")  # no published app quota on this method here
    assert slept == []
    for _ in range(52):
        http.get_json("/sell/analytics/v1/seller_standards_profile")
    per_call = 86_400 / 50  # (100 - 50) calls refill over a day
    assert slept == pytest.approx([per_call, 2 * per_call])  # 50 at once, then reservations one after another
    before = dict(state.values)
    with pytest.raises(ConnectorError) as refused:
        http.get_json("/sell/analytics/v1/seller_standards_profile")  # a third reservation: 5,184 s > 4,000
    assert refused.value.kind == "wait" and refused.value.retry_after == pytest.approx(3 * per_call)
    assert "seller-standards-day (100 per 86400 s)" in str(refused.value)
    assert state.values == before  # a refused call reserved nothing


def _spend(url: str, account: str, start: Any, out: Any, n: int) -> None:  # a forked "worker" process
    from sellerguard.clock import FixedClock

    store = Store(url, migrate=False)
    acc = _accounts((account, "mercadolibre", "ML-APP-1"))[account]
    clock = FixedClock(NOW)  # each process's own clock moves by its own waits (sleep advances it)
    token = app_scope.set(app_scope_for(store, acc))
    try:
        http = _client("mercadolibre", clock)
    finally:
        app_scope.reset(token)
    start.wait()
    times = []
    for _ in range(n):
        http.get_json("/messages/packs/1/sellers/2", bucket="messages")
        times.append((clock.now() - NOW).total_seconds())  # when the call went out
    out.put(times)
    store.close()


@pytest.mark.postgres
def test_two_workers_on_two_accounts_of_one_app_stay_within_the_apps_limit_together(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes (two workers), each syncing its own Mercado Libre account of ONE app, make 15 message calls
    each at the same instant against a quota of 20 a minute (the published 500 scaled down). Together: 2 calls at
    once (the burst), then one every 60 / 18 s, so no minute holds more than 20 of the 30 calls; per account
    buckets would have let each process make 20."""
    monkeypatch.setenv("SELLERGUARD_APP_QUOTAS", "mercadolibre.messages-minute=20")
    ctx = multiprocessing.get_context("fork")
    with pg_schema_url("quota") as url:
        Store(url).close()  # migrated once, before the workers
        start, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_spend, args=(url, acc, start, out, 15)) for acc in ("ml-a", "ml-b")]
        for p in procs:
            p.start()
        calls = sorted(out.get(timeout=60) + out.get(timeout=60))
        for p in procs:
            p.join(10)
    assert len(calls) == 30 and calls[:2] == [0.0, 0.0]
    assert calls[2:] == pytest.approx([k * 60 / 18 for k in range(1, 29)], abs=1e-3)  # the app's pace, shared
    busiest = max(sum(1 for c in calls if t <= c <= t + 60 + 1e-6) for t in calls)  # any closed minute
    assert busiest == 20  # the app's limit, reached and never exceeded (per-account buckets: 2 x 20)
