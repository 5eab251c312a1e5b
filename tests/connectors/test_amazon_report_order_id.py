"""Issue 18 (review, fuzz seed 4242): an All Orders report cell that is not a 3-7-7 Amazon order id is a payload
error. '1700000000000000' in place of '185-6006377-0461800' was stored as an order under that number while the real
order was missing, and the cursor moved past it (still missing after a clean sync)."""

from __future__ import annotations

import pytest

from sellerguard.connectors.amazon_normalize import normalize_order_rows
from sellerguard.errors import ConnectorError


def row(oid: str) -> dict[str, str]:
    return {"amazon-order-id": oid, "purchase-date": "2026-11-01T10:00:00+00:00",
            "last-updated-date": "2026-11-02T10:00:00+00:00", "order-status": "Shipped",
            "fulfillment-channel": "Merchant", "quantity": "1", "currency": "USD", "item-price": "12.50", "sku": "S"}


@pytest.mark.parametrize("oid", ["1700000000000000", "185-6006377", "185-6006377-0461800x", "['185-6006377-0461800']",
                                 "185-6006377-046180\u0661", "", "nan"])
def test_a_report_order_id_not_in_3_7_7_format_is_a_payload_error_naming_line_and_value(oid):
    with pytest.raises(ConnectorError) as err:
        normalize_order_rows("a", [row("113-0000001-0000001"), row(oid)], "doc")
    assert err.value.kind == "payload" and "line 3.amazon-order-id" in str(err.value)
    assert repr(oid[:40]) in str(err.value)


@pytest.mark.parametrize("oid", ["185-6006377-0461800", " 113-0000001-0000001 ", "D01-1234567-1234567"])
def test_a_3_7_7_order_id_is_read(oid):
    [order] = normalize_order_rows("a", [row(oid)], "doc")
    assert order.external_id == oid.strip()
