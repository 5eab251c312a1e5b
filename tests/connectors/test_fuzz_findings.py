"""Fuzz findings of the re-measured table (issue 18), pinned with the mutated answer that found them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sellerguard.connectors import walmart_unpublished
from sellerguard.errors import ConnectorError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("body", [{}, {"errors": []}, {"payload": None}])
def test_walmart_unpublished_counts_without_their_list_are_a_payload_error_not_none(body):
    # the list key dropped: read as "nothing unpublished", 9 of 10 performance records, no error
    with pytest.raises(ConnectorError) as exc:
        walmart_unpublished.normalize_counts("wm", body, NOW, NOW)
    assert exc.value.kind == "payload" and "payload: missing or not a list" in str(exc.value)


def test_walmart_unpublished_empty_list_is_nothing_unpublished():
    records = walmart_unpublished.normalize_counts("wm", {"payload": []}, NOW, NOW)
    assert all(r.scope is None for r in records)  # no reason code: at most the "nothing unpublished" row
