"""The marketplaces' own warnings as pack data (issue 26): levels from Amazon's status words and counts.

One evaluation per account (each costs ~0.5 s): the first carries every signal, the second an unknown word.
"""

from datetime import UTC, datetime

import pytest
from conftest import NOW
from pg import store_on

from sellerguard.schema import ReportedMetric


@pytest.fixture
def store(tmp_path):
    """SQLite only: reported metrics are judged by the same code on PostgreSQL (test_fidelity_* run both)."""
    yield from store_on("sqlite", tmp_path, "sg_signals")


def _put(world, metric_id, *, status=None, value=None, scope=None):
    world.records.append(ReportedMetric(account=world.account, external_id=f"{metric_id}:{scope}", metric_id=metric_id,
                                        status=status, value=value, numerator=value, scope=scope, as_of=NOW))


def test_amazon_warnings_get_levels_from_amazons_words_and_counts(world):
    _put(world, "amazon.account_status", status="AT_RISK", scope="ATVPDKIKX0DER")
    _put(world, "amazon.listing_policy_violations", status="BAD", value=2)
    _put(world, "amazon.intellectual_property_complaints", status="GOOD", value=1)
    _put(world, "amazon.product_safety_complaints", status="GOOD", value=0)
    _put(world, "amazon.warning_states", status="GOOD", scope="lateResponses")
    _put(world, "amazon.warning_states", status="BAD", scope="spammingSellerMessaging")
    got = {m.id: m for m in world.status("amazon").metrics}
    status = got["amazon.account_status"]
    assert (status.level, status.marketplace_status) == ("warn", "AT_RISK") and "AT_RISK" in status.reason
    assert got["amazon.listing_policy_violations"].level == "critical"  # Amazon says BAD
    ip = got["amazon.intellectual_property_complaints"]
    assert (ip.level, ip.value, ip.threshold) == ("warn", 1, 0)  # a count above Amazon's target of 0
    assert got["amazon.product_safety_complaints"].level == "ok"
    assert got["amazon.document_requests"].level == "unknown"  # never reported: never ok
    warning = got["amazon.warning_states"]
    assert (warning.level, warning.scope) == ("critical", "spammingSellerMessaging")
    assert "spammingSellerMessaging" in warning.reason


def test_an_account_status_sellerguard_does_not_know_is_unknown(world):
    _put(world, "amazon.account_status", status="UNDER_REVIEW", scope="ATVPDKIKX0DER")
    m = world.metric("amazon.account_status")
    assert m.level == "unknown" and "does not know" in m.reason


def test_ebay_levels_now_and_projected(world):
    world.records.append(ReportedMetric(account=world.account, external_id="lvl", metric_id="ebay.seller_level",
                                        status="TOP_RATED", scope="PROGRAM_US", as_of=NOW))
    world.records.append(ReportedMetric(account=world.account, external_id="proj", scope="PROGRAM_US", as_of=NOW,
                                        metric_id="ebay.seller_level_projected", status="BELOW_STANDARD",
                                        window_start=NOW, window_end=datetime(2026, 12, 20, tzinfo=UTC)))
    got = {m.id: m for m in world.status("ebay").metrics}
    assert got["ebay.seller_level"].level == "ok"
    projected = got["ebay.seller_level_projected"]
    assert (projected.level, projected.marketplace_status) == ("warn", "BELOW_STANDARD")
    assert projected.window_end == datetime(2026, 12, 20, tzinfo=UTC)  # the evaluation it is projected for
