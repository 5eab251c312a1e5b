"""``sellerguard check``: a refused credential is one line per account, and the token endpoint is asked once.

Before, each stream redeemed the refused refresh token (or client secret) again and printed the same refusal: six
identical PROBLEM lines for eBay. The same failure on several streams that is not the token's (a static Shopify
token the API refuses) is one line naming the streams."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import tomli_w
from click.testing import CliRunner

from sellerguard import connectors
from sellerguard.cli import cli
from sellerguard.clock import FixedClock
from sellerguard.config import parse_config
from sellerguard.preflight import check_account
from sellerguard.sandbox import Sandbox, World
from sellerguard.sandbox.world import DEFAULT_ACCOUNTS
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WANTED = ("ebay-us", "walmart-us", "mercadolibre-br", "shopify-store", "bol-nl")
TOKEN_PATHS = ("/oauth2/token", "/v3/token", "/oauth/token", "/token")


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    accounts = [(a[0], a[1], "healthy", a[3], a[4], 1, 0.0) for a in DEFAULT_ACCOUNTS if a[0] in WANTED]
    with Sandbox(World(NOW, accounts=accounts), clock=FixedClock(NOW)) as sandbox:
        yield sandbox


def _entry(box: Sandbox, account: str, **credentials: str) -> dict:
    marketplace = account.split("-")[0]
    entry = connectors.registry()[marketplace].sandbox_account(box.base_url(marketplace), account)
    return {**entry, "credentials": {**entry["credentials"], **credentials}}


@pytest.mark.parametrize(("account", "bad"), [
    ("ebay-us", {"refresh_token": "v^1.1#revoked"}),
    ("mercadolibre-br", {"refresh_token": "TG-revoked"}),
    ("walmart-us", {"client_secret": "mistyped"}),
    ("bol-nl", {"client_secret": "mistyped"}),
])
def test_a_refused_credential_is_one_problem_and_one_token_request(box, tmp_path, account, bad):
    acc = parse_config({"accounts": [_entry(box, account, **bad)]}, where="t").accounts[0]
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    box.log.clear()
    findings = check_account(acc, store, FixedClock(NOW), sleep=lambda s: None)
    problems = [f for f in findings if f.level == "problem"]
    assert len(problems) == 1 and problems[0].topic == "token", problems
    assert "refused" in problems[0].text and "every stream needs it: orders" in problems[0].text
    assert sum(1 for _, _, path in box.log if path.endswith(TOKEN_PATHS)) == 1


def test_the_same_failure_on_several_streams_is_one_line_naming_them(box, tmp_path):
    acc = parse_config({"accounts": [_entry(box, "shopify-store", access_token="shpat_wrong")]},
                       where="t").accounts[0]
    findings = check_account(acc, Store(f"sqlite:///{tmp_path / 'sg.db'}"), FixedClock(NOW), sleep=lambda s: None)
    problems = [f for f in findings if f.level == "problem"]
    assert [p.topic for p in problems] == ["orders, disputes"], problems


def test_check_prints_one_problem_line_for_the_account(box, tmp_path):
    config = tmp_path / "sellerguard.toml"
    config.write_text(tomli_w.dumps({"accounts": [_entry(box, "ebay-us", refresh_token="v^1.1#revoked")]}))
    env = {"SELLERGUARD_CONFIG": str(config), "SELLERGUARD_DB": f"sqlite:///{tmp_path / 'sg.db'}",
           "HOME": os.environ.get("HOME", str(tmp_path))}
    result = CliRunner().invoke(cli, ["check", "ebay-us"], env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if "PROBLEM" in line]
    assert len(lines) == 1 and "PROBLEM token:" in lines[0] and "sellerguard connect ebay-us" in lines[0]
