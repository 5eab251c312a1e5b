"""Issue 18 (review, fuzz seed 31337): an unpublished-items reason code that is not one (5,000 characters, a sentence,
a control character) was cut to 50 characters and stored as a code of its own while the real code's row was missing
after a clean sync. It is now a payload error naming the field and the value."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sellerguard.connectors.walmart_unpublished import normalize_counts
from sellerguard.errors import ConnectorError

NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.mark.parametrize("code", ["x" * 5000, "price too high", ",", "NO-PRICE", "NO_PRICE\u00a0"])
def test_a_reason_code_that_is_not_one_is_a_payload_error(code):
    body = {"payload": [{"unpublishedCount": "3", "unpublishedReasonCode": code}]}
    with pytest.raises(ConnectorError) as exc:
        normalize_counts("w", body, NOW, NOW)
    assert exc.value.kind == "payload" and "payload[0].unpublishedReasonCode" in str(exc.value)


def test_walmart_codes_and_their_combinations_are_read():
    body = {"payload": [{"unpublishedCount": "3", "unpublishedReasonCode": "end_date, REASONABLE_PRICE_NOT_SATISFIED"},
                        {"unpublishedCount": "1", "unpublishedReasonCode": "NO_PRICE"}]}
    rows = normalize_counts("w", body, NOW, NOW)
    assert [r.scope for r in rows] == ["END_DATE,REASONABLE_PRICE_NOT_SATISFIED", "NO_PRICE"]
