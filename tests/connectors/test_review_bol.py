"""Reviewer's cases for bol: values the spec does not allow are payload errors, never a plausible wrong state."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from sellerguard.connectors.bol_normalize import normalize_order
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "bol"


def order() -> dict:
    return copy.deepcopy(json.loads((FIX / "order_1043946570.json").read_text()))


def test_an_unknown_fulfilment_method_is_a_payload_error():
    # was: anything but FBB read as FBR, so a bol-fulfilled order under a new or garbled value counted as the
    # seller's own late shipment
    o = order()
    o["orderItems"][0]["fulfilment"]["method"] = "VVB"
    with pytest.raises(ConnectorError, match=r"fulfilment\.method"):
        normalize_order("b", o)


def test_more_shipped_than_ordered_is_a_payload_error():
    o = order()
    o["orderItems"][0]["quantityShipped"] = 5  # of 3
    with pytest.raises(ConnectorError, match="5 shipped"):
        normalize_order("b", o)


@pytest.mark.parametrize(("where", "value"), [
    ("orderPlacedDateTime", "1970-01-01T00:00:00Z"),  # epoch 0
    ("unitPrice", "12,99"),                         # decimal comma
    ("totalPrice", 1e300),                          # huge
    ("quantity", 2.5),
])
def test_odd_values_are_payload_errors(where, value):
    o = order()
    (o if where == "orderPlacedDateTime" else o["orderItems"][0])[where] = value
    with pytest.raises(ConnectorError, match=where):
        normalize_order("b", o)


def test_a_time_without_offset_is_dutch_time():
    o = order()
    o["orderPlacedDateTime"] = "2026-11-20T10:58:39"
    got = next(r for r in normalize_order("b", o) if isinstance(r, Order))
    assert got.purchased_at.isoformat() == "2026-11-20T09:58:39+00:00"
