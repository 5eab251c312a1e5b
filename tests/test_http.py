"""The shared HTTP core: retries, Retry-After, refresh once, error kinds, token buckets, masking."""

from datetime import timedelta

import pytest
import requests
import responses

from sellerguard.errors import ConnectorError
from sellerguard.http import (
    INSIDE_5XX,
    INSIDE_AUTH,
    INSIDE_THROTTLED,
    AccessToken,
    ErrorRule,
    ExpiredShape,
    HttpClient,
    body_codes,
    mask_url,
    retry_after_seconds,
    shared_buckets,
)

BASE = "https://api.example.test"


def client(clock, **kw):
    return HttpClient(base_url=BASE, marketplace="example", clock=clock, sleep=clock.sleep, **kw)


@responses.activate
def test_429_honours_retry_after_then_succeeds(clock):
    responses.get(f"{BASE}/orders", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/orders", json={"ok": True})
    assert client(clock).get_json("/orders") == {"ok": True}
    assert clock.slept == [7.0]


@responses.activate
def test_retry_after_as_http_date(clock):
    when = (clock.now() + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(when, clock.now()) == 30
    assert retry_after_seconds("soon", clock.now()) is None


@responses.activate
def test_long_retry_after_is_not_slept_on(clock):
    responses.get(f"{BASE}/orders", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ConnectorError) as exc:
        client(clock).get_json("/orders")
    assert exc.value.kind == "wait" and exc.value.retry_after == 3600
    assert str(exc.value).endswith("(HTTP 429); the marketplace asks to retry in 3600 s")
    assert clock.slept == []


@responses.activate
def test_5xx_exhausted_is_a_wait_error_with_backoff(clock):
    responses.get(f"{BASE}/orders", status=503)
    with pytest.raises(ConnectorError) as exc:
        client(clock, max_attempts=4).get_json("/orders")
    assert exc.value.kind == "wait"
    assert str(exc.value) == (
        "example: GET https://api.example.test/orders: the marketplace is unavailable (HTTP 503);"
        " gave up after 4 attempts"
    )
    assert len(clock.slept) == 3 and len(responses.calls) == 4


@responses.activate
def test_connection_error_is_retried_then_reported(clock):
    responses.get(f"{BASE}/orders", body=requests.ConnectionError("refused"))
    with pytest.raises(ConnectorError, match="cannot reach the marketplace") as exc:
        client(clock, max_attempts=2).get_json("/orders")
    assert exc.value.kind == "wait"


@responses.activate
def test_401_refreshes_the_token_once(clock):
    issued = iter(["t1", "t2", "t3"])
    token = AccessToken(lambda: (next(issued), clock.now() + timedelta(hours=1)), clock)
    c = client(clock, token=token, auth=lambda h: h.__setitem__("Authorization", f"Bearer {token.get()}"))
    responses.get(f"{BASE}/orders", status=401)
    responses.get(f"{BASE}/orders", json=[1])
    assert c.get_json("/orders") == [1]
    assert [call.request.headers["Authorization"] for call in responses.calls] == ["Bearer t1", "Bearer t2"]
    responses.replace(responses.GET, f"{BASE}/orders", status=401)
    with pytest.raises(ConnectorError) as exc:
        c.get_json("/orders")
    assert exc.value.kind == "config"  # refreshed once already: the credentials themselves are wrong


def test_access_token_is_cached_until_near_expiry(clock):
    calls = []

    def fetch():
        calls.append(1)
        return f"t{len(calls)}", clock.now() + timedelta(seconds=900)

    token = AccessToken(fetch, clock, margin_s=60)
    assert token.get() == token.get() == "t1"
    clock.advance(841)
    assert token.get() == "t2"


@responses.activate
def test_body_level_errors_use_the_connector_classifier(clock):
    responses.get(f"{BASE}/x", json={"code": 105001, "message": "bad signature"})

    def classify(resp):
        code = resp.json().get("code", 0)
        return ErrorRule("fail", "config", "the request signature was refused") if code else None

    with pytest.raises(ConnectorError, match="signature was refused") as exc:
        client(clock, classify=classify).get_json("/x")
    assert exc.value.kind == "config"


@responses.activate
def test_invalid_json_is_a_payload_error(clock):
    responses.get(f"{BASE}/x", body="<html>oops</html>")
    with pytest.raises(ConnectorError) as exc:
        client(clock).get_json("/x")
    assert exc.value.kind == "payload"


@responses.activate
def test_token_bucket_paces_requests(clock):
    responses.get(f"{BASE}/orders", json={})
    c = client(clock)
    c.limit("orders", rate=0.5, burst=2)
    for _ in range(4):
        c.get_json("/orders", bucket="orders")
    assert clock.slept == [2.0, 2.0]


def test_secret_query_values_are_masked():
    assert mask_url("https://x/y?access_token=abc&page=2&sign=ff") == "https://x/y?access_token=***&page=2&sign=***"


# -- 17.4: every marketplace's "token expired/revoked" shape refreshes once -----------------------------


def token_client(clock, **kw):
    issued = iter(["t1", "t2", "t3", "t4"])
    token = AccessToken(lambda: (next(issued), clock.now() + timedelta(hours=1)), clock)
    return token, client(clock, token=token, auth=lambda h: h.__setitem__("Authorization", f"Bearer {token.get()}"),
                         **kw)


AMAZON_EXPIRED = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                              "details": "The access token you provided has expired."}]}


