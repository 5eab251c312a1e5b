"""Mercado Libre's per-site limits as the engine applies them, pinned figure by figure.

The limits moved from ``rules/sites/mercadolibre.toml`` (applied as account overrides) into the pack's
``[sites.<label>]`` rows (``Pack.for_site``). ``EXPECTED`` is what the old mechanism gave for every site and
metric (written out, checked against the old code before the move); the engine must still give exactly that,
with the account's own ``[accounts.policy]`` winning field by field over its site's row."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from sellerguard.config import AccountConfig, Config, PolicyOverride
from sellerguard.rules import colour
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.schema import Account, Order

PACK = load_pack(builtin_pack_dir() / "mercadolibre.toml")
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SOURCE = "https://global-selling.mercadolibre.com/help/what-the-changes-in-reputation-are_27672"
CLAIMS, CANCELS, DELAYED = ("mercadolibre.claims_rate", "mercadolibre.cancellations_rate",
                            "mercadolibre.delayed_handling_rate")
BRAZIL = {CLAIMS: (0.02, 0.015), CANCELS: (0.015, 0.01), DELAYED: (0.10, 0.08)}
COLOMBIA_CHILE = {CLAIMS: (0.035, 0.026), CANCELS: (0.025, 0.019), DELAYED: (0.12, 0.09)}
# (threshold, warn) per site and rate; sites without a published table (MLA, MLU, MPE) and no site at all: Brazil's
EXPECTED = {
    "MLB": BRAZIL,
    "MLM": {CLAIMS: (0.015, 0.0113), CANCELS: (0.01, 0.0075), DELAYED: (0.10, 0.08)},
    "MCO": COLOMBIA_CHILE,
    "MLC": COLOMBIA_CHILE,
    "MLA": BRAZIL,
    "MLU": BRAZIL,
    "MPE": BRAZIL,
    None: BRAZIL,
}


def _metrics(store, *accounts: AccountConfig) -> dict[str, dict]:
    refs = accounts_to_check(Config(accounts=list(accounts)), store)
    report = Engine(store, {"mercadolibre": PACK}).evaluate(refs, NOW, 14)
    return {a.account: {m.id: m for m in a.metrics} for a in report.accounts}


def _limits(metrics: dict) -> dict[str, tuple[float | None, float | None]]:
    return {mid: (m.threshold, m.warn) for mid, m in metrics.items() if mid in (CLAIMS, CANCELS, DELAYED)}


@pytest.mark.parametrize("site", list(EXPECTED))
def test_every_site_keeps_its_figures_warn_band_and_source(store, site):
    got = _metrics(store, AccountConfig(id="acct", marketplace="mercadolibre", region=site))["acct"]
    assert _limits(got) == EXPECTED[site]
    for mid in (CLAIMS, CANCELS, DELAYED):
        assert (got[mid].comparator, got[mid].source, got[mid].confirmed) == ("<=", SOURCE, True)
    # the reported colour and the account status have no per-site limits
    assert (got["mercadolibre.level"].threshold, got["mercadolibre.level"].warn) == (3, 5)


def test_the_region_is_read_in_any_case(store):
    got = _metrics(store, AccountConfig(id="acct", marketplace="mercadolibre", region="mco"))["acct"]
    assert _limits(got) == EXPECTED["MCO"]


def test_the_sellers_own_threshold_wins_and_keeps_the_sites_warn_band(store):
    own = {CLAIMS: PolicyOverride(threshold=0.012), CANCELS: PolicyOverride(warn=0.005),
           DELAYED: PolicyOverride(threshold=0.2, warn=0.15)}
    got = _metrics(store, AccountConfig(id="mx", marketplace="mercadolibre", region="MLM", policy=own))["mx"]
    assert _limits(got) == {CLAIMS: (0.012, 0.0113), CANCELS: (0.01, 0.005), DELAYED: (0.2, 0.15)}


def test_the_seller_can_switch_off_a_site_limited_metric(store):
    own = {CLAIMS: PolicyOverride(enabled=False)}
    got = _metrics(store, AccountConfig(id="cl", marketplace="mercadolibre", region="MLC", policy=own))["cl"]
    assert CLAIMS not in got
    assert _limits(got) == {k: v for k, v in EXPECTED["MLC"].items() if k != CLAIMS}


def test_store_only_and_order_site_accounts_get_their_sites_limits(store):
    store.upsert_accounts([Account(id="imported-co", marketplace="mercadolibre", region="MCO"),
                           Account(id="no-region", marketplace="mercadolibre")])
    store.write([Order(account="no-region", external_id="o1", purchased_at=NOW, fulfilment="seller",
                       status="unshipped", site="MLM")])
    got = _metrics(store)
    assert _limits(got["imported-co"]) == EXPECTED["MCO"]
    assert _limits(got["no-region"]) == EXPECTED["MLM"]  # one site per account: the one its sales name


def test_a_sites_warn_band_is_sellerguards_own_like_brazils(world):
    # the per-site warn figures are sellerguard's (about 3/4 of the green limit), as Brazil's in the pack: the reason
    # says so on every site (the old account-override path marked them the seller's own on MLB/MLM/MCO/MLC only)
    refs = world.orders(250, NOW - timedelta(days=10), status="delivered", site="MLM")
    for ref in refs[:2]:
        world.cancel(ref)  # 0.8 %: over Mexico's 0.75 % warn, within its 1 % green limit
    world.flush()
    for region in ("MLM", "mlm", None):  # configured, any case, or from the sales' site
        got = _metrics(world.store, AccountConfig(id=world.account, marketplace="mercadolibre", region=region))
        m = got[world.account][CANCELS]
        assert (m.threshold, m.warn, m.level) == (0.01, 0.0075, "warn"), region
        assert "(sellerguard default)" in (m.reason or ""), region


@pytest.mark.parametrize("row", PACK.sites, ids=lambda r: r.label)
def test_each_site_rows_consequence_names_its_own_colour_limits(row):
    # the consequence shown beside a site's rate quotes that site's colour table (mercadolibre-colours.toml)
    table = colour.colour_table("mercadolibre")
    for mid, metric in row.metrics.items():
        limits = table[row.label][mid]
        quoted = [float(x) / 100 for x in re.findall(r"above (\d+(?:\.\d+)?)%", metric.consequence)]
        assert quoted == pytest.approx([limits["green"], limits["yellow"], limits["orange"]]), (row.label, mid)
        assert metric.threshold == limits["green"] and row.country in metric.consequence


def test_every_coloured_site_but_brazil_has_a_row_and_the_pack_is_brazils():
    assert {site for row in PACK.sites for site in row.sites} | {"MLB"} == set(colour.colour_table("mercadolibre"))
    assert PACK.for_site("MLB") is PACK and PACK.for_site(None) is PACK
