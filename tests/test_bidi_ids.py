"""Ids holding bidirectional controls (U+202E and friends) are refused like control characters: such an id prints
reversed in a terminal, in Slack and on the dashboard. Connectors (``payload.ident``) and ``import`` (the schema)
alike; free text keeps them (a buyer may write right-to-left)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sellerguard.errors import ConnectorError
from sellerguard.payload import ident
from sellerguard.schema import Order

BIDI = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u200e"]


@pytest.mark.parametrize("mark", BIDI)
def test_an_id_with_a_bidi_control_is_refused(mark):
    with pytest.raises(ValidationError, match="bidi"):
        Order(account="a", external_id=f"123{mark}456", purchased_at=datetime(2026, 1, 1, tzinfo=UTC),
              fulfilment="seller", status="shipped")
    with pytest.raises(ConnectorError, match="not an id"):
        ident(f"123{mark}456", "ebay", "GET /x", "orderId")


def test_plain_unicode_ids_still_pass():
    assert ident("Bestellung-ß-日本-١٢٣", "bol", "GET /x", "orderId") == "Bestellung-ß-日本-١٢٣"