@pytest.mark.parametrize("status,body,shapes", [
    (403, AMAZON_EXPIRED, ()),  # Amazon SP-API: the expiry is in `details`, not `code`
    (400, {"error": "invalid_token", "error_description": "The access token is invalid"}, ()),
    (200, {"code": 105002, "message": "Expired credentials", "request_id": "2026abc"},
     (ExpiredShape(status=200, code=105002),)),  # TikTok: 200 with a code
    (403, {"errors": [{"errorId": 1100, "message": "Access denied", "longMessage": "Insufficient permissions"}]},
     (ExpiredShape(status=403, code=1100),)),
])
@responses.activate
def test_expired_shapes_refresh_once_and_retry(clock, status, body, shapes):
    _, c = token_client(clock, expired=shapes)
    responses.get(f"{BASE}/orders", status=status, json=body)
    responses.get(f"{BASE}/orders", json={"orders": []})
    assert c.get_json("/orders") == {"orders": []}
    assert [call.request.headers["Authorization"] for call in responses.calls] == ["Bearer t1", "Bearer t2"]


@responses.activate
def test_expired_again_after_a_refresh_says_reauthorize_and_keeps_no_dead_token(clock):
    token, c = token_client(clock)
    responses.get(f"{BASE}/orders", status=403, json=AMAZON_EXPIRED)
    with pytest.raises(ConnectorError) as exc:
        c.get_json("/orders")
    assert exc.value.kind == "config" and "re-authorize this account" in str(exc.value)
    assert token._token is None  # the dead token is not cached for the next call
    assert token.fetches == 2


@responses.activate
def test_a_refused_token_is_dropped_from_connector_state_too(clock):
    stored = {"access_token": "2026-11-23T13:00:00+00:00 t1"}
    issued = iter(["t1", "t2"])
    token = AccessToken(lambda: (next(issued), clock.now() + timedelta(hours=1)), clock,
                        on_invalidate=lambda: stored.pop("access_token", None))
    c = client(clock, token=token, auth=lambda h: h.__setitem__("Authorization", f"Bearer {token.get()}"))
    responses.get(f"{BASE}/orders", status=401)
    responses.get(f"{BASE}/orders", json={})
    c.get_json("/orders")
    assert stored == {}


