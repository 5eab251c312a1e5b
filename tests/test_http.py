"""The shared HTTP core: retries, Retry-After, refresh once, error kinds, token buckets, masking."""

from datetime import timedelta

import pytest
import requests
import responses

from sellerguard.errors import ConnectorError
from sellerguard.http import AccessToken, ErrorRule, HttpClient, mask_url, retry_after_seconds

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
