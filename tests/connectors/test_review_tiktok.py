"""Reviewer's cases for TikTok: more "200 with an error inside" wordings (issue 17 items 4 and 6 kinds)."""

from __future__ import annotations

import json

import pytest
import requests

from sellerguard.connectors.tiktok import classify


def reply(code: int, message: str, status: int = 200) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps({"code": code, "message": message, "request_id": "2026112312000001"}).encode()
    return r


@pytest.mark.parametrize(("code", "message", "action", "kind"), [
    # token refused in other words than 105001/105002: refresh once and retry (was: fail as a bad payload)
    (105000, "Access token is invalid", "refresh", "config"),
    (105003, "access_token invalid", "refresh", "config"),
    (105002, "Expired credentials", "refresh", "config"),
    # throttling and outages worded without "too many" / "rate limit": wait and retry (was: fail as payload)
    (36009009, "API call is throttled, qps limit exceeded", "retry", "wait"),
    (36009005, "Request exceeded the QPS limit", "retry", "wait"),
    (12052700, "Service unavailable, please retry later", "retry", "wait"),
    # a refused request time is this machine's clock, not the token
    (106001, "Request timestamp is expired", "fail", "config"),
    # still what they were
    (36004001, "refresh token expired", "fail", "config"),
    (36009002, "page_token is invalid", "fail", "payload"),
    (36009003, "Internal system error", "retry", "wait"),
])
def test_more_error_wordings_inside_200(code, message, action, kind):
    rule = classify(reply(code, message), "tt-us")
    assert (rule.action, rule.kind) == (action, kind)
    assert "2026112312000001" in rule.message  # TikTok's request id is kept


def test_the_same_code_on_a_401_is_read_too():
    rule = classify(reply(105000, "Access token is invalid", status=401), "tt-us")
    assert rule.action == "refresh"
