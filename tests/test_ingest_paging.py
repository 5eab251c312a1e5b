"""paginate.walk's repeated-page guard compares pages with == before it encodes any (issue 21: every page was
encoded as canonical JSON): the same verdicts, the encoding only for pages equal to the one before."""

from __future__ import annotations

import pytest

from sellerguard import paginate
from sellerguard.errors import ConnectorError


def _pages(pages):
    def fetch(state):
        n = state or 0
        return pages[n], (n + 1 if n + 1 < len(pages) else None)
    return fetch


def test_distinct_pages_are_not_encoded(monkeypatch):
    encoded = []
    monkeypatch.setattr(paginate, "_fingerprint", lambda items: encoded.append(items) or "x")
    pages = [[{"id": n, "v": [n]}] for n in range(5)]
    assert [list(p.items) for p in paginate.walk(_pages(pages))] == pages
    assert encoded == []


def test_a_repeated_page_is_still_a_payload_error_and_equal_values_of_other_json_are_not():
    same = [[{"id": 1, "a": {"b": 2, "c": 3}}], [{"a": {"c": 3, "b": 2}, "id": 1}], [{"id": 2}]]  # key order
    with pytest.raises(ConnectorError, match="repeats page 1 item for item"):
        list(paginate.walk(_pages(same)))
    # == says equal, JSON does not (1 vs true vs 1.0): not the same page, as before
    assert len(list(paginate.walk(_pages([[{"q": 1}], [{"q": True}], [{"q": 1.0}]])))) == 3
