"""Issue 18 (review, fuzz seed 2027): a bol indicator's period week of ``true`` was int()-ed to week 1 and stored as
``bol.late_replies:2026-W01`` while week 47's row stayed missing after a clean sync. A year or week that is not a
whole number or a digit string is a payload error naming the period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sellerguard.connectors.bol_normalize import normalize_indicator
from sellerguard.errors import ConnectorError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def body(year, week):
    return {"performanceIndicators": [{"name": "FULFILMENT", "type": "PERCENTAGE", "details": {
        "period": {"year": year, "week": week}, "score": {"value": 96, "numerator": 1, "denominator": 10},
        "norm": {"condition": ">=", "value": 0.9}}}]}


@pytest.mark.parametrize(("year", "week"), [(2026, True), (True, 47), (2026, 47.9), (2026, "47.0"),
                                            (2026, "\u0664\u0667"), (2026, None), (2026, 54)])
def test_a_period_that_is_not_whole_numbers_is_a_payload_error(year, week):
    with pytest.raises(ConnectorError) as exc:
        normalize_indicator("bol", body(year, week), final=True, as_of=NOW)
    assert exc.value.kind == "payload" and "details.period" in str(exc.value)


@pytest.mark.parametrize(("year", "week"), [(2026, 47), ("2026", "47"), ("2026", " 7 ")])
def test_numbers_and_digit_strings_are_read(year, week):
    [row] = normalize_indicator("bol", body(year, week), final=True, as_of=NOW)
    assert row.external_id.endswith(f"2026-W{int(week):02d}")
