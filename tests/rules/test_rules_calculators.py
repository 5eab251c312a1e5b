"""Each Amazon and eBay metric on small, hand-counted data, with the boundary cases.

Worked examples follow the marketplaces' own help pages (cited in docs/metrics/<marketplace>.md).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sellerguard.config import PolicyOverride
from sellerguard.errors import ConfigError
from sellerguard.store.tables import SyncRun

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
ODR_END = NOW - 14 * D  # the ODR window ends 14 days before today (lag)
ODR_START = ODR_END - 60 * D


# -- Amazon ODR -------------------------------------------------------------------------------------------


def test_odr_worked_example_one_defect_in_100_orders_is_1_percent_and_a_breach(world):
    # Amazon: ODR must be "under 1%"; with 100 orders one defective order makes 1.00%.
    refs = world.orders(100, ODR_END - 10 * D)
    world.negative_feedback(refs[0])
    m = world.metric("amazon.odr")
    assert (m.value, m.numerator, m.denominator) == (0.01, 1, 100)
    assert m.level == "critical"
    assert m.headroom == -1  # one more defect-free order: 1/101 < 1%
    assert m.window_end == ODR_END and m.window_days == 60


def test_odr_counts_each_order_once_and_only_counting_defects(world):
    refs = world.orders(300, ODR_END - 10 * D)
    world.negative_feedback(refs[0])
    world.claim(refs[0])  # same order: still one defective order
    world.claim(refs[1], kind="chargeback")
    world.negative_feedback(refs[2], removed=True)  # removed by Amazon
    world.claim(refs[3], at_fault=False)  # decided for the seller
    world.claim(refs[4], kind="chargeback", at_fault=False)  # fraud: Amazon's liability
    world.claim(refs[5], at_fault=None, closed=False)  # still open: not counted by default
    m = world.metric("amazon.odr")
    assert (m.numerator, m.denominator) == (2, 300)
    assert m.level == "ok"  # 0.67% < 0.75% warning band
    assert m.headroom == 0  # a third defect would make exactly 1.00%
    parts = {x.id: x.numerator for x in world.status("amazon").metrics}
    assert parts["amazon.negative_feedback_rate"] == 1
    assert parts["amazon.atoz_claim_rate"] == 1
    assert parts["amazon.chargeback_rate"] == 1


def test_odr_places_defects_by_order_date_not_by_defect_date(world):
    inside = world.order(ODR_END - 50 * D)
    before = world.order(ODR_START - 1 * D)
    world.order(NOW - 2 * D)  # in the lag period: not yet in the window
    world.orders(98, ODR_END - 5 * D)
    world.negative_feedback(inside, at=NOW)  # arrived today, for an order 64 days old
    world.negative_feedback(before, at=NOW)
    m = world.metric("amazon.odr")
    assert (m.numerator, m.denominator) == (1, 99)


def test_odr_window_edges_start_included_end_excluded(world):
    world.order(ODR_START)
    world.order(ODR_END)
    world.order(ODR_END - timedelta(microseconds=1))
    world.order(ODR_START - timedelta(seconds=1))
    assert world.metric("amazon.odr").denominator == 2


def test_odr_keeps_seller_and_amazon_fulfilled_orders_apart(world):
    mfn = world.orders(10, ODR_END - D)
    afn = world.orders(20, ODR_END - D, fulfilment="marketplace")
    world.negative_feedback(afn[0])
    status = {m.id: m for m in world.status("amazon").metrics}
    assert (status["amazon.odr"].numerator, status["amazon.odr"].denominator) == (0, 10)
    assert (status["amazon.odr_afn"].numerator, status["amazon.odr_afn"].denominator) == (1, 20)
    assert mfn


def test_no_data_is_unknown_never_ok(world):
    """Issue 15: a metric with neither computed nor reported data is unknown with a reason, never ok."""
    m = world.metric("amazon.odr")
    assert m.level == "unknown" and m.value is None and m.reason
    ahr = world.metric("amazon.account_health_rating")
    assert ahr.level == "unknown" and ahr.value is None and ahr.reason


def test_below_minimum_volume_is_unknown(world):
    world.orders(10, ODR_END - D)
    m = world.metric("amazon.odr", policy={"amazon.odr": PolicyOverride(min_volume=50)})
    assert m.level == "unknown" and "minimum volume" in m.reason
    assert m.value == 0  # the figure is still shown


def test_account_override_of_the_warning_band(world):
    refs = world.orders(150, ODR_END - D)
    world.claim(refs[0])  # 0.67%
    assert world.metric("amazon.odr").level == "ok"
    m = world.metric("amazon.odr", policy={"amazon.odr": PolicyOverride(warn=0.005)})
    assert m.level == "warn" and m.warn == 0.005


def test_account_override_can_switch_a_metric_off(world):
    world.orders(5, ODR_END - D)
    ids = [m.id for m in world.status("amazon", policy={"amazon.odr": PolicyOverride(enabled=False)}).metrics]
    assert "amazon.odr" not in ids and "amazon.odr_afn" in ids


def test_override_of_an_unknown_metric_fails_with_where(world):
    with pytest.raises(ConfigError, match=r"accounts\[acct\]\.policy: no metric 'amazon\.nope'"):
        world.status("amazon", policy={"amazon.nope": PolicyOverride(threshold=1)})


def test_override_with_bad_params_fails_with_where(world):
    bad = {"amazon.odr": PolicyOverride(params={"defects": ["not_a_defect"]})}
    with pytest.raises(ConfigError, match=r"policy\.amazon\.odr\.params\.defects: unknown defect 'not_a_defect'"):
        world.status("amazon", policy=bad)


def test_stale_data_makes_every_metric_unknown(world, store):
    world.orders(50, ODR_END - D)
    store.record_sync(SyncRun(account="acct", started_at=NOW - 5 * H, finished_at=NOW - 5 * H, ok=True))
    acc = world.status("amazon", stale_limit=2 * H)
    assert acc.level == "unknown" and all(m.level == "unknown" for m in acc.metrics)
    assert "stale" in acc.metrics[0].reason
    assert world.metric("amazon.odr", stale_limit=6 * H).level == "ok"


# -- Amazon shipping ----------------------------------------------------------------------------------------


def test_late_shipment_rate_counts_late_and_missing_confirmations(world):
    on_time = world.order(NOW - 5 * D, ship_by=NOW - 3 * D)
    world.shipment(on_time, shipped_at=NOW - 4 * D, confirmed_at=NOW - 3 * D)  # exactly at ship-by: on time
    late = world.order(NOW - 5 * D, ship_by=NOW - 3 * D)
    world.shipment(late, shipped_at=NOW - 4 * D, confirmed_at=NOW - 3 * D + timedelta(minutes=1))
    world.order(NOW - 5 * D, ship_by=NOW - 2 * D, status="unshipped")  # overdue, never confirmed
    world.order(NOW - 1 * D, ship_by=NOW + 1 * D, status="unshipped")  # not due yet: not in the window
    world.order(NOW - 5 * D, ship_by=NOW - 2 * D, status="cancelled")  # cancelled: not counted
    world.order(NOW - 20 * D, ship_by=NOW - 15 * D)  # outside 10 days, inside 30 days (unconfirmed: late)
    status = {m.id: m for m in world.status("amazon").metrics}
    assert (status["amazon.late_shipment_rate_10d"].numerator,
            status["amazon.late_shipment_rate_10d"].denominator) == (2, 3)
    assert (status["amazon.late_shipment_rate_30d"].numerator,
            status["amazon.late_shipment_rate_30d"].denominator) == (3, 4)
    assert status["amazon.late_shipment_rate_10d"].level == "critical"


def test_pre_fulfillment_cancel_rate_keeps_buyer_requested_in_the_denominator(world):
    refs = world.orders(40, NOW - 2 * D)
    world.cancel(refs[0])  # seller
    world.cancel(refs[1], by="marketplace")  # auto-cancelled for no ship confirmation: counts
    world.cancel(refs[2], by="buyer", buyer_requested=True)  # not a defect, but still an order of the window
    m = world.metric("amazon.pre_fulfillment_cancel_rate")
    assert (m.numerator, m.denominator) == (2, 40)
    assert m.level == "critical"  # 5% >= 2.5%


def test_valid_tracking_rate_worked_example_190_of_200_is_95_percent_and_meets_at_least_95(world):
    for i in range(200):
        ref = world.order(NOW - 5 * D)
        world.shipment(ref, shipped_at=NOW - 4 * D, tracking_number=None if i < 10 else f"1Z{i}",
                       tracking_validated=None if i % 2 else True)
    m = world.metric("amazon.valid_tracking_rate")
    assert (m.value, m.numerator, m.denominator) == (0.95, 190, 200)
    assert m.comparator == ">=" and m.level == "warn"  # good, but inside the 96% warning band
    assert m.headroom == 0


def test_valid_tracking_rate_unvalidated_tracking_is_invalid(world):
    for i in range(40):
        ref = world.order(NOW - 5 * D)
        world.shipment(ref, shipped_at=NOW - 4 * D, tracking_number=f"1Z{i}", tracking_validated=i != 0)
    m = world.metric("amazon.valid_tracking_rate")
    assert (m.numerator, m.denominator) == (39, 40)
    assert m.level == "ok" and m.headroom == 1  # 38/40 = 95% still meets it; 37/40 does not


def test_on_time_delivery_rate_uses_deliver_by_with_a_7_day_delay(world):
    for i in range(10):
        ref = world.order(NOW - 15 * D, deliver_by=NOW - 10 * D)
        world.shipment(ref, shipped_at=NOW - 14 * D, delivered_at=NOW - 10 * D + (H if i < 2 else -H),
                       tracking_number=f"1Z{i}")
    world.order(NOW - 5 * D, deliver_by=NOW - 3 * D, status="shipped")  # in the delay period: not yet
    m = world.metric("amazon.on_time_delivery_rate")
    assert (m.value, m.numerator, m.denominator) == (0.8, 8, 10)
    assert m.level == "critical"


# -- Amazon messages and returns ------------------------------------------------------------------------------


def test_contact_response_24_calendar_hours_including_weekends(world):
    sat = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # a Saturday: the clock still runs
    world.message(sat, sat + 24 * H)  # exactly 24 h: on time
    world.message(sat, sat + 24 * H + timedelta(minutes=1))  # late
    world.message(NOW - 30 * H)  # unanswered for 30 h: late
    open_thread = world.message(NOW - 2 * H)  # unanswered for 2 h: not late yet
    world.message(NOW - 40 * H, needs_reply=False)  # "no response needed": excluded
    acc = world.status("amazon")
    m = next(x for x in acc.metrics if x.id == "amazon.contact_response_time")
    assert (m.numerator, m.denominator) == (2, 4)
    reply = [d for d in acc.deadlines if d.kind == "reply" and d.ref == open_thread]
    assert reply and reply[0].due == NOW + 22 * H
    assert reply[0].value_if_missed == 3 / 4


def test_return_dissatisfaction_rate(world):
    ref = world.order(NOW - 20 * D)
    world.return_(ref, NOW - 10 * D, NOW - 9 * D, dissatisfied=True)  # buyer says not resolved
    world.return_(ref, NOW - 10 * D, NOW - 10 * D + 49 * H)  # resolved after 48 h
    world.return_(ref, NOW - 10 * D, NOW - 10 * D + 48 * H)  # exactly 48 h: fine
    world.return_(ref, NOW - 3 * D)  # unresolved after 72 h
    world.return_(ref, NOW - 10 * H)  # unresolved, 38 h left
    acc = world.status("amazon")
    m = next(x for x in acc.metrics if x.id == "amazon.return_dissatisfaction_rate")
    assert (m.numerator, m.denominator) == (3, 5)
    assert m.level == "warn"  # no penalty at this time: breach_level warn
    ret = [d for d in acc.deadlines if d.kind == "return"]
    assert [d.due for d in ret] == [NOW - D, NOW + 38 * H]  # overdue ones stay queued for a week


def test_account_health_rating_from_the_report(world):
    world.reported("amazon.account_health_rating", 150, as_of=NOW - D)
    m = world.metric("amazon.account_health_rating")
    assert (m.value, m.level) == (150, "warn")
    world.reported("amazon.account_health_rating", 90, as_of=NOW - H)
    assert world.metric("amazon.account_health_rating").level == "critical"
    old = world.metric("amazon.account_health_rating", as_of=NOW + 10 * D)
    assert old.level == "unknown" and "figure is from" in old.reason


def test_drift_against_the_reported_mfn_odr(world):
    refs = world.orders(100, ODR_END - D)
    world.claim(refs[0])
    world.reported("amazon.odr", 0.02, scope="mfn", as_of=NOW - D)
    world.reported("amazon.odr", 0.5, scope="afn", as_of=NOW - D)
    m = world.metric("amazon.odr")
    assert m.reported_value == 0.02 and m.drift == pytest.approx(-0.01)


# -- eBay: rate AND count gate, 400-transaction lookback ------------------------------------------------------


def _ebay_defects(world, n_orders: int, defects: int, at: datetime) -> None:
    refs = world.orders(n_orders, at)
    for ref in refs[:defects]:
        world.cancel(ref)  # "out of stock" cancellation by the seller


def test_ebay_tdr_needs_rate_and_count_gate(world):
    # eBay: Below Standard iff > 2% of transactions AND 5 or more defects.
    _ebay_defects(world, 100, 4, NOW - 30 * D)
    m = world.metric("ebay.transaction_defect_rate")
    assert m.value == 0.04 and m.numerator == 4
    assert m.level == "warn"  # 4% but only 4 defects: not Below Standard, inside the warning band
    assert m.headroom == 0  # the 5th defect would breach
    assert m.window_days == 365  # fewer than 400 transactions in 3 months: 12-month lookback


def test_ebay_tdr_five_defects_over_two_percent_is_below_standard(world):
    _ebay_defects(world, 100, 5, NOW - 30 * D)
    assert world.metric("ebay.transaction_defect_rate").level == "critical"


def test_ebay_tdr_exactly_two_percent_is_fine(world):
    _ebay_defects(world, 500, 10, NOW - 30 * D)  # 2.00% with 10 defects: "less than or equal to 2%"
    m = world.metric("ebay.transaction_defect_rate")
    assert m.value == 0.02 and m.level == "warn" and m.window_kind == "months" and m.window_days == 92


def test_ebay_buyer_requested_cancellation_is_not_a_defect(world):
    refs = world.orders(10, NOW - 5 * D)
    world.cancel(refs[0], by="seller", buyer_requested=True)
    assert world.metric("ebay.transaction_defect_rate").numerator == 0


def test_ebay_400_transaction_rule_picks_the_lookback(world):
    world.orders(399, NOW - 10 * D)
    world.orders(50, NOW - 200 * D)
    assert world.metric("ebay.transaction_defect_rate").denominator == 449  # 12 months
    world.orders(1, NOW - 10 * D)
    m = world.metric("ebay.transaction_defect_rate")
    assert (m.window_days, m.denominator) == (92, 400)  # 3 calendar months: 23 Aug - 23 Nov


def test_ebay_cases_closed_without_seller_resolution_gate_of_three(world):
    refs = world.orders(200, NOW - 20 * D)
    world.claim(refs[0], kind="item_not_received")
    world.claim(refs[1], kind="not_as_described")
    m = world.metric("ebay.cases_closed_without_seller_resolution")
    assert (m.numerator, m.level) == (2, "warn")  # 1% > 0.3% but 2 cases: one case from the gate
    world.claim(refs[2], kind="item_not_received")
    world.claim(refs[3], kind="item_not_received", at_fault=False)  # closed for the seller
    m = world.metric("ebay.cases_closed_without_seller_resolution")
    assert (m.numerator, m.level) == (3, "critical")


def test_ebay_late_shipment_needs_late_scan_and_late_delivery(world):
    def shipped(scan_late: bool, delivered_late: bool) -> None:
        ref = world.order(NOW - 20 * D, ship_by=NOW - 18 * D, deliver_by=NOW - 14 * D)
        world.shipment(ref, shipped_at=NOW - 18 * D + (H if scan_late else -H),
                       delivered_at=NOW - 14 * D + (H if delivered_late else -H))

    shipped(True, True)
    shipped(True, False)  # late scan, on-time delivery: on time
    shipped(False, True)  # acceptance scan within handling time: on time
    m = world.metric("ebay.top_rated_late_shipment_rate")
    assert (m.numerator, m.denominator) == (1, 3)
    assert m.level == "ok"  # 33% but 1 late shipment: under the Top Rated gate of 6


def test_ebay_tracking_uploaded_within_handling_time_and_validated(world):
    def order(confirm_offset: timedelta | None, validated: bool | None = True) -> None:
        ref = world.order(NOW - 10 * D, ship_by=NOW - 8 * D, buyer_country="US")
        if confirm_offset is not None:
            world.shipment(ref, shipped_at=NOW - 9 * D, confirmed_at=NOW - 8 * D + confirm_offset,
                           tracking_number="1Z", tracking_validated=validated)

    for _ in range(17):
        order(-H)
    order(H)  # uploaded after handling time
    order(-H, validated=False)  # never scanned by the carrier
    order(None)  # never shipped, ship-by passed
    world.order(NOW - D, ship_by=NOW + D, status="unshipped", buyer_country="US")  # inside handling time: not yet
    world.order(NOW - D, ship_by=NOW - 8 * D, buyer_country="DE")  # not a US buyer: outside the metric
    m = world.metric("ebay.tracking_uploaded_on_time_validated")
    assert (m.numerator, m.denominator) == (18, 21)
    assert m.level == "warn"  # 86% < 95%: loss of Top Rated only


# -- forecast and deadlines ---------------------------------------------------------------------------------------


def test_forecast_when_clean_orders_roll_out_of_the_window(world, make_pack):
    pack = make_pack(calculator="rate", comparator="<", threshold=0.1, window_days=10,
                     params={"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]})
    world.orders(10, NOW - 9.5 * D)  # clean orders about to leave the window
    bad = world.order(NOW - 0.5 * D)
    world.cancel(bad)
    m = world.status("test", pack=pack).metrics[0]
    assert m.value == pytest.approx(1 / 11) and m.level == "warn"
    assert m.breach_forecast == NOW + D  # tomorrow the 10 clean orders drop out
    assert m.reason.startswith("forecast to cross")


def test_no_forecast_for_a_steady_clean_account(world, make_pack):
    pack = make_pack(calculator="rate", comparator="<", threshold=0.1, window_days=10,
                     params={"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]})
    for day in range(10):
        world.orders(5, NOW - (day + 0.5) * D)
    m = world.status("test", pack=pack).metrics[0]
    assert (m.level, m.breach_forecast) == ("ok", None)


def test_ship_deadlines_with_value_if_missed(world):
    world.orders(9, NOW - 5 * D, ship_by=NOW - 3 * D)  # confirmed on time
    for ref in [r.external_id for r in world.records if r.kind == "order"]:
        world.shipment(ref, shipped_at=NOW - 4 * D, confirmed_at=NOW - 4 * D)
    soon = world.order(NOW - D, ship_by=NOW + 2 * H, status="unshipped")
    later = world.order(NOW - D, ship_by=NOW + 3 * D, status="unshipped")
    world.order(NOW - D, ship_by=NOW + 30 * D, status="unshipped")  # beyond the 14-day horizon
    world.order(NOW - D, ship_by=NOW + 2 * H, status="unshipped", fulfilment="marketplace")  # Amazon ships it
    ship = [d for d in world.status("amazon").deadlines if d.kind == "ship"]
    assert [d.ref for d in ship] == [soon, later]
    assert ship[0].metric == "amazon.late_shipment_rate_10d"
    assert ship[0].value_if_missed == pytest.approx(1 / 10)  # joins the window as a late order


def test_deadlines_and_metrics_sorted_worst_first(world):
    refs = world.orders(50, ODR_END - D)
    world.claim(refs[0])
    acc = world.status("amazon")
    levels = [m.level for m in acc.metrics]
    order = {"critical": 0, "warn": 1, "unknown": 2, "ok": 3}
    assert levels == sorted(levels, key=order.__getitem__)
    assert acc.level == "critical"


def test_failed_syncs_only_make_the_account_unknown(world, store):
    world.orders(20, ODR_END - D)
    store.record_sync(SyncRun(account="acct", started_at=NOW - H, finished_at=NOW - H, ok=False,
                              error_kind="config", error="bad token"))
    m = world.metric("amazon.odr", stale_limit=6 * H)
    assert (m.level, m.reason) == ("unknown", "no successful sync yet")


# -- the other calculators -------------------------------------------------------------------------------------


def test_average_rating_with_headroom_and_recovery(world, make_pack):
    # Etsy-style rule: average review >= 4.8 (the shop_review kind, 90 days)
    pack = make_pack(calculator="average", comparator=">=", threshold=4.8, window_days=90,
                     params={"rating_kind": "shop_review"})
    for _ in range(9):
        world.rating(5, NOW - 10 * D)
    world.rating(4, NOW - 10 * D)
    world.rating(1, NOW - 100 * D)  # outside the window
    world.rating(1, NOW - D, kind="seller_feedback")  # another kind
    m = world.status("test", pack=pack).metrics[0]
    assert (m.value, m.numerator, m.denominator, m.level) == (4.9, 49, 10, "ok")
    assert m.headroom == 0  # one 1-star review: 50/11 = 4.55
    world.rating(3, NOW - D)
    m = world.status("test", pack=pack).metrics[0]
    assert m.value == pytest.approx(52 / 11) and m.level == "critical"
    # recovery by 5-star reviews: (52 + 5k) / (11 + k) >= 4.8  <=>  0.2k >= 0.8  <=>  k >= 4
    assert m.headroom == -4


def test_count_limit_with_headroom(world, make_pack):
    # "at most 2 policy violations in 180 days": good iff count < 3
    pack = make_pack(calculator="count", comparator="<", threshold=3, window_days=180,
                     params={"events": "claims", "anchor": "opened_at", "defects": ["against_seller"]})
    ref = world.order(NOW - 50 * D)
    world.claim(ref, at=NOW - 40 * D)
    world.claim(ref, at=NOW - 200 * D)  # outside
    world.claim(ref, at=NOW - 10 * D, at_fault=False)
    m = world.status("test", pack=pack).metrics[0]
    assert (m.value, m.numerator, m.denominator, m.level, m.headroom) == (1, 1, None, "ok", 1)
    world.claim(ref, at=NOW - 5 * D)
    world.claim(ref, at=NOW - 4 * D)
    m = world.status("test", pack=pack).metrics[0]
    assert (m.value, m.level, m.headroom) == (3, "critical", -1)  # one must leave the window


def test_tracking_deadline_for_a_package_without_tracking(world):
    ref = world.order(NOW - 3 * D, ship_by=NOW - 2 * D, deliver_by=NOW + 2 * D)
    world.shipment(ref, shipped_at=NOW - 2 * D - H, confirmed_at=NOW - 2 * D - H, tracking_number=None)
    for i in range(9):
        other = world.order(NOW - 3 * D)
        world.shipment(other, shipped_at=NOW - 2 * D, tracking_number=f"1Z{i}", tracking_validated=True)
    acc = world.status("amazon")
    tracking = [d for d in acc.deadlines if d.kind == "tracking"]
    assert [(d.ref, d.due, d.metric) for d in tracking] == [(ref, NOW + 2 * D, "amazon.valid_tracking_rate")]
    vtr = next(m for m in acc.metrics if m.id == "amazon.valid_tracking_rate")
    assert (vtr.numerator, vtr.denominator) == (9, 10)
    assert tracking[0].value_if_missed == pytest.approx(0.9)  # already counted as invalid: stays if missed


def test_ebay_service_metrics_judged_by_ebays_rating_worst_region_first(world):
    def report(region: str, value: float, rating: str) -> None:
        world.reported("ebay.inr_rate", value, as_of=NOW - 3 * D, scope=region)
        world.records[-1] = world.records[-1].model_copy(update={"status": rating})

    report("DOMESTIC", 0.004, "AVERAGE")
    report("INTERNATIONAL_EMERGING_REGION", 0.02, "HIGH")
    m = world.metric("ebay.inr_rate")
    assert (m.level, m.value) == ("warn", 0.02)
    assert "INTERNATIONAL_EMERGING_REGION" in m.reason and "HIGH" in m.reason
    world.reported("ebay.inr_rate", 0.03, as_of=NOW - D, scope="DOMESTIC")
    world.records[-1] = world.records[-1].model_copy(update={"status": "VERY_HIGH"})
    m = world.metric("ebay.inr_rate")  # the newer report replaces the older one entirely
    assert (m.level, m.value) == ("critical", 0.03)
    assert world.metric("ebay.inr_rate", as_of=NOW + 40 * D).level == "unknown"  # a missed evaluation
    assert world.metric("ebay.inad_rate").level == "unknown"  # never reported: no data is never ok


def test_ebay_400_rule_counts_all_transactions_for_every_standard(world):
    world.orders(390, NOW - 10 * D, ship_by=NOW - 8 * D, deliver_by=NOW - 4 * D)
    world.orders(10, NOW - 10 * D, status="cancelled")  # 400 transactions, 390 not cancelled
    status = {m.id: m for m in world.status("ebay").metrics}
    assert status["ebay.transaction_defect_rate"].window_days == 92  # 3 calendar months
    assert status["ebay.late_shipment_rate"].window_days == 92  # same lookback though it leaves cancelled out
    assert status["ebay.late_shipment_rate"].denominator == 390
