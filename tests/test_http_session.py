"""The shared session reads proxy settings from the environment once per host (issue 21 item 1), and still
honours HTTPS_PROXY, NO_PROXY and explicit arguments as requests does."""

from __future__ import annotations

import requests
import responses

from sellerguard.http import PooledSession


def test_proxies_resolved_once_per_host_and_still_honoured(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    calls = []
    real = requests.utils.get_environ_proxies
    monkeypatch.setattr(requests.utils, "get_environ_proxies", lambda url, no_proxy=None: calls.append(url)
                        or real(url, no_proxy=no_proxy))
    session = PooledSession()
    for _ in range(3):
        merged = session.merge_environment_settings("https://api.ebay.com/sell/x?offset=1", {}, None, None, None)
        assert merged["proxies"]["https"] == "http://proxy.example:3128"
    assert len(calls) == 1
    loopback = session.merge_environment_settings("https://127.0.0.1:8080/x", {}, None, None, None)
    assert "https" not in loopback["proxies"]  # NO_PROXY
    explicit = session.merge_environment_settings("https://api.ebay.com/y", {"https": "http://other:1"}, None,
                                                  None, None)
    assert explicit["proxies"]["https"] == "http://other:1"  # an explicit argument wins, as in requests
    assert len(calls) == 2


def test_ca_bundle_from_environment_and_trust_env_off(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = PooledSession()
    assert session.merge_environment_settings("https://a.example/", {}, None, None, None)["verify"] == \
        "/etc/ssl/custom.pem"
    assert session.merge_environment_settings("https://a.example/", {}, None, False, None)["verify"] is False
    session.trust_env = False
    assert session.merge_environment_settings("https://b.example/", {}, None, None, None)["proxies"] == {}


@responses.activate
def test_requests_go_through_as_before():
    responses.get("https://api.example.com/ping", json={"ok": True})
    session = PooledSession()
    assert [session.get("https://api.example.com/ping").json() for _ in range(2)] == [{"ok": True}] * 2
