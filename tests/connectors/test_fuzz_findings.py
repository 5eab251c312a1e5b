"""Fuzz findings of the re-measured table (issue 18), pinned with the mutated answer that found them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sellerguard import payload
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


def _standards(value):
    metric = {"metricKey": "SHIPPING_MISS_RATE", "value": value, "level": "TOP_RATED"}
    return {"standardsProfiles": [{"defaultProgram": True, "program": "PROGRAM_US", "standardsLevel": "TOP_RATED",
                                   "cycle": {"cycleType": "CURRENT"}, "metrics": [metric]}]}


@pytest.mark.parametrize("value", ["-1", -1, "NaN", "Infinity", "1e308", "100.5", "x", True, [1]])
def test_ebay_rate_that_is_no_percentage_is_a_payload_error_naming_field_and_value(value):
    # a mutated "-1" was stored as a rate of -0.01 (the fuzz table's eBay "implausible" cell)
    from sellerguard.connectors.ebay_normalize import normalize_standards

    with pytest.raises(ConnectorError) as exc:
        normalize_standards("eb", _standards(value), NOW, "GET seller_standards_profile")
    text = str(exc.value)
    assert exc.value.kind == "payload" and "standardsProfiles[0].metrics[0].value" in text and len(text) < 400
    assert repr(value)[:10] in text or str(value)[:10] in text


@pytest.mark.parametrize("value, fraction", [("0.14", 0.0014), ("0", 0.0), ("100", 1.0), (None, None), ("", None)])
def test_ebay_percent_strings_are_fractions_and_absent_is_not_reported(value, fraction):
    from sellerguard.connectors.ebay_normalize import normalize_standards

    records = normalize_standards("eb", _standards(value), NOW, "GET seller_standards_profile")
    assert {r.value for r in records if r.metric_id == "ebay.late_shipment_rate"} == {fraction}


def test_ebay_service_metric_rate_out_of_range_is_a_payload_error():
    from sellerguard.connectors.ebay_normalize import normalize_service_metric

    body = {"dimensionMetrics": [{"dimension": {"value": "Toys"},
                                  "metrics": [{"metricKey": "RATE", "value": "-50"}]}]}
    with pytest.raises(ConnectorError, match=r"dimensionMetrics\[0\]\.metrics\[0\]\.value: out of range"):
        normalize_service_metric("eb", "ITEM_NOT_RECEIVED", body, NOW, "GET customer_service_metric")


@pytest.mark.parametrize("value", ["-1", -50, "NaN", "Infinity", "1e308", 100.5, "x", True, {}])
def test_tiktok_percentage_that_is_no_percentage_is_a_payload_error(value):
    from sellerguard.connectors import tiktok

    with pytest.raises(ConnectorError) as exc:
        tiktok._percent(value, "GET /customer_service/202407/performance", "data.performance.response_percentage")
    assert exc.value.kind == "payload" and "data.performance.response_percentage: not a percentage" in str(exc.value)


@pytest.mark.parametrize("value, fraction", [("93.5", 0.935), (0, 0.0), ("100", 1.0), (None, None), ("", None)])
def test_tiktok_percentage_is_a_fraction(value, fraction):
    from sellerguard.connectors import tiktok

    assert tiktok._percent(value, "w", "f") == fraction


@pytest.mark.parametrize("rate", [-1, "-0.5", 100.01, "1e308"])
def test_walmart_summary_rate_outside_0_100_is_a_payload_error_naming_key_and_value(rate):
    from sellerguard.connectors.walmart_insights import parse_summary

    with pytest.raises(ConnectorError, match=r"payload\.overallRate: not a percentage \(0\.\.100\)"):
        parse_summary("wm", "walmart.x", "/v3/insights/performance/otd/summary", {"payload": {"overallRate": rate}},
                      30, ("overallRate",), NOW)


# -- the 1,000-payload table of 2026-11-29: Amazon traceback 1 + dropped 1, bol traceback 1 -----------------------


def test_amazon_a_marketplace_id_that_is_a_number_is_a_payload_error_not_a_typeerror():
    import fuzz

    h = _harness("amazon")
    m = h.find("feedback", "/marketplaceParticipations", "value", "id")
    with fuzz.quiet():
        findings = h.check(fuzz.replace(m, value=fuzz.VALUES.index(1_700_000_000_000_000)))
    first, _ = h.last
    assert not findings and [o.error_kind for o in first.outcomes] == ["payload"]
    assert "payload[0]: not a participation with a marketplace id" in first.outcomes[0].error


def test_amazon_a_shipped_seller_fulfilled_order_without_packages_is_a_payload_error():
    from sellerguard.connectors.amazon_normalize import normalize_order

    order = {"orderId": "113-1", "createdTime": "2026-11-20T10:00:00Z", "lastUpdatedTime": "2026-11-21T10:00:00Z",
             "salesChannel": {"marketplaceId": "ATVPDKIKX0DER"}, "orderItems": [],
             "fulfillment": {"fulfillmentStatus": "SHIPPED", "fulfilledBy": "MERCHANT"}}
    with pytest.raises(ConnectorError, match=r"orders\[1\]\.packages: missing on a shipped seller-fulfilled order"):
        normalize_order("amz", order, "GET /orders", "orders[1]")
    assert normalize_order("amz", {**order, "packages": []}, "GET /orders", "orders[1]")  # [] is "no package"
    pending = {**order, "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"}}
    assert normalize_order("amz", pending, "GET /orders", "orders[1]")  # no packages before shipping
    afn = {**order, "fulfillment": {"fulfillmentStatus": "SHIPPED", "fulfilledBy": "AMAZON"}}
    assert normalize_order("amz", afn, "GET /orders", "orders[1]")  # Amazon-fulfilled orders have none


@pytest.mark.parametrize("day", ["9999-12-31T23:59:59Z", "0001-01-01", "2126-01-01"])
def test_bol_a_delivery_date_far_off_is_a_payload_error_not_an_overflow(day):
    from sellerguard.connectors.bol_normalize import end_of_day

    with pytest.raises(ConnectorError, match="latestDeliveryDate: not a plausible date"):
        end_of_day(day, "orderItems[0].fulfilment.latestDeliveryDate", "/retailer/orders/{order-id}")


def test_an_amazon_package_id_made_a_list_is_a_payload_error_and_the_clean_sync_stores_the_package():
    """packageReferenceId ['1'] was stored as package "<order>-['1']" while the cursor moved past the order, so the
    real package never arrived (found by the fuzz: orders response #6, wrap_list, node 600)."""
    import fuzz

    h = _harness("amazon")
    m = h.find("orders", "/orders/2026-01-01/orders", "wrap_list", "packageReferenceId")
    with fuzz.quiet():
        findings = h.check(m)
    first, _ = h.last
    assert not findings and "payload" in [o.error_kind for o in first.outcomes]
    assert any("packageReferenceId: not an id" in (o.error or "") for o in first.outcomes)


_HARNESSES: dict = {}


def _harness(marketplace):
    import fuzz

    if marketplace not in _HARNESSES:
        import atexit

        with fuzz.quiet():
            _HARNESSES[marketplace] = fuzz.Harness(marketplace)
        atexit.register(_HARNESSES[marketplace].close)  # its store and the temporary folder it made
    return _HARNESSES[marketplace]


def _indicator(value, kind="PERCENTAGE", numerator=1, denominator=10):
    score = {"value": value, "numerator": numerator, "denominator": denominator, "conforms": True}
    return {"performanceIndicators": [{"name": "FULFILMENT", "type": kind, "details": {
        "period": {"year": 2026, "week": 47}, "score": score, "norm": {"condition": ">=", "value": 0.9}}}]}


@pytest.mark.parametrize("body, field", [
    (_indicator(-1), r"score\.value: out of range \(0\.\.100\): -1"),  # was stored as 2.0 (inverted)
    (_indicator(150), r"score\.value: out of range \(0\.\.100\): 150"),  # was -0.5 (inverted)
    (_indicator(-5, "AVERAGE"), r"score\.value: out of range"),
    (_indicator(96, numerator=-50), r"score\.numerator: out of range"),
    (_indicator(96, numerator=20), r"score\.numerator: 20 is more than the denominator 10"),
])
def test_bol_indicator_scores_outside_their_range_are_payload_errors(body, field):
    from sellerguard.connectors.bol_normalize import normalize_indicator

    with pytest.raises(ConnectorError, match=field):
        normalize_indicator("bol", body, final=True, as_of=NOW)


def test_bol_indicator_percentages_as_shares_or_percent_still_read():
    from sellerguard.connectors.bol_normalize import normalize_indicator

    for value in (96, 0.96):
        [row] = normalize_indicator("bol", _indicator(value), final=True, as_of=NOW)
        assert row.value == pytest.approx(0.04) and row.numerator == 9  # the late share: 1 - 0.96


@pytest.mark.parametrize("helper", [payload.count, payload.number])
@pytest.mark.parametrize("value", ["\u0664\u0667", "\uff14\uff17", "4\u0667"])
def test_a_count_or_number_in_other_scripts_digits_is_a_payload_error(helper, value):
    # Decimal('٤٧') and float('٤٧') are 47: a garbled field in Arabic-Indic or full-width digits passed as a figure
    with pytest.raises(ConnectorError) as exc:
        helper(value, "bol", "GET /x", "score.value")
    assert exc.value.kind == "payload" and "score.value" in str(exc.value)
