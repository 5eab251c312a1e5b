"""Reviewer's cases for Etsy: a state change a re-read hides (issue 17 item 2 kind) and odd values (issue 18)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sellerguard.connectors.etsy_normalize import normalize_receipt
from sellerguard.errors import ConnectorError
from sellerguard.schema import Order

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "etsy"


def receipt(name: str = "receipt__shipped") -> dict:
    return copy.deepcopy(json.loads((FIX / f"{name}.json").read_text()))


def order(r: dict, **kw) -> Order:
    return next(x for x in normalize_receipt("e", r, "GET receipts", "results[0]", **kw) if isinstance(x, Order))


def test_a_shipped_receipt_without_expected_ship_date_keeps_a_ship_by():
    # Etsy empties expected_ship_date once a line has shipped (etsy/open-api#204): the re-read receipt used to
    # overwrite the stored ship-by with none, so a late shipment dropped out of the on-time rate
    r = receipt()
    for t in r["transactions"]:
        t["expected_ship_date"] = None
    # paid Wed 2026-11-18 + 3 processing days (business days) = Mon 2026-11-23, end of that UTC day (Etsy evaluates
    # in UTC, policies/etsy.md E7), whatever the shop's own zone
    assert datetime.fromtimestamp(r["transactions"][0]["paid_timestamp"], UTC).date().isoformat() == "2026-11-18"
    assert order(r, zone_name="America/New_York").ship_by == datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)


def test_expected_ship_date_wins_when_etsy_gives_it():
    r = receipt()
    assert order(r).ship_by == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)  # the earlier line's date


def test_no_ship_by_when_neither_date_nor_processing_time_is_given():
    r = receipt()
    for t in r["transactions"]:
        t["expected_ship_date"] = t["max_processing_days"] = None
    assert order(r).ship_by is None


@pytest.mark.parametrize(("field", "value"), [
    ("created_timestamp", 0),                       # epoch 0
    ("created_timestamp", 1795003200000),           # milliseconds, not seconds
    ("created_timestamp", "1795003200"),            # a number as a string
    ("receipt_id", 2 ** 63),                        # over 2^63
    ("country_iso", "U\x00"),                       # NUL byte
])
def test_odd_values_are_payload_errors(field, value):
    r = receipt()
    r[field] = value
    with pytest.raises(ConnectorError, match=field):
        order(r)


def test_an_amount_with_a_zero_divisor_or_a_string_amount_is_refused():
    # divisor 0 / missing was read as 1: 6600 cents stored as 6,600.00 USD
    for grand in ({"amount": 6600, "currency_code": "USD"},
                  {"amount": "6,600", "divisor": 100, "currency_code": "USD"},
                  {"amount": 6600, "divisor": 0, "currency_code": "USD"},
                  {"amount": 10 ** 30, "divisor": 1, "currency_code": "USD"}):
        r = receipt()
        r["grandtotal"] = grand
        with pytest.raises(ConnectorError, match="grandtotal"):
            order(r)


def test_an_unknown_receipt_status_is_unknown_not_a_stuck_sync():
    r = receipt("receipt__open")
    r["status"] = "on hold"
    assert order(r).status == "unknown"


def test_a_status_that_is_not_text_is_a_payload_error():
    r = receipt("receipt__open")
    r["status"] = 3
    with pytest.raises(ConnectorError, match="status"):
        order(r)
