"""Every sandbox token endpoint checks the client's credentials, like the marketplace it stands in for.

For each of the eight marketplaces: the sandbox's own credentials (those ``connectors.<mp>.sandbox_account`` writes
into the demo config) get a token; the same client id with a wrong secret, or none, gets the marketplace's refusal
(its status and error shape), never a token. The code exchanges of Mercado Libre and Shopify check the secret
before the code. One small world (one account per marketplace, one order a day)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sellerguard.clock import FixedClock
from sellerguard.sandbox import Sandbox, World, amazon, ebay, etsy, tiktok
from sellerguard.sandbox.clients import CLIENT_SECRET, basic_client, secret_ok
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS

ACCOUNTS = [(a[0], a[1], "healthy", a[3], a[4], 1, 0.0) for a in DEFAULT_ACCOUNTS if a[0] != "amazon-de"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    clock = FixedClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    with Sandbox(World(clock.now(), accounts=ACCOUNTS), clock=clock) as sandbox:
        yield sandbox


def _basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


# marketplace -> (request for a secret, the refusal it must get: status and a check of the body)
Ask = Callable[[str, str], requests.Response]


def _asks(box: Sandbox) -> dict[str, tuple[Ask, str, int, Callable[[Any], bool]]]:
    url = box.base_url
    walmart_headers = {"WM_QOS.CORRELATION_ID": "c-1", "WM_SVC.NAME": "Walmart Marketplace"}
    return {
        "amazon": (lambda s, _: requests.post(f"{url('amazon')}/auth/o2/token", data={
            "grant_type": "refresh_token", "client_id": amazon.CLIENT_ID, "client_secret": s,
            "refresh_token": "Atzr|sbx-amazon-us"}), amazon.CLIENT_SECRET, 401,
            lambda b: b["error"] == "invalid_client"),
        "ebay": (lambda s, _: requests.post(f"{url('ebay')}/identity/v1/oauth2/token",
                                            headers=_basic(ebay.CLIENT[0], s),
                                            data={"grant_type": "refresh_token", "refresh_token": "v^1.1#sbx-ebay-us"}),
                 ebay.CLIENT[1], 401, lambda b: b["error"] == "invalid_client"),
        "etsy": (lambda s, _: requests.post(f"{url('etsy')}/v3/public/oauth/token",
                                            headers={"x-api-key": f"{etsy.API_KEY.split(':')[0]}:{s}"}, data={
            "grant_type": "refresh_token", "client_id": etsy.API_KEY.split(":")[0],
            "refresh_token": "sbx-refresh-etsy-shop"}), etsy.API_KEY.split(":")[1], 403,
            lambda b: "Invalid API key" in b["error"]),
        "tiktok": (lambda s, _: requests.get(f"{url('tiktok')}/api/v2/token/refresh", params={
            "app_key": tiktok.APP_KEY, "app_secret": s, "grant_type": "refresh_token",
            "refresh_token": "sbx-refresh-tiktok-us"}), tiktok.APP_SECRET, 200, lambda b: b["code"] == 36004004),
        "walmart": (lambda s, _: requests.post(f"{url('walmart')}/v3/token", headers={
            **walmart_headers, **_basic("sandbox-walmart-us", s)}, data={"grant_type": "client_credentials"}),
            CLIENT_SECRET, 401, lambda b: "invalid client id or secret" in str(b)),
        "bol": (lambda s, _: requests.post(f"{url('bol')}/token?grant_type=client_credentials",
                                           headers=_basic("sandbox-bol-nl", s)),
                CLIENT_SECRET, 401, lambda b: b == {"error": "invalid_client"}),
        "mercadolibre": (lambda s, token: requests.post(f"{url('mercadolibre')}/oauth/token", data={
            "grant_type": "refresh_token", "client_id": "sandbox-mercadolibre-br", "client_secret": s,
            "refresh_token": token}), CLIENT_SECRET, 401, lambda b: b["error"] == "invalid_client"),
        "shopify": (lambda s, _: requests.post(f"{url('shopify')}/admin/oauth/access_token", data={
            "grant_type": "client_credentials", "client_id": "sandbox-shopify-store", "client_secret": s}),
            CLIENT_SECRET, 400, lambda b: b["error"] == "invalid_client"),
    }


MARKETPLACES = ["amazon", "ebay", "etsy", "tiktok", "walmart", "bol", "mercadolibre", "shopify"]


@pytest.mark.parametrize("marketplace", MARKETPLACES)
def test_a_wrong_or_empty_secret_gets_the_refusal_and_the_right_one_a_token(box, marketplace):
    ask, right, status, refusal = _asks(box)[marketplace]
    ml_token = "TG-sandbox-mercadolibre-br-" + marketplace  # single use: a fresh one of the account's form
    for wrong in ("wrong-secret", "", right + "x", right.upper()):
        reply = ask(wrong, ml_token)
        assert reply.status_code == status and refusal(reply.json()), (wrong, reply.text)
        assert "access_token" not in reply.text
    ok = ask(right, ml_token)
    assert ok.status_code == 200 and "access_token" in ok.text, ok.text


@pytest.mark.parametrize("marketplace", ["mercadolibre", "shopify"])
def test_the_code_exchange_checks_the_secret_before_the_code(box, marketplace):
    path = {"mercadolibre": "/oauth/token", "shopify": "/admin/oauth/access_token"}[marketplace]
    form = {"grant_type": "authorization_code", "client_id": f"sandbox-{marketplace}-x", "code": "no-such-code",
            "redirect_uri": "http://127.0.0.1:1/cb"}
    refused = requests.post(box.base_url(marketplace) + path, data={**form, "client_secret": "guess"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    right = requests.post(box.base_url(marketplace) + path, data={**form, "client_secret": CLIENT_SECRET})
    assert right.status_code != 401 and "access_token" not in right.text  # past the secret: the code is refused


def test_the_demo_config_carries_the_credentials_the_sandbox_accepts():
    from sellerguard import connectors

    for marketplace in ("walmart", "bol", "mercadolibre"):
        creds = connectors.registry()[marketplace].sandbox_account("http://x", f"{marketplace}-a")["credentials"]
        assert secret_ok(creds["client_secret"]) and creds["client_id"] == f"sandbox-{marketplace}-a"


@pytest.mark.parametrize(("header", "pair"), [
    (None, ("", None)), ("Bearer x", ("", None)), ("Basic !!!", ("", None)),
    ("Basic " + base64.b64encode(b"id-only").decode(), ("id-only", None)),
    ("Basic " + base64.b64encode(b"id:s:ec").decode(), ("id", "s:ec")),
])
def test_basic_client_reads_only_a_well_formed_basic_header(header, pair):
    assert basic_client(header) == pair
