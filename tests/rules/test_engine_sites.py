"""The engine judges an eBay account by its site's row of the pack (rules/packs/ebay.toml [sites.*]), for
configured accounts and for accounts only the store knows (imported), whose stored region names the site."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pg import store_on

from sellerguard.config import parse_config
from sellerguard.rules.engine import AccountRef, Engine, accounts_to_check
from sellerguard.rules.packs import load_packs
from sellerguard.schema import Account
from sellerguard.store import Store

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PACKS = load_packs()
LATE = "ebay.late_shipment_rate"
AU = PACKS["ebay"].for_site("EBAY_AU").metric(LATE).threshold  # type: ignore[union-attr]
US = PACKS["ebay"].metric(LATE).threshold  # type: ignore[union-attr]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_on("sqlite", tmp_path, "sg")


def _limits(store: Store, refs: list[AccountRef]) -> dict[str, float | None]:
    report = Engine(store, PACKS).evaluate(refs, NOW)
    return {a.account: next(m.threshold for m in a.metrics if m.id == LATE) for a in report.accounts}


def test_configured_account_uses_its_site_limits(store):
    assert AU != US
    got = _limits(store, [AccountRef("au", "ebay", region="EBAY_AU"), AccountRef("us", "ebay")])
    assert got == {"au": AU, "us": US}


def test_store_only_account_keeps_its_region(store):
    store.upsert_accounts([Account(id="imported-au", marketplace="ebay", region="EBAY_AU")])
    [ref] = accounts_to_check(parse_config({}), store)
    assert ref.region == "EBAY_AU"
    assert _limits(store, [ref]) == {"imported-au": AU}
