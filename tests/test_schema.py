from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sellerguard.schema import Order, ReportedMetric, Shipment, parse_record, payload_hash


def order(**kw):
    base = dict(kind="order", account="a", external_id="1", purchased_at="2026-11-01T10:00:00+02:00",
                fulfilment="seller", status="unshipped")
    return parse_record({**base, **kw})


def test_datetimes_become_utc():
    o = order()
    assert o.purchased_at == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert o.purchased_at.utcoffset() == timedelta(0)


def test_naive_datetime_is_rejected_with_the_field():
    with pytest.raises(ValidationError) as exc:
        order(purchased_at="2026-11-01T10:00:00")
    err = exc.value.errors()[0]
    assert err["loc"][-1] == "purchased_at"
    assert "no timezone" in err["msg"]


def test_money_is_decimal_and_currency_is_three_letters():
    o = order(total="19.99", currency="EUR")
    assert o.total == Decimal("19.99")
    with pytest.raises(ValidationError):
        order(total="19.99", currency="EURO")


def test_unknown_fields_and_kinds_are_rejected():
    with pytest.raises(ValidationError):
        order(buyer_email="someone@example.com")  # PII has no field to land in
    with pytest.raises(ValidationError):
        parse_record({"kind": "invoice", "account": "a", "external_id": "1"})


def test_reported_metric_id_is_dotted():
    with pytest.raises(ValidationError):
        ReportedMetric(account="a", external_id="x", metric_id="odr", as_of=datetime.now(UTC))


def test_payload_hash_ignores_key_order():
    assert payload_hash({"a": 1, "b": [1, 2]}) == payload_hash({"b": [1, 2], "a": 1})
    assert payload_hash({"a": 1}) != payload_hash({"a": 2})


@given(st.datetimes(timezones=st.timezones()))
def test_any_aware_datetime_round_trips_as_the_same_instant(dt):
    s = Shipment(account="a", external_id="s", order_ref="o", shipped_at=dt)
    assert s.shipped_at.timestamp() == dt.timestamp()  # PEP 495: ambiguous local times never compare equal
    assert s.shipped_at.tzinfo == UTC


def test_model_is_frozen():
    o = order()
    with pytest.raises(ValidationError):
        o.status = "shipped"  # type: ignore[misc]


def test_order_constructor_validates():
    with pytest.raises(ValidationError):
        Order(account="a", external_id="1", purchased_at=datetime(2026, 1, 1), fulfilment="seller",
              status="unshipped")
