"""eBay per-site limits (rules/packs/ebay.toml [sites.*]): worked examples at the boundaries for non-US sites.

Figures: sellercentre.ebay.com.au/node/758 (AU: late shipment <= 10% or <= 8 late; Top Rated <= 5% or <= 5),
ocsnext.ebay.de query 1472 (DE Top Rated: <= 3% or <= 6 late; no late limit for Above Standard), ocsnext.ebay.co.uk
query 2239 (UK: late delivery alone does not change the seller level). SQLite only: the queries are the pack's own
(tested on both dialects in test_fidelity_ebay.py); only the limits differ here."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import NOW, D, H, World
from pg import store_on

from sellerguard.consent import EBAY_SITES
from sellerguard.errors import ConfigError
from sellerguard.rules.packs import load_packs, parse_pack
from sellerguard.store import Store

EBAY = load_packs()["ebay"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_on("sqlite", tmp_path, "sg")


def _late(world: World, total: int, late: int) -> None:
    """``total`` orders 20 days ago, ``late`` of them with no scan in handling time and delivered late."""
    for i in range(total):
        ref = world.order(NOW - 20 * D, ship_by=NOW - 18 * D, deliver_by=NOW - 14 * D)
        if i < late:
            world.shipment(ref, shipped_at=NOW - 17 * D, delivered_at=NOW - 13 * D)
        else:
            world.shipment(ref, shipped_at=NOW - 18 * D - H, delivered_at=NOW - 15 * D)


def _metric(world: World, site: str | None, metric_id: str):
    acc = world.status("ebay", pack=EBAY.for_site(site))
    return next((m for m in acc.metrics if m.id == metric_id), None)


@pytest.mark.parametrize(("total", "late", "level"), [
    (90, 9, "warn"),       # exactly 10%: "<= 10%" holds (9 late > 8, but the rate is fine): band only
    (89, 9, "critical"),   # 10.1% and 9 late: both limits crossed: Below Standard
    (70, 8, "warn"),       # 11.4% but only 8 late: the count allowance holds
])
def test_australia_late_shipment_is_ten_percent_and_eight_late(world, total, late, level):
    _late(world, total, late)
    m = _metric(world, "EBAY_AU", "ebay.late_shipment_rate")
    assert (m.numerator, m.denominator, m.level) == (late, total, level)


def test_the_same_orders_are_below_standard_on_the_us_limits(world):
    _late(world, 90, 9)  # 10% with 9 late: over the US/global 7% and 8 late
    assert _metric(world, "EBAY_US", "ebay.late_shipment_rate").level == "critical"
    assert _metric(world, None, "ebay.late_shipment_rate").level == "critical"


def test_australia_top_rated_late_is_five_percent(world):
    _late(world, 120, 6)  # exactly 5% with 6 late: Top Rated holds in AU; over the US 3% with 6 late it is lost
    au = _metric(world, "EBAY_AU", "ebay.top_rated_late_shipment_rate")
    us = _metric(world, "EBAY_US", "ebay.top_rated_late_shipment_rate")
    assert (au.value, au.gate_count) == (0.05, 6)
    assert "threshold crossed" in us.reason and "threshold crossed" not in au.reason


def test_germany_top_rated_allows_six_late(world):
    _late(world, 100, 6)  # 6% with 6 late: "maximal 3 % bzw. maximal 6 Artikel" holds in DE, not in the US
    de = _metric(world, "EBAY_DE", "ebay.top_rated_late_shipment_rate")
    us = _metric(world, "EBAY_US", "ebay.top_rated_late_shipment_rate")
    assert (de.gate_count, us.gate_count) == (6, 6)
    assert "threshold crossed" in us.reason and "threshold crossed" not in de.reason  # Top Rated lost in the US only
    assert _metric(world, "EBAY_DE", "ebay.late_shipment_rate") is None  # no Above Standard late limit in DE


def test_uk_late_delivery_never_makes_below_standard(world):
    _late(world, 50, 10)  # 20% with 10 late: over 9% / 7 late
    m = _metric(world, "EBAY_GB", "ebay.late_shipment_rate")
    assert m.level == "warn" and m.threshold == 0.09
    assert _metric(world, "ebay_uk", "ebay.late_shipment_rate").threshold == 0.09  # alias and any case


def test_top_rated_minimum_counts_the_sites_own_buyers(world):
    world.orders(100, NOW - 2 * D, buyer_country="AU")
    au = _metric(world, "EBAY_AU", "ebay.top_rated_min_transactions")
    assert (au.value, au.level) == (100, "warn")  # 100 Australian buyers: the minimum, within 10% of it
    assert _metric(world, "EBAY_US", "ebay.top_rated_min_transactions").value == 0  # no US buyers


@pytest.mark.parametrize("site", ["EBAY_GB", "EBAY_DE", "EBAY_AU", "EBAY_FR"])
def test_us_buyer_metrics_are_off_where_no_figure_was_found(site):
    pack = EBAY.for_site(site)
    assert not pack.metric("ebay.tracking_uploaded_on_time_validated").enabled
    assert pack.metric("ebay.top_rated_min_transactions").enabled == (site == "EBAY_AU")
    assert EBAY.for_site("EBAY_US") is EBAY and EBAY.for_site(None) is EBAY


def test_every_site_row_names_real_ebay_sites_once():
    listed = [s for row in EBAY.sites for s in row.sites]
    assert set(listed) <= set(EBAY_SITES) and len(listed) == len(set(listed))
    assert set(EBAY_SITES) - set(listed) == {"EBAY_US", "EBAY_MOTORS_US"}  # the pack's own metrics


def _pack(site_row: dict) -> dict:
    metric = {"name": "m", "calculator": "rate", "comparator": "<=", "threshold": 0.1, "consequence": "c",
              "source": "https://www.ebay.com/help", "confirmed": True,
              "params": {"events": "orders", "anchor": "purchased_at", "defects": ["claim"]}}
    return {"marketplace": "ebay", "name": "t", "reviewed": "2026-11-29", "metrics": {"ebay.m": metric},
            "sites": {"X": {"sites": ["EBAY_AU"], "source": "https://www.ebay.com.au/help", **site_row}}}


@pytest.mark.parametrize(("row", "where", "says"), [
    ({"ebay.nope": {"threshold": 0.2}}, "t.toml:sites.X.ebay.nope", "neither a metric"),
    ({"ebay.m": {"window_days": 60}}, "t.toml:sites.X.ebay.m.window_days", "a site may change"),
    ({"ebay.m": {"warn": 0.2, "threshold": None}}, "t.toml:sites.X.ebay.m", "warn needs a threshold"),
    ({"ebay.m": {"source": "https://example.org/x"}}, "t.toml:sites.X.ebay.m.source", "not a ebay page"),
    ({"source": "https://example.org/x"}, "t.toml:sites.X.source", "not a ebay page"),
    ({"ebay.m": {"comparator": ">="}}, "t.toml:sites.X.ebay.m.comparator", "strict or inclusive"),
])
def test_a_bad_site_row_fails_the_load_naming_the_key(row, where, says):
    with pytest.raises(ConfigError) as exc:
        parse_pack(_pack(row), where="t.toml")
    assert exc.value.where == where and says in str(exc.value)


def test_a_site_row_may_make_the_comparator_strict():
    """TikTok: the US says "<= 4 %", the UK "< 4 %" (policies/tiktok-shop.md: "Encode per market")."""
    pack = parse_pack(_pack({"ebay.m": {"comparator": "<"}}), where="t.toml")
    assert pack.metric("ebay.m").comparator == "<="
    assert pack.for_site("EBAY_AU").metric("ebay.m").comparator == "<"


def test_a_site_in_two_rows_is_refused():
    data = _pack({})
    data["sites"]["Y"] = {"sites": ["ebay_au"], "source": "https://www.ebay.com.au/help"}
    with pytest.raises(ConfigError, match=r"already in sites\.X"):
        parse_pack(data, where="t.toml")
