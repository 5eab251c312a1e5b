"""Issue 23: init blocks, regions honoured or refused, connect's refusals (state, PKCE, HMAC), typos named."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from click.testing import CliRunner

from sellerguard import authflow
from sellerguard.cli import cli
from sellerguard.config import parse_config
from sellerguard.consent import PROVIDERS, check_region, did_you_mean
from sellerguard.errors import ConfigError
from sellerguard.starter import DEFAULTS, STARTER

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def account(marketplace: str, **kw):
    data = {"id": "a1", "marketplace": marketplace, **kw}
    return parse_config({"accounts": [data]}).accounts[0]


def test_starter_has_a_commented_block_for_every_marketplace_and_loads():
    assert set(DEFAULTS) == set(PROVIDERS) and len(PROVIDERS) == 8
    for p in PROVIDERS.values():
        assert f"# --- {p.name} " in STARTER and f'# marketplace = "{p.marketplace}"' in STARTER
        assert p.docs in STARTER.replace("\n#   ", " ")
    for block in STARTER.split("# --- ")[1:]:  # each block, uncommented, is a valid account
        toml = block.split("# [[accounts]]\n", 1)[1].split("\n\n", 1)[0]
        acc = parse_config(tomllib.loads("[[accounts]]\n" + "\n".join(ln[2:] for ln in toml.splitlines()))).accounts[0]
        check_region(acc)


@pytest.mark.parametrize("marketplace,good,bad", [
    ("amazon", "eu", "us"), ("ebay", "EBAY_GB", "EBAY_XX"), ("walmart", "US", "CA"), ("tiktok", "GB", "UK"),
    ("mercadolibre", "MLM", "MLX"), ("bol", "BE", "DE"), ("etsy", None, None), ("shopify", None, None)])
def test_every_marketplace_honours_or_refuses_its_region(marketplace, good, bad):
    if good is not None:
        assert check_region(account(marketplace, region=good)).lower() == good.lower()
        with pytest.raises(ConfigError, match=f"unknown region '{bad}'"):
            check_region(account(marketplace, region=bad))
    else:  # no regions: any value is ignored by design, and said so in the block's comment
        assert "not used" in PROVIDERS[marketplace].region_note


def test_ebay_region_picks_the_marketplace_id_a_uk_seller_is_not_evaluated_as_us():
    from sellerguard.connectors import ebay

    assert ebay.marketplace_id(account("ebay", region="EBAY_GB"), ebay.Options()) == "EBAY_GB"
    assert ebay.marketplace_id(account("ebay", region="EBAY_DE"), ebay.Options()) == "EBAY_DE"
    assert ebay.marketplace_id(account("ebay"), ebay.Options()) == "EBAY_US"
    assert ebay.marketplace_id(account("ebay", region="EBAY_GB"), ebay.Options(marketplace_id="EBAY_AU")) == "EBAY_AU"
    with pytest.raises(ConfigError, match="did you mean 'EBAY_GB'"):
        ebay.marketplace_id(account("ebay", region="EBAY_GBR"), ebay.Options())


def test_sync_refuses_an_unknown_region_before_anything_runs(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nid = "w"\nmarketplace = "walmart"\nregion = "CA"\n'
                   'credentials = { client_id = "x", client_secret = "y" }\n')
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", f"sqlite:///{tmp_path}/d.db", "sync"])
    assert result.exit_code == 3 and "unknown region 'CA'" in result.output


def test_init_marketplace_appends_to_an_existing_config_keeping_comments(tmp_path):
    cfg = tmp_path / "c.toml"
    run = CliRunner()
    assert run.invoke(cli, ["--config", str(cfg), "init"]).exit_code == 0
    added = run.invoke(cli, ["--config", str(cfg), "init", "--marketplace", "ebay", "--id", "ebay-uk", "--region",
                             "EBAY_GB", "--credential", "client_id=env:EBAY_ID"])
    assert added.exit_code == 0, added.output
    text = cfg.read_text()
    assert text.startswith(STARTER.rstrip("\n"))  # the starter and its comments, untouched
    assert text.rstrip().endswith('client_secret = "env:EBAY_CLIENT_SECRET" }')
    acc = parse_config(tomllib.loads(text)).accounts[0]
    assert (acc.id, acc.region, acc.credentials["client_id"].ref) == ("ebay-uk", "EBAY_GB", "env:EBAY_ID")
    again = run.invoke(cli, ["--config", str(cfg), "init", "--marketplace", "ebay", "--id", "ebay-uk"])
    assert again.exit_code == 3 and "used twice" in again.output and cfg.read_text() == text  # nothing written
    typo = run.invoke(cli, ["--config", str(cfg), "init", "--marketplace", "amzon"])
    assert typo.exit_code == 3 and "did you mean 'amazon'" in typo.output
    region = run.invoke(cli, ["--config", str(cfg), "init", "--marketplace", "amazon", "--region", "us"])
    assert region.exit_code == 3 and "unknown region 'us'" in region.output and cfg.read_text() == text


def test_did_you_mean():
    assert did_you_mean("amzon", PROVIDERS) == " (did you mean 'amazon'?)"
    assert did_you_mean("zzz", PROVIDERS) == ""


# -- connect's refusals, against the sandbox's consent pages ---------------------------------------------------


@pytest.fixture(scope="module")
def box():
    from sellerguard.sandbox import Sandbox
    from sellerguard.sandbox.world import World

    world = World(datetime.now(UTC), accounts=[("etsy-shop", "etsy", "healthy", "US", "USD", 1, 0.0),
                                                ("shopify-store", "shopify", "healthy", "US", "USD", 1, 0.0)])
    with Sandbox(world) as sandbox:
        yield sandbox


def consent_redirect(url: str) -> str:
    reply = requests.get(url, allow_redirects=False, timeout=10)
    assert reply.status_code == 302, reply.text
    return reply.headers["Location"]


def test_a_forged_state_is_refused_and_pkce_is_enforced(box):
    acc = account("etsy", base_url=box.base_url("etsy"),
                  credentials={"keystring": "sbxkeystring", "shared_secret": "sbxsecret"})
    consent = authflow.begin(acc, "http://localhost:9/callback")
    query = dict(parse_qsl(urlsplit(consent.url).query))
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["state"] == consent.state
    back = consent_redirect(consent.url)
    forged = back.replace(f"state={consent.state}", "state=forged")
    with pytest.raises(ConfigError, match="state does not match"):
        authflow.finish(consent, forged, NOW)
    consent.verifier = "a-different-verifier-" + "x" * 40  # the sandbox checks S256(verifier) == challenge
    with pytest.raises(ConfigError, match="code_verifier does not match"):
        authflow.finish(consent, back, NOW)
    no_pkce = consent.url.replace("code_challenge=", "x=")
    assert requests.get(no_pkce, allow_redirects=False, timeout=10).status_code == 400


def test_shopify_redirect_signature_is_checked_before_the_code_is_used(box):
    creds = {"client_id": "sandbox-shopify-store", "client_secret": "sandbox-secret"}
    acc = account("shopify", base_url=box.base_url("shopify"), credentials=creds)
    consent = authflow.begin(acc, "http://127.0.0.1:9/callback")
    back = consent_redirect(consent.url)
    wrong = account("shopify", base_url=box.base_url("shopify"), credentials={**creds, "client_secret": "other"})
    consent.account = wrong
    with pytest.raises(ConfigError, match="hmac"):
        authflow.finish(consent, back, NOW)
    consent.account = acc
    credential, grant = authflow.finish(consent, back, NOW)  # the code was not spent by the refused attempt
    assert credential.startswith("shpua") and "read_all_orders" in grant.scopes and grant.expires_at is None


def test_client_credentials_marketplaces_have_no_consent():
    with pytest.raises(ConfigError, match="client credentials"):
        authflow.begin(account("bol", region="NL"), "http://localhost:9/callback")


def test_typos_in_status_and_silence_are_named_with_a_close_match(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nid = "acme-amazon"\nmarketplace = "amazon"\nregion = "na"\n')
    base = ["--config", str(cfg), "--db", f"sqlite:///{tmp_path}/d.db"]
    run = CliRunner()
    out = run.invoke(cli, [*base, "status", "--marketplace", "amzon"])
    assert out.exit_code == 3 and "unknown marketplace 'amzon' (did you mean 'amazon'?)" in out.output
    run.invoke(cli, [*base, "migrate"])
    out = run.invoke(cli, [*base, "status", "--account", "acme-amazn"])
    assert out.exit_code == 3 and "did you mean 'acme-amazon'" in out.output
    out = run.invoke(cli, [*base, "silence", "acme-amazon/amazon.nope", "--reason", "x"])
    assert out.exit_code == 3 and "unknown metric 'amazon.nope'" in out.output
    out = run.invoke(cli, [*base, "silence", "acme-amazon/amazon.od", "--reason", "x"])
    assert out.exit_code == 3 and "did you mean 'amazon.odr'" in out.output
    out = run.invoke(cli, [*base, "silence", "acme-amazn/amazon.odr", "--reason", "x"])
    assert out.exit_code == 3 and "did you mean 'acme-amazon'" in out.output
    assert run.invoke(cli, [*base, "silence", "acme-amazon/amazon.odr", "--reason", "x"]).exit_code == 0


def test_import_registers_the_accounts_it_brings(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "canonical-1000.jsonl"
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    run = CliRunner()
    out = run.invoke(cli, ["--db", db, "import", str(example)])
    assert out.exit_code == 0 and "Registered account my-shop (amazon)" in out.output
    status = run.invoke(cli, ["--db", db, "status", "--json", "--as-of", "2026-10-05T00:00:00Z"])
    assert '"account": "my-shop"' in status.output and status.exit_code in (0, 1, 2)

    other = tmp_path / "other.jsonl"
    other.write_text('{"kind": "message", "account": "shop-2", "external_id": "m1", "thread_id": "t1", '
                     '"received_at": "2026-10-01T10:00:00Z", "needs_reply": false, "sender": "buyer"}\n')
    out = run.invoke(cli, ["--db", db, "import", str(other)])
    assert out.exit_code == 0 and "account 'shop-2' is not registered" in out.output
    out = run.invoke(cli, ["--db", db, "import", "--marketplace", "etsy", str(other)])
    assert out.exit_code == 0 and "Registered account shop-2 (etsy)" in out.output
    out = run.invoke(cli, ["--db", db, "import", "--marketplace", "etsi", str(other)])
    assert out.exit_code == 3 and "did you mean 'etsy'" in out.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "account", "id": "x", "marketplace": "ebya"}\n')
    out = run.invoke(cli, ["--db", db, "import", str(bad)])
    assert out.exit_code == 3
    assert f"{bad}:1: marketplace: unknown marketplace 'ebya' (did you mean 'ebay'?)" in out.output


def test_docs_link_only_to_what_a_user_has_and_license_matches_pyproject():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\.\./shared|shared/(reference|specs)", text), f"{page}: names a folder users lack"
        for target in re.findall(r"(?<!!)\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)", text):  # relative links resolve
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page}: broken link {target}"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    spdx = pyproject["project"]["license"]
    spdx = spdx["text"] if isinstance(spdx, dict) else spdx
    assert spdx == "Apache-2.0"
    license_text = (root / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_pack_sources_are_the_marketplaces_own_pages_third_party_ones_marked():
    from sellerguard.rules.packs import load_packs, parse_pack

    for pack in load_packs().values():
        for m in pack.metrics:
            assert not isinstance(m.sources, str)
    metric = {"name": "x", "calculator": "count", "params": {"events": "orders", "anchor": "purchased_at",
              "defects": ["seller_cancelled"]}, "comparator": "<=", "threshold": 1, "consequence": "c",
              "confirmed": True}

    def pack(**fields):
        return parse_pack({"marketplace": "tiktok", "name": "t", "reviewed": "2026-11-29",
                           "metrics": {"tiktok.x": {**metric, **fields}}}, "t.toml")

    pack(source="https://seller-us.tiktok.com/university/essay?knowledge_id=1",
         sources=[{"url": "https://ppc.land/a", "third_party": True}, "https://partner.tiktokshop.com/doc"])
    with pytest.raises(ConfigError, match=r"metrics.tiktok.x.source: not a tiktok page: https://ppc.land/a"):
        pack(source="https://ppc.land/a")
    with pytest.raises(ConfigError, match=r"sources\[0\]: a third-party page must be marked"):
        pack(source="https://seller-us.tiktok.com/x", sources=["https://ppc.land/a"])
    with pytest.raises(ConfigError, match="not a tiktok page"):
        pack(source="https://tiktok.com.evil.example/x")


def test_public_holidays_come_from_the_library_with_local_overrides_and_warn_outside_the_data(caplog):
    from datetime import date

    from sellerguard.rules.calendars import load_calendar, parse_calendar

    nl = load_calendar("nl")
    assert not nl.is_business_day(date(2031, 12, 25)) and not nl.is_business_day(date(2040, 4, 27))  # no end
    assert not nl.is_business_day(date(2031, 5, 5))  # the local yearly addition
    assert nl.is_business_day(date(2031, 5, 6))
    own = parse_calendar("t", {"country": "BE", "not_holidays": ["2031-11-11"], "holidays": ["2031-11-12"]}, "t")
    assert own.is_business_day(date(2031, 11, 11)) and not own.is_business_day(date(2031, 11, 12))
    with pytest.raises(ConfigError, match="unknown country 'XX'"):
        parse_calendar("t", {"country": "XX"}, "t.toml")
    listed = parse_calendar("listed", {"holidays": ["2026-12-25"]}, "t.toml")
    with caplog.at_level("WARNING", logger="sellerguard.rules.calendars"):
        assert listed.is_business_day(date(2026, 12, 24)) and not caplog.records
        assert listed.is_business_day(date(2030, 12, 25))  # no data for 2030: only weekends are skipped
        listed.is_business_day(date(2030, 12, 26))  # warned once per calendar and year
        nl.is_business_day(date(2101, 1, 3))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "calendar listed has no public holidays for 2030 (data covers 2026-2026)" in \
        warnings[0] and "calendar nl has no public holidays for 2101" in warnings[1]


def test_credential_expiry_shows_in_status_json_and_alerts_ahead_of_time(tmp_path):
    from datetime import timedelta

    from sellerguard.alerts.model import CREDENTIALS_ITEM, account_alerts
    from sellerguard.clock import FixedClock
    from sellerguard.consent import STATE_EXPIRES
    from sellerguard.status import build_status, render_status, report_document
    from sellerguard.store import Store

    config = parse_config({"accounts": [{"id": "eb", "marketplace": "ebay", "region": "EBAY_GB"},
                                        {"id": "wm", "marketplace": "walmart", "region": "US"}]})
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    store.put_state("eb", STATE_EXPIRES, (NOW + timedelta(days=10)).isoformat(), now=NOW)
    report = build_status(config, store, FixedClock(NOW))
    eb, wm = sorted(report.accounts, key=lambda a: a.account)
    assert eb.credentials_expire_at == NOW + timedelta(days=10) and wm.credentials_expire_at is None
    assert report_document(report)["accounts"][0]["credentials_expire_at"] is not None or \
        report_document(report)["accounts"][1]["credentials_expire_at"] is not None
    from rich.console import Console

    console = Console(width=140, record=True)
    console.print(render_status(report, width=140))
    assert "credentials until " + f"{NOW + timedelta(days=10):%Y-%m-%d}" in console.export_text()

    def alert(days: int):
        acc = eb.model_copy(update={"credentials_expire_at": NOW + timedelta(days=days)})
        return next(a for a in account_alerts(acc, NOW, timedelta(hours=24)) if a.item == CREDENTIALS_ITEM)

    assert alert(10).level == "warn" and "sellerguard connect eb" in alert(10).detail
    assert alert(40).level == "ok" and alert(-1).level == "critical"
    assert not [a for a in account_alerts(wm, NOW, timedelta(hours=24)) if a.item == CREDENTIALS_ITEM]
    store.close()


def test_a_uk_ebay_seller_is_read_and_evaluated_on_ebay_uk(tmp_path):
    from sellerguard.clock import SystemClock
    from sellerguard.connectors import ebay
    from sellerguard.connectors.contract import SyncContext
    from sellerguard.sandbox import Sandbox
    from sellerguard.sandbox.world import World

    class State(dict):
        def put(self, key, value):
            self[key] = value

    world = World(datetime.now(UTC), accounts=[("ebay-uk", "ebay", "healthy", "EBAY_GB", "GBP", 1, 0.0)])
    with Sandbox(world) as box:
        data = {**ebay.sandbox_account(box.base_url("ebay"), "ebay-uk"), "region": "EBAY_GB"}
        acc = parse_config({"accounts": [data]}).accounts[0]
        ctx = SyncContext(account=acc, state=State(), clock=SystemClock(), sleep=lambda s: None,
                          options=ebay.Options())
        records = [r for batch in ebay.fetch(ctx, "standards", None) for r in batch.records]
    scopes = {r.scope for r in records}
    assert "PROGRAM_UK" in scopes and "PROGRAM_US" not in scopes  # the standards of eBay UK, not of eBay US
