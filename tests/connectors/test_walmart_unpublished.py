"""Walmart's unpublished-item counts (connectors/walmart_unpublished.py): the spec-validated fixture, the sandbox's
answer against the same spec, and the levels the pack gives them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from spec_check import load_spec, response_schema, validate

from sellerguard.connectors.walmart_unpublished import METRIC, PATH, normalize_counts
from sellerguard.errors import ConnectorError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
BODY = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "walmart" / "unpublished_counts.json")
                  .read_text())


def test_counts_per_reason_and_the_sellers_own_end_dates_carry_no_value(specs):
    spec = load_spec(specs / "walmart" / "walmart-marketplace-insights-openapi-original.yml")
    validate(spec, response_schema(spec, PATH, "get"), BODY)
    rows = {r.scope: r for r in normalize_counts("wm", BODY, NOW, SINCE)}
    assert set(rows) == {"END_DATE", "END_DATE,REASONABLE_PRICE_NOT_SATISFIED", "REASONABLE_PRICE_NOT_SATISFIED",
                         "END_DATE,NO_PRICE"}  # codes sorted: the same set is one row
    assert (rows["END_DATE"].value, rows["END_DATE"].numerator, rows["END_DATE"].status) == (None, 37, "SELLER_ENDED")
    assert rows["REASONABLE_PRICE_NOT_SATISFIED"].value == 5 and rows["END_DATE,NO_PRICE"].value == 1
    assert all(r.metric_id == METRIC and r.window_start == SINCE for r in rows.values())
    (none,) = normalize_counts("wm", {"payload": []}, NOW, SINCE)
    assert (none.value, none.scope) == (0, None)  # nothing unpublished: a figure, not "not reported"


@pytest.mark.parametrize("entry, field", [({"unpublishedCount": "-1", "unpublishedReasonCode": "NO_PRICE"},
                                           "unpublishedCount"),
                                          ({"unpublishedCount": "1"}, "unpublishedReasonCode")])
def test_a_bad_row_names_its_field(entry, field):
    with pytest.raises(ConnectorError, match=rf"payload\[0\]\.{field}"):
        normalize_counts("wm", {"payload": [entry]}, NOW, SINCE)


def test_the_sandbox_answer_fits_the_spec_and_trips_for_a_drifting_seller(specs, clock):
    from sellerguard.sandbox import Sandbox, World

    spec = load_spec(specs / "walmart" / "walmart-marketplace-insights-openapi-original.yml")
    accounts = [("walmart-us", "walmart", "drifting", "US", "USD", 1, 0.3)]
    with Sandbox(World(clock.now(), accounts=accounts, days=2), clock=clock) as box:
        base = box.base_url("walmart")
        token = requests.post(f"{base}/v3/token", data={"grant_type": "client_credentials"}, timeout=10,
                              auth=("sandbox-walmart-us", "sandbox-secret"),
                              headers={"WM_SVC.NAME": "Walmart Marketplace", "WM_QOS.CORRELATION_ID": "t",
                                       "Accept": "application/json"}).json()["access_token"]
        headers = {"WM_SEC.ACCESS_TOKEN": token, "WM_SVC.NAME": "Walmart Marketplace", "WM_QOS.CORRELATION_ID": "t",
                   "Accept": "application/json"}
        body = requests.get(f"{base}{PATH}", params={"fromDate": "2026-10-24"}, headers=headers, timeout=10).json()
    validate(spec, response_schema(spec, PATH, "get"), body)
    rows = {r.scope: r for r in normalize_counts("walmart-us", body, NOW, SINCE)}
    assert rows["REASONABLE_PRICE_NOT_SATISFIED"].value == 4 and rows["END_DATE"].value is None
