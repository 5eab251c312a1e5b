"""Issue 23, done-when: a new user goes from `init` to a synced account through `connect` and `check`, with no
manual token exchange, for each of the eight marketplaces (the loopback sandbox standing in for each).

One module-scoped sandbox over a small world (one account per marketplace, 2 orders a day); the "browser" is an
HTTP GET of the consent URL, which the sandbox answers with a redirect to connect's loopback listener.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

import pytest
import requests
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.sandbox import Sandbox
from sellerguard.sandbox.world import World

pytestmark = pytest.mark.slow

# (marketplace, world account id, site) and the app credentials a seller would have from the marketplace
ACCOUNTS = [("amazon", "amazon-us", "ATVPDKIKX0DER"), ("ebay", "ebay-us", "EBAY_US"), ("walmart", "walmart-us", "US"),
            ("etsy", "etsy-shop", "US"), ("tiktok", "tiktok-us", "US"), ("mercadolibre", "mercadolibre-br", "MLB"),
            ("bol", "bol-nl", "NL"), ("shopify", "shopify-store", "US")]
APP = {
    "amazon": {"application_id": "amzn1.sp.solution.sbx", "client_id": "amzn1.application-oa2-client.sandbox",
               "client_secret": "sbx-secret"},
    "ebay": {"client_id": "SandboxApp-sellergu-SBX-0000", "client_secret": "SBX-secret"},
    "walmart": {"client_id": "sandbox-walmart-us", "client_secret": "sandbox-secret"},
    "etsy": {"keystring": "sbxkeystring", "shared_secret": "sbxsecret"},
    "tiktok": {"app_key": "sbxappkey", "app_secret": "sbxappsecret", "service_id": "7000001"},
    "mercadolibre": {"client_id": "sandbox-mercadolibre-br", "client_secret": "sandbox-secret"},
    "bol": {"client_id": "sandbox-bol-nl", "client_secret": "sandbox-secret"},
    "shopify": {"client_id": "sandbox-shopify-store", "client_secret": "sandbox-secret"},
}
REGION = {"amazon": "na", "ebay": "EBAY_US", "walmart": "US", "tiktok": "US", "mercadolibre": "MLB", "bol": "NL"}
# loopback pacing, and a short first sync: the flow is under test here, not the connectors (their own tests)
OPTIONS = {"mercadolibre": ["requests_per_second=1000", "messages_per_minute=60000"], "bol": ["pace=200"],
           "shopify": ["shop=shopify-store"], "amazon": ["backfill=pages", "categories=false", "package_days=7"]}


@pytest.fixture(scope="module")
def box():
    now = datetime.now(UTC).replace(microsecond=0)
    world = World(now, seed=3, accounts=[(i, m, "healthy", site, "USD", 1, 0.0) for m, i, site in ACCOUNTS])
    with Sandbox(world) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def home(tmp_path_factory, box):
    folder = tmp_path_factory.mktemp("onboarding")
    cfg = folder / "sellerguard.toml"
    env = {"SELLERGUARD_CONFIG": str(cfg), "SELLERGUARD_DB": f"sqlite:///{folder / 'sg.db'}"}
    result = CliRunner().invoke(cli, ["init"], env=env)
    assert result.exit_code == 0, result.output
    return cfg, env


def browser(url: str) -> None:
    """The seller's browser: follows the consent page's redirect to connect's listener."""
    reply = requests.get(url, timeout=10)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("marketplace,account", [(m, i) for m, i, _ in ACCOUNTS])
def test_init_connect_check_sync(box, home, monkeypatch, marketplace, account):
    cfg, env = home
    run = CliRunner()
    args = ["init", "--marketplace", marketplace, "--id", account, "--base-url", box.base_url(marketplace)]
    if marketplace in REGION:
        args += ["--region", REGION[marketplace]]
    args += [x for k, v in APP[marketplace].items() for x in ("--credential", f"{k}={v}")]
    args += [x for o in [*OPTIONS.get(marketplace, []), "backfill_days=7"] for x in ("--option", o)]
    added = run.invoke(cli, args, env=env)
    assert added.exit_code == 0, added.output
    assert f"[[accounts]]\nid = \"{account}\"" in cfg.read_text()
    assert "# --- Amazon Selling Partner API" in cfg.read_text()  # the starter's comments are still there

    monkeypatch.setattr("webbrowser.open", browser)
    connected = run.invoke(cli, ["connect", account, "--port", "0", "--timeout", "20"], env=env)
    assert connected.exit_code == 0, connected.output + str(connected.exception)
    if marketplace in ("walmart", "bol"):
        assert "uses client credentials" in connected.output
    else:
        assert "connected to" in connected.output and "scopes:" in connected.output
        kept = "access_token" if marketplace == "shopify" else "refresh_token"
        token_file = cfg.parent / "tokens" / f"{account}.{kept}"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        secret = token_file.read_text().strip()
        assert secret not in connected.output  # never printed
        assert f'"file:{token_file}"' in cfg.read_text()

    checked = run.invoke(cli, ["check", account], env=env)
    assert checked.exit_code in (0, 1), checked.output  # warnings allowed (none expected), no problem
    assert "PROBLEM" not in checked.output and "first page read" in checked.output

    synced = run.invoke(cli, ["sync", "--account", account], env=env)
    assert synced.exit_code == 0, synced.output
    assert f"{account}: " in synced.output and " records" in synced.output