@responses.activate
def test_a_403_that_is_not_an_expiry_is_not_refreshed(clock):
    token, c = token_client(clock)
    denied = {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}
    responses.get(f"{BASE}/orders", status=403, json=denied)
    with pytest.raises(ConnectorError, match="lacks a role or scope"):
        c.get_json("/orders")
    assert token.fetches == 1 and len(responses.calls) == 1


# -- 17.6: 200 with an error inside, classified like its HTTP equivalent --------------------------------

SHOPIFY_CODES = body_codes({"INTERNAL_SERVER_ERROR": INSIDE_5XX, "THROTTLED": INSIDE_THROTTLED,
                            "ACCESS_DENIED": INSIDE_AUTH},
                           lambda b: (e.get("extensions", {}).get("code") for e in b.get("errors") or []))


def gql_error(code, rid="f1e2d3-req"):
    return {"errors": [{"message": "oops", "extensions": {"code": code, "requestId": rid}}]}


@responses.activate
def test_200_with_an_internal_error_is_retried_then_succeeds(clock):
    responses.post(f"{BASE}/graphql", json=gql_error("INTERNAL_SERVER_ERROR"))
    responses.post(f"{BASE}/graphql", json={"data": {"orders": []}})
    assert client(clock, classify=SHOPIFY_CODES).json(
        client(clock, classify=SHOPIFY_CODES).request("POST", "/graphql"), "/graphql") == {"data": {"orders": []}}
    assert len(clock.slept) == 1


@responses.activate
def test_200_with_errors_keeps_the_request_id_in_the_message_and_the_log(clock, caplog):
    responses.post(f"{BASE}/graphql", json=gql_error("INTERNAL_SERVER_ERROR", "req-77"))
    with caplog.at_level("INFO", logger="sellerguard.http"), pytest.raises(ConnectorError) as exc:
        client(clock, classify=SHOPIFY_CODES, max_attempts=2).request("POST", "/graphql")
    assert exc.value.kind == "wait" and exc.value.request_id == "req-77"
    assert str(exc.value).endswith("(HTTP 200) (request id req-77); gave up after 2 attempts")
    assert "req-77" in caplog.text


@responses.activate
def test_200_with_access_denied_fails_without_retry(clock):
    responses.post(f"{BASE}/graphql", json=gql_error("ACCESS_DENIED"))
    with pytest.raises(ConnectorError) as exc:
        client(clock, classify=SHOPIFY_CODES).request("POST", "/graphql")
    assert exc.value.kind == "config" and len(responses.calls) == 1


@responses.activate
def test_request_id_from_a_header(clock):
    responses.get(f"{BASE}/x", status=400, json={}, headers={"x-amzn-RequestId": "abc-123"})
    with pytest.raises(ConnectorError, match=r"\(request id abc-123\)"):
        client(clock).get_json("/x")


@pytest.mark.parametrize("body", [b"", b"<html><body>Maintenance</body></html>", b'{"orders": [1, 2',
                                  b'{"total": NaN}', b'{"x": Infinity}'])
@responses.activate
def test_bodies_that_are_not_json_are_payload_errors(clock, body):
    responses.get(f"{BASE}/x", body=body)
    with pytest.raises(ConnectorError) as exc:
        client(clock).get_json("/x")
    assert exc.value.kind == "payload" and "\n" not in str(exc.value)


