"""Newcomer review (session 3): what a new user meets first, pinned cheaply (no sync, no sandbox, < 1 s).

- ``init`` into a folder that does not exist: one line naming the folder, exit 3, nothing written.
- eBay per-site limits (rules/packs/ebay.toml ``[sites.*]``) as an EBAY_GB / EBAY_DE / EBAY_AU account gets them,
  against the figures of the pages the pack cites: ocsnext.ebay.de query=1472 ("Maximal 3 % ... bzw. maximal 6
  Artikel"), sellercentre.ebay.com.au node/758 (10% / 8 late; Top Rated 5% / 5), pages.ebay.com.au top-rated
  ("100 transactions ... with Australian buyers"), UK 9% / 7 (eBay UK 2018 table, research notes).
- Austria, Switzerland and Ireland belong to eBay's DE and UK programs (ebay.at help id=4351); a region typo must
  not steer such a seller to another program.
"""

from pathlib import Path

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.rules.packs import load_packs

EBAY = load_packs()["ebay"]


def test_init_into_missing_folder_is_one_line_exit_3(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "sub" / "sellerguard.toml"
    result = CliRunner().invoke(cli, ["--config", str(target), "init"])
    assert result.exit_code == 3
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(target.parent) in lines[0]
    assert not (tmp_path / "nope").exists()


def _gate(site: str | None, metric_id: str) -> tuple[float | None, int | None, bool]:
    m = EBAY.for_site(site).metric(metric_id)
    assert m is not None
    return m.threshold, m.count_gate, m.enabled


@pytest.mark.parametrize(("site", "metric_id", "expected"), [
    # US defaults: global 7% / 7 late (breach from 8); Top Rated 3% / 5 late (from 6)
    (None, "ebay.late_shipment_rate", (0.07, 8, True)),
    (None, "ebay.top_rated_late_shipment_rate", (0.03, 6, True)),
    # UK 2018: 9% / 7 late -> breach iff > 9% and 8 or more
    ("EBAY_GB", "ebay.late_shipment_rate", (0.09, 8, True)),
    ("ebay_gb", "ebay.late_shipment_rate", (0.09, 8, True)),
    # DE: no Above Standard late limit; Top Rated "maximal 3 % bzw. maximal 6 Artikel" -> from 7
    ("EBAY_DE", "ebay.late_shipment_rate", (0.07, 8, False)),
    ("EBAY_DE", "ebay.top_rated_late_shipment_rate", (0.03, 7, True)),
    # AU: 10% / 8 late -> from 9; Top Rated 5% / 5 -> from 6
    ("EBAY_AU", "ebay.late_shipment_rate", (0.10, 9, True)),
    ("EBAY_AU", "ebay.top_rated_late_shipment_rate", (0.05, 6, True)),
    # defects and cases are the same on every site: 2% / 5 unique buyers, 0.3% / 3 cases
    ("EBAY_AU", "ebay.transaction_defect_rate", (0.02, 5, True)),
    ("EBAY_DE", "ebay.cases_closed_without_seller_resolution", (0.003, 3, True)),
])
def test_ebay_site_limits(site: str | None, metric_id: str, expected: tuple[float, int, bool]) -> None:
    threshold, gate, enabled = _gate(site, metric_id)
    assert (threshold, gate, enabled) == pytest.approx(expected)


def test_ebay_au_top_rated_minimum_counts_australian_buyers() -> None:
    m = EBAY.for_site("EBAY_AU").metric("ebay.top_rated_min_transactions")
    assert m is not None and m.enabled and m.threshold == 100
    assert m.params["buyer_country"] == "AU"  # merged: events, anchor, defects kept
    us_only = ("ebay.tracking_uploaded_on_time_validated", "ebay.top_rated_min_transactions")
    for site in ("EBAY_GB", "EBAY_DE", "EBAY_CA"):
        assert not any(EBAY.for_site(site).metric(mid).enabled for mid in us_only), site  # type: ignore[union-attr]


@pytest.mark.parametrize("region", ["EBAY_AT", "EBAY_IE"])
def test_ebay_program_sites_of_de_and_uk_are_accepted(tmp_path: Path, region: str) -> None:
    cfg = tmp_path / "sellerguard.toml"
    result = CliRunner().invoke(cli, ["--config", str(cfg), "init", "--marketplace", "ebay", "--id", "e",
                                      "--region", region, "--credential", "client_id=env:X",
                                      "--credential", "client_secret=env:Y"])
    assert result.exit_code == 0, result.output
