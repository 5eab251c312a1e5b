"""The spec validator itself: it must catch a wrong payload, or every fixture test would pass vacuously."""

import pytest
from spec_check import component, load_spec, response_schema, validate


def test_catches_a_missing_required_field(specs):
    spec = load_spec(specs / "amazon" / "orders_2026-01-01.json")
    schema = response_schema(spec, "/orders/2026-01-01/orders", "get")
    with pytest.raises(AssertionError, match="orders/0: 'createdTime' is a required property"):
        validate(spec, schema, {"orders": [{"orderId": "1"}]})


def test_yaml_specs_and_components(specs):
    spec = load_spec(specs / "bol" / "retailer-v10.json")
    validate(spec, component(spec, "ReducedOrders"), {"orders": []})
    with pytest.raises(AssertionError):
        validate(spec, component(spec, "ReducedOrders"), {"orders": "nope"})