@responses.activate
def test_corrupt_content_encoding_is_a_payload_error(clock):
    responses.get(f"{BASE}/x", body=b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"})
    with pytest.raises(ConnectorError) as exc:
        client(clock).get_json("/x")
    assert exc.value.kind == "payload"


# -- 19.5: rate buckets shared through the store --------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_share_one_bucket_through_the_store(tmp_path, clock, backend):
    from contextlib import ExitStack

    from pg import pg_schema_url

    from sellerguard.store import Store

    with ExitStack() as stack:
        url = stack.enter_context(pg_schema_url()) if backend == "postgres" else f"sqlite:///{tmp_path / 'b.db'}"
        a, b = Store(url), Store(url)  # two processes' stores on one database
        stack.callback(a.close)
        stack.callback(b.close)
        share_one_bucket(a, b, clock)


def share_one_bucket(a, b, clock):
    from sellerguard.sync import StoreBuckets

    slept = []
    clients = []
    for s in (a, b):
        token = shared_buckets.set((StoreBuckets(s, "acc"), "acc"))
        try:
            c = client(clock)
            c.sleep = slept.append
            c.limit("orders", rate=1.0, burst=2)
            c.limits["orders"]._sleep = slept.append
            clients.append(c)
        finally:
            shared_buckets.reset(token)
    for c in (clients[0], clients[1], clients[0], clients[1]):
        c.limits["orders"].acquire()
    assert slept == [1.0, 2.0]  # burst of 2 shared: the 3rd and 4th calls wait, whichever process makes them


def test_fast_shared_buckets_take_blocks_and_stay_within_the_limit(tmp_path, clock):
    """Issue 21: a fast bucket takes a block of tokens per store round trip (rate x 20 ms, at most half the
    burst); two processes sharing it never spend more than burst + rate x t between them."""
    from sellerguard.store import Store
    from sellerguard.sync import StoreBuckets

    url = f"sqlite:///{tmp_path / 'b.db'}"
    a, b = Store(url), Store(url)
    trips = []
    buckets = []
    for s in (a, b):
        update = s.update_state
        s.update_state = lambda *args, _u=update: (trips.append(1), _u(*args))[1]
        token = shared_buckets.set((StoreBuckets(s, "acc"), "acc"))
        try:
            c = client(clock)
            c.limit("orders", rate=1000.0, burst=10)
            buckets.append(c.limits["orders"])
        finally:
            shared_buckets.reset(token)
    assert buckets[0].block == 5
    slept = []
    for bucket in buckets:
        bucket._sleep = slept.append
    spent_free = 0
    for i in range(40):  # no time passes: only the burst may go without waiting
        before = len(slept)
        buckets[i % 2].acquire()
        spent_free += len(slept) == before
    assert spent_free <= 10
    clock.advance(1)  # the reservations above are paid
    trips.clear()
    for _ in range(200):  # one process at half the rate: a round trip per block, not per call
        clock.advance(0.002)
        buckets[0].acquire()
    assert len(trips) <= 200 // 5 + 10
    a.close()
    b.close()


@responses.activate
def test_errors_quote_what_the_marketplace_said_not_a_guess(clock):
    responses.get(f"{BASE}/x", status=404, json={"errors": [{"errorId": 2002, "message": "Resource not found\nfor"
                                                                                          " seller X"}]})
    with pytest.raises(ConnectorError) as exc:
        client(clock).get_json("/x")
    assert str(exc.value) == ("example: GET https://api.example.test/x: not found: the marketplace does not know this"
                              " resource (HTTP 404); the marketplace said: 'Resource not found for seller X'")
    assert "region" not in str(exc.value) and "seller id" not in str(exc.value)  # no configuration guess


@responses.activate
def test_a_good_body_is_decoded_once_and_a_bad_one_still_names_its_request_id(clock, monkeypatch):
    """The request id is looked for (in the headers, then the body: a second decode) only when the body is not
    JSON: every good page was decoded twice before (issue 21)."""
    import sellerguard.http as http_module

    looked = []
    real = http_module.request_id
    monkeypatch.setattr(http_module, "request_id", lambda r: looked.append(r) or real(r))
    responses.get(f"{BASE}/ok", json={"orders": [1, 2]})
    responses.get(f"{BASE}/bad", body=b"<html>Maintenance</html>", headers={"x-request-id": "rq-9"})
    assert client(clock).get_json("/ok") == {"orders": [1, 2]} and looked == []
    with pytest.raises(ConnectorError, match=r"an HTML page.*\(request id rq-9\)") as exc:
        client(clock).get_json("/bad")
    assert exc.value.kind == "payload" and exc.value.request_id == "rq-9"
