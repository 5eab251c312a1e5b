"""Amazon's own warnings (connectors/amazon_health.py): account status, policy compliance, warning states.

The fixture is the spec-validated ``performance_report.json`` (tests/connectors/test_amazon.py validates it against
accountHealthReport-2020-11-18.json); the sandbox's document is validated here too.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from sellerguard.connectors.amazon_health import ACCOUNT_STATUS, VIOLATIONS, WARNING_STATES, normalize_health
from sellerguard.errors import ConnectorError
from sellerguard.sandbox.amazon import performance_document
from sellerguard.sandbox.world import World

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
US = "ATVPDKIKX0DER"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def by_id(records):
    out = {}
    for r in records:
        out.setdefault(r.metric_id, []).append(r)
    return out


def test_the_report_gives_status_each_category_and_warnings():
    rows = by_id(normalize_health("a", load("performance_report"), US, NOW, "doc"))
    (status,) = rows[ACCOUNT_STATUS]
    assert (status.status, status.scope, status.value) == ("AT_RISK", US, None)
    assert set(VIOLATIONS.values()) <= rows.keys()  # one record per category, present or not
    (listing,) = rows["amazon.listing_policy_violations"]
    assert (listing.value, listing.status) == (86, "BAD")
    assert listing.window_start.isoformat() == "2026-05-24T00:00:00+00:00"
    (safety,) = rows["amazon.product_safety_complaints"]
    assert (safety.value, safety.status) == (165, "BAD")
    (warning,) = rows[WARNING_STATES]
    assert (warning.scope, warning.status) == ("spammingSellerMessaging", "BAD")


def test_absent_blocks_are_not_reported_and_an_empty_warning_list_is_none():
    doc = load("performance_report")
    entry = doc["performanceMetrics"][0]
    del entry["listingPolicyViolations"]
    entry["warningStates"] = []
    del doc["accountStatuses"]
    rows = by_id(normalize_health("a", doc, US, NOW, "doc"))
    assert rows["amazon.listing_policy_violations"][0].status == "NOT_REPORTED"
    assert rows["amazon.listing_policy_violations"][0].value is None  # never zero
    assert rows[ACCOUNT_STATUS][0].status == "NOT_REPORTED"
    assert rows[WARNING_STATES][0].status == "NONE"
    del entry["warningStates"]
    assert by_id(normalize_health("a", doc, US, NOW, "doc"))[WARNING_STATES][0].status == "NOT_REPORTED"


@pytest.mark.parametrize("bad", [-1, 1.5, "many", True, None])
def test_a_bad_count_is_logged_by_field_and_costs_only_its_category(bad, caplog):
    doc = load("performance_report")
    doc["performanceMetrics"][0]["productSafetyCustomerComplaints"]["defectsCount"] = bad
    rows = by_id(normalize_health("a", doc, US, NOW, "GET_V2_SELLER_PERFORMANCE_REPORT r1"))
    assert "productSafetyCustomerComplaints.defectsCount" in caplog.text
    (safety,) = rows["amazon.product_safety_complaints"]
    assert (safety.status, safety.value) == ("NOT_REPORTED", None)  # unknown, never zero
    assert rows["amazon.listing_policy_violations"][0].value == 86  # the rest of the report still counts
    with pytest.raises(ConnectorError):  # the document itself must still be an Account Health report
        normalize_health("a", {"accountStatuses": []}, US, NOW, "doc")


def test_the_singular_spellings_of_amazons_own_example_are_read():
    """The schema's example says ``documentRequest`` and ``warningState`` (specs NOTES: code against both)."""
    doc = load("performance_report")
    entry = doc["performanceMetrics"][0]
    entry["warningState"] = entry.pop("warningStates")
    entry["documentRequest"] = {"reportingDateRange": {"reportingDateFrom": "2026-05-24T00:00Z",
                                                       "reportingDateTo": "2026-11-19T23:59Z"},
                                "defectsCount": 2, "status": "BAD", "targetValue": 0, "targetCondition": "EQUALS"}
    entry.pop("documentRequests", None)
    rows = by_id(normalize_health("a", doc, US, NOW, "doc"))
    assert (rows["amazon.document_requests"][0].value, rows["amazon.document_requests"][0].status) == (2, "BAD")
    assert rows[WARNING_STATES][0].scope == "spammingSellerMessaging"


def test_the_status_of_another_marketplace_is_not_taken():
    doc = load("performance_report")
    doc["accountStatuses"] = [{"marketplaceId": "A1PA6795UKMFR9", "status": "DEACTIVATED"}]
    assert by_id(normalize_health("a", doc, US, NOW, "doc"))[ACCOUNT_STATUS][0].status == "NOT_REPORTED"


def test_the_sandbox_trips_the_signals_for_a_drifting_seller_and_fits_the_schema(specs):
    from sellerguard.sandbox.world import DEFAULT_ACCOUNTS

    world = World(NOW, scale=0.1, accounts=[a for a in DEFAULT_ACCOUNTS if a[1] == "amazon"])
    schema = json.loads((specs / "amazon" / "accountHealthReport-2020-11-18.json").read_text())
    drifting, healthy = world.accounts["amazon-us"], world.accounts["amazon-de"]
    doc = performance_document(drifting, NOW)
    jsonschema.Draft7Validator(schema).validate(doc)
    rows = by_id(normalize_health("amazon-us", doc, drifting.site, NOW, "sandbox"))
    assert rows[ACCOUNT_STATUS][0].status == "AT_RISK"
    assert (rows["amazon.listing_policy_violations"][0].value, rows["amazon.listing_policy_violations"][0].status) \
        == (2, "BAD")
    calm = performance_document(healthy, NOW)
    jsonschema.Draft7Validator(schema).validate(calm)
    rows = by_id(normalize_health("amazon-de", calm, healthy.site, NOW, "sandbox"))
    assert rows[ACCOUNT_STATUS][0].status == "NORMAL"
    assert all(rows[m][0].value == 0 for m in VIOLATIONS.values())
    # the untouched example keeps validating: a copy, not the fixture, is edited above
    jsonschema.Draft7Validator(schema).validate(copy.deepcopy(load("performance_report")))


def test_a_new_violation_category_is_tolerated_and_named_once(caplog):
    doc = load("performance_report")
    doc["performanceMetrics"][0]["aiGeneratedContentViolations"] = {"defectsCount": 3, "status": "BAD"}
    first = normalize_health("a", doc, US, NOW, "doc")
    normalize_health("a", doc, US, NOW, "doc")
    assert len(first) == len(normalize_health("a", load("performance_report"), US, NOW, "doc"))
    assert caplog.text.count("aiGeneratedContentViolations") == 1
