"""Issue 23 review: what a new user gets wrong in `init --marketplace` is refused in one line, exit 3, and the
config is left byte for byte as it was (never a config that every later command refuses)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli


@pytest.fixture()
def config(tmp_path):
    cfg = tmp_path / "c.toml"
    assert CliRunner().invoke(cli, ["--config", str(cfg), "init"]).exit_code == 0
    return cfg


@pytest.mark.parametrize(("args", "said"), [
    # an option the connector does not have used to be written, then every command refused the config
    (["etsy", "--option", "foo=bar"], "accounts[etsy-shop].options: foo"),
    # a misspelt credential was stored unused while the real one got a default reference
    (["amazon", "--credential", "client_secert=env:X"], "unknown credential 'client_secert' for Amazon Selling "
                                                         "Partner API (did you mean 'client_secret'?)"),
    (["ebay", "--credential", "client_id="], "client_id is empty"),
    # without a terminal there is no one to ask: a made-up store name would send the consent to a stranger's store
    (["shopify"], "--option shop=NAME"),
    (["bol", "--region", "XX"], "unknown region 'XX' for bol.com"),
])
def test_init_marketplace_refuses_bad_input_and_writes_nothing(config, args, said):
    before = config.read_bytes()
    result = CliRunner().invoke(cli, ["--config", str(config), "init", "--marketplace", *args])
    assert result.exit_code == 3, result.output
    assert said in result.output and len(result.output.strip().splitlines()) == 1
    assert config.read_bytes() == before
    assert CliRunner().invoke(cli, ["--config", str(config), "init", "--marketplace", "shopify", "--option",
                                    "shop=acme"]).exit_code == 0  # the config still takes a good account


def test_init_marketplace_on_a_config_with_a_bom_says_so(config):
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    before = config.read_bytes()
    result = CliRunner().invoke(cli, ["--config", str(config), "init", "--marketplace", "bol"])
    assert result.exit_code == 3 and "byte-order mark (BOM)" in result.output
    assert config.read_bytes() == before


def test_check_warns_when_a_credential_file_is_readable_by_others(tmp_path):
    from sellerguard.config import parse_config
    from sellerguard.preflight import _exposed

    token = tmp_path / "t.refresh_token"
    token.write_text("v^1.1#secret\n")
    acc = parse_config({"accounts": [{"id": "e", "marketplace": "ebay", "credentials": {
        "refresh_token": f"file:{token}", "client_id": "env:X"}}]}).accounts[0]
    token.chmod(0o600)
    assert _exposed(acc, "refresh_token") == [] and _exposed(acc, "client_id") == []
    token.chmod(0o644)
    (finding,) = _exposed(acc, "refresh_token")
    assert finding.level == "warn" and "mode 0644" in finding.text and f"chmod 600 {token}" in finding.text
    assert "secret" not in finding.text.replace(str(tmp_path), "")


def test_shipped_packs_name_no_folder_a_user_does_not_have():
    from pathlib import Path

    from sellerguard import rules

    packs = sorted((Path(rules.__file__).parent / "packs").glob("*.toml"))
    assert len(packs) == 8 and not [p.name for p in packs if "../shared" in p.read_text(encoding="utf-8")]


@pytest.mark.parametrize(("marketplace", "creds", "missing"), [
    # an account with a refresh token set by hand (or the sandbox's config) syncs without the consent's App ID
    ("amazon", {"client_id": "a", "client_secret": "b", "refresh_token": "c"}, []),
    ("amazon", {"client_id": "a", "client_secret": "b"}, ["application_id"]),  # connect needs it
    ("tiktok", {"app_key": "a", "app_secret": "b", "refresh_token": "c"}, []),
    ("shopify", {"access_token": "a"}, []),
    ("shopify", {}, ["client_id", "client_secret"]),
    ("ebay", {"client_id": "a", "refresh_token": "c"}, ["client_secret"]),  # the refresh needs it
])
def test_check_asks_only_for_credentials_the_next_sync_needs(marketplace, creds, missing):
    from sellerguard.config import parse_config
    from sellerguard.consent import PROVIDERS
    from sellerguard.preflight import missing_credentials

    acc = parse_config({"accounts": [{"id": "a", "marketplace": marketplace, "credentials": creds}]}).accounts[0]
    assert missing_credentials(acc, PROVIDERS[marketplace]) == missing


def test_status_filters_that_match_no_account_say_so(tmp_path, store):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nid = "w"\nmarketplace = "walmart"\n'
                   'credentials = { client_id = "x", client_secret = "y" }\n')
    base = ["--config", str(cfg), "--db", store.url]
    result = CliRunner().invoke(cli, [*base, "status", "--marketplace", "ebay"])
    assert result.exit_code == 3 and result.output == "Error: status: no account matches --marketplace ebay\n"


@pytest.mark.parametrize(("marketplace", "region", "hint"), [
    ("amazon", "us", "did you mean 'na'?"), ("amazon", "DE", "did you mean 'eu'?"), ("amazon", "jp", "'fe'?"),
    ("ebay", "UK", "did you mean 'EBAY_GB'?"), ("ebay", "de", "'EBAY_DE'?"), ("mercadolibre", "BR", "'MLB'?"),
])
def test_a_country_where_a_region_is_wanted_is_refused_naming_the_region(marketplace, region, hint):
    from sellerguard.config import parse_config
    from sellerguard.consent import check_region
    from sellerguard.errors import ConfigError

    acc = parse_config({"accounts": [{"id": "a", "marketplace": marketplace, "region": region}]}).accounts[0]
    with pytest.raises(ConfigError, match=f"unknown region '{region}'") as err:
        check_region(acc)
    assert hint in str(err.value)


def test_import_refuses_an_account_line_with_a_region_the_marketplace_does_not_have(tmp_path):
    data = tmp_path / "a.jsonl"
    data.write_text('{"kind": "account", "id": "s", "marketplace": "mercadolibre", "region": "BR"}\n')
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path}/d.db", "import", str(data)])
    assert result.exit_code == 3 and f"{data}:1: region: unknown region 'BR'" in result.output
    assert "did you mean 'MLB'?" in result.output and not (tmp_path / "d.db").exists()  # nothing written


def test_check_redeems_the_credential_instead_of_a_cached_access_token(clock):
    from sellerguard.preflight import _CheckState

    rows = {"access_token": "2099-01-01T00:00:00+00:00 cached", "refresh_token": "rotated", "cursor": "c1"}

    class Store:

        def state(self, account, key):
            return rows.get(key)

        def put_state(self, account, key, value, now):
            rows[key] = value

    state = _CheckState(Store(), "a", clock)
    # a mistyped or revoked refresh token is found now, not when the cached access token runs out hours later
    assert state.get("access_token") is None
    assert state.get("refresh_token") == "rotated" and state.get("cursor") == "c1"  # the rotated one is used
    state.put("access_token", "2099-01-01T00:00:00+00:00 fresh")  # fetched by this check: kept and reused
    state.put("cursor", "c2")  # never stored by a check
    assert state.get("access_token").endswith("fresh") and rows["cursor"] == "c1"
