"""Amazon worked examples, written by an independent checker from ../shared/reference/policies/amazon.md alone.

Every expected figure below is computed by hand from the policy page (the comment beside it quotes the rule); the
product's answer comes from the store + engine (the path `status --json` takes). Verdicts are judged with
`horizon=0` so that sellerguard's own forecast warning cannot hide the threshold verdict under test.
SQLite only: the SQL dialects are covered by the fidelity tests; these stay fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, D, H
from worked_helpers import builtin_pack, cli_status, sqlite_store, threshold_metric

from sellerguard.schema import Cancellation, Claim, Message, Rating, ReportedMetric, Return, Shipment

PACK = builtin_pack("amazon")
S = timedelta(seconds=1)


store = sqlite_store("wa")
metric = threshold_metric(PACK)


def feedback(world, ref: str, stars: int, at: datetime = NOW, removed: bool = False) -> None:
    world.records.append(Rating(account=world.account, external_id=f"fb-{ref}-{stars}-{at:%j}",
                                rating_kind="seller_feedback", score=str(stars), score_normalized=stars,
                                negative=stars <= 2, rated_at=at, order_ref=ref, removed=removed))


def claim(world, ref: str, kind: str, at_fault: bool | None, at: datetime = NOW) -> None:
    world.records.append(Claim(account=world.account, external_id=f"c-{ref}-{kind}", claim_kind=kind, order_ref=ref,
                               opened_at=at, closed_at=None if at_fault is None else at, seller_at_fault=at_fault))


# -- Order Defect Rate ------------------------------------------------------------------------------------------


def test_odr_counts_an_order_with_three_defects_once(world):
    """'The ODR counts orders, not defects': 100 orders, one with 1-star feedback + granted claim + chargeback
    = 1/100 = 1.00%, which is not 'under 1%': a breach. Each part counts that order once too."""
    refs = world.orders(100, NOW - 30 * D)
    feedback(world, refs[0], 1)
    claim(world, refs[0], "a_to_z", True)
    claim(world, refs[0], "chargeback", True)
    m = metric(world, "amazon.odr")
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 100, 0.01, "critical")
    for part in ("amazon.negative_feedback_rate", "amazon.atoz_claim_rate", "amazon.chargeback_rate"):
        p = metric(world, part)
        assert (p.numerator, p.denominator) == (1, 100), part


def test_odr_places_a_defect_by_order_date_not_defect_date(world):
    """60 days by order date, lag 14 (default): window [now-74d, now-14d). Feedback arriving today on an order
    placed 70 days ago counts; feedback 20 days ago on an order placed 80 days ago does not; an order placed 10 days
    ago (inside the lag) is in neither numerator nor denominator. 199 + 1 orders in the window, 1 defect = 0.5%."""
    world.orders(199, NOW - 40 * D)
    old_in = world.order(NOW - 70 * D)
    feedback(world, old_in, 1, at=NOW)
    older = world.order(NOW - 80 * D)
    feedback(world, older, 1, at=NOW - 20 * D)
    recent = world.order(NOW - 10 * D)
    feedback(world, recent, 2, at=NOW - D)
    m = metric(world, "amazon.odr")
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 200, 0.005, "ok")
    assert (m.window_start, m.window_end) == (NOW - 74 * D, NOW - 14 * D)


def test_odr_window_first_instant_in_and_end_out(world):
    world.order(NOW - 74 * D)  # first instant: in
    world.order(NOW - 74 * D - S)  # one second before: out
    world.order(NOW - 14 * D - S)  # last instant: in
    world.order(NOW - 14 * D)  # the end: out
    assert metric(world, "amazon.odr").denominator == 2


def test_odr_is_split_mfn_and_afn(world):
    """'computed separately for MFN and AFN': 50 MFN + 50 AFN orders, one AFN defect: MFN 0/50, AFN 1/50 = 2%."""
    world.orders(50, NOW - 30 * D, fulfilment="seller")
    afn = world.orders(50, NOW - 30 * D, fulfilment="marketplace")
    feedback(world, afn[0], 1)
    mfn = metric(world, "amazon.odr")
    assert (mfn.numerator, mfn.denominator, mfn.level) == (0, 50, "ok")
    a = metric(world, "amazon.odr_afn")
    assert (a.numerator, a.denominator, a.value, a.level) == (1, 50, 0.02, "critical")


@pytest.mark.parametrize(("defects", "level"), [(2, "ok"), (3, "warn"), (4, "critical")])
def test_odr_suggested_warn_from_0_75_percent(world, defects, level):
    """400 orders: 2 defects 0.5% ok; 3 = 0.75% warn ('suggested >= 0.75%'); 4 = 1.00% breach."""
    refs = world.orders(400, NOW - 30 * D)
    for ref in refs[:defects]:
        feedback(world, ref, 1)
    m = metric(world, "amazon.odr")
    assert (m.numerator, m.denominator, m.level) == (defects, 400, level)


def test_negative_feedback_is_1_or_2_stars_not_removed(world):
    """'1 and 2 stars are negative; 3 is neutral'; 'removed feedback does not count'. 10 orders: 3-star, removed
    1-star, 2-star, 1-star: 2/10."""
    refs = world.orders(10, NOW - 30 * D)
    feedback(world, refs[0], 3)
    feedback(world, refs[1], 1, removed=True)
    feedback(world, refs[2], 2)
    feedback(world, refs[3], 1)
    m = metric(world, "amazon.negative_feedback_rate")
    assert (m.numerator, m.denominator, m.value) == (2, 10, 0.2)


def test_atoz_claims_that_count(world):
    """Granted against the seller counts; withdrawn / denied (seller not at fault) do not; a pending claim is
    unconfirmed and not counted by default. 10 orders, one of each: 1/10."""
    refs = world.orders(10, NOW - 30 * D)
    claim(world, refs[0], "a_to_z", True)  # granted / refunded while open
    claim(world, refs[1], "a_to_z", False)  # withdrawn or decided for the seller
    claim(world, refs[2], "a_to_z", None)  # still open
    m = metric(world, "amazon.atoz_claim_rate")
    assert (m.numerator, m.denominator) == (1, 10)
    assert metric(world, "amazon.odr").numerator == 1


def test_fraud_chargebacks_do_not_count(world):
    refs = world.orders(20, NOW - 30 * D)
    claim(world, refs[0], "chargeback", True)  # service dispute
    claim(world, refs[1], "chargeback", False)  # fraud: Amazon's liability
    m = metric(world, "amazon.chargeback_rate")
    assert (m.numerator, m.denominator, m.value) == (1, 20, 0.05)


# -- Late Shipment Rate ------------------------------------------------------------------------------------------


def _ship(world, ship_by: datetime, *, late: bool, fulfilment: str = "seller") -> str:
    ref = world.order(ship_by - 2 * D, ship_by=ship_by, fulfilment=fulfilment)
    # handed over on time; only the confirmation decides: 'a package handed to the carrier on time but confirmed
    # late is late'
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref,
                                  shipped_at=ship_by - H, confirmed_at=ship_by + (H if late else -H),
                                  tracking_number=f"T{ref}"))
    return ref


def test_lsr_confirmation_time_decides_and_each_view_is_judged(world):
    """20 orders due 5 days ago, 1 confirmed an hour late: 10 days = 1/20 = 5% (breach); plus 20 on-time orders due
    20 days ago: 30 days = 1/40 = 2.5% (ok). 'breaching either is a breach'. AFN orders are out of both."""
    for i in range(20):
        _ship(world, NOW - 5 * D, late=i == 0)
    for _ in range(20):
        _ship(world, NOW - 20 * D, late=False)
    for _ in range(5):
        _ship(world, NOW - 5 * D, late=True, fulfilment="marketplace")
    m10 = metric(world, "amazon.late_shipment_rate_10d")
    assert (m10.numerator, m10.denominator, m10.value, m10.level) == (1, 20, 0.05, "critical")
    m30 = metric(world, "amazon.late_shipment_rate_30d")
    assert (m30.numerator, m30.denominator, m30.value, m30.level) == (1, 40, 0.025, "ok")
    assert world.status("amazon", pack=PACK, horizon=0).level == "critical"


@pytest.mark.parametrize(("late", "level"), [(2, "ok"), (3, "warn"), (4, "critical")])
def test_lsr_warn_from_3_percent_breach_at_4(world, late, level):
    for i in range(100):
        _ship(world, NOW - 15 * D, late=i < late)
    m = metric(world, "amazon.late_shipment_rate_30d")
    assert (m.numerator, m.denominator, m.level) == (late, 100, level)


def test_lsr_10_day_window_edges_and_unconfirmed_overdue_order(world):
    """10 days ending now: ship-by exactly now-10d is in, a second earlier out. An order never confirmed whose
    ship-by passed is late (it is not cancelled)."""
    _ship(world, NOW - 10 * D, late=False)
    _ship(world, NOW - 10 * D - S, late=True)
    world.order(NOW - 3 * D, ship_by=NOW - D, status="unshipped")
    m = metric(world, "amazon.late_shipment_rate_10d")
    assert (m.numerator, m.denominator) == (1, 2)


# -- Pre-fulfilment Cancel Rate ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("orders", "level"), [(51, "ok"), (50, "warn"), (40, "critical")])
def test_pfcr_boundaries(world, orders, level):
    """One seller cancellation: 1/51 = 1.96% ok; 1/50 = 2% warn (suggested >= 2%); 1/40 = 2.5% is not 'under
    2.5%': breach."""
    refs = world.orders(orders, NOW - 2 * D)
    world.cancel(refs[0], by="seller")
    m = metric(world, "amazon.pre_fulfillment_cancel_rate")
    assert (m.numerator, m.denominator, m.level) == (1, orders, level)


def test_pfcr_amazon_auto_cancel_counts_buyer_cancels_do_not_and_afn_is_out(world):
    """'plus orders auto-cancelled by Amazon because shipment was never confirmed'; buyer cancellations are not
    defects (they stay in the denominator, issue 15); FBA orders are not in the metric. 10 MFN: 2/10."""
    refs = world.orders(10, NOW - 3 * D)
    world.cancel(refs[0], by="marketplace")  # never confirmed: auto-cancelled
    world.cancel(refs[1], by="seller")
    world.cancel(refs[2], by="buyer", buyer_requested=True)
    world.cancel(refs[3], by="buyer")  # a pending order the buyer cancelled
    afn = world.orders(10, NOW - 3 * D, fulfilment="marketplace")
    world.cancel(afn[0], by="marketplace")
    m = metric(world, "amazon.pre_fulfillment_cancel_rate")
    assert (m.numerator, m.denominator, m.value) == (2, 10, 0.2)



def test_pfcr_an_item_level_cancellation_counts_its_order_once(world):
    """'Counts both order-level and item-level cancellations': a 3-unit order whose seller cancelled 1 unit (the rest
    shipped) is a cancelled order: 1 of 10 orders, in orders (not units)."""
    world.orders(9, NOW - 2 * D)
    part = world.order(NOW - 2 * D, item_count=3)
    world.records.append(Cancellation(account=world.account, external_id="x-part", order_ref=part,
                                      cancelled_at=NOW - D, initiated_by="seller", item_count=1))
    m = metric(world, "amazon.pre_fulfillment_cancel_rate")
    assert (m.numerator, m.denominator, m.value) == (1, 10, 0.1)

# -- Valid Tracking Rate -----------------------------------------------------------------------------------------


def _packages(world, n: int, invalid: int, *, at: datetime = NOW - 10 * D, fulfilment: str = "seller") -> None:
    for i in range(n):
        ref = world.order(at - D, fulfilment=fulfilment, lines=[{"quantity": 1, "category_name": "Toys"}])
        world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref, shipped_at=at,
                                       tracking_number=f"1Z{ref}", tracking_validated=i >= invalid))


@pytest.mark.parametrize(("invalid", "level"), [(6, "critical"), (5, "warn"), (4, "warn"), (3, "ok")])
def test_vtr_at_least_95_and_suggested_warn_at_96_or_below(world, invalid, level):
    """100 MFN packages: 94% breach; 95% meets 'rate >= 95%' but is in the band; 96% is in the suggested band
    ('<= 96%'); 97% ok. A tracking number the carrier never scanned is invalid. FBA packages are out."""
    _packages(world, 100, invalid)
    _packages(world, 10, 10, fulfilment="marketplace")
    m = metric(world, "amazon.valid_tracking_rate")
    assert (m.numerator, m.denominator, m.level) == (100 - invalid, 100, level)


def test_vtr_rolling_30_days_by_ship_date(world):
    _packages(world, 1, 0, at=NOW - 30 * D)  # first instant: in
    _packages(world, 1, 1, at=NOW - 30 * D - S)  # out
    m = metric(world, "amazon.valid_tracking_rate")
    assert (m.numerator, m.denominator) == (1, 1)


# -- On-Time Delivery Rate ---------------------------------------------------------------------------------------


def _delivered(world, due: datetime, units: int, *, late: bool, tracked: bool = True) -> None:
    ref = world.order(due - 5 * D, deliver_by=due, item_count=units)
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref,
                                  shipped_at=due - 4 * D, delivered_at=due + (H if late else -H),
                                  tracking_number=f"1Z{ref}" if tracked else None))


@pytest.mark.parametrize(("late_units", "level"), [(11, "critical"), (10, "warn"), (8, "warn"), (7, "ok")])
def test_otdr_units_at_least_90_and_suggested_warn_at_92_or_below(world, late_units, level):
    """100 tracked units (one 'late' order of `late_units` units, the rest 1-unit on-time orders): 89% breach,
    90% meets '>= 90%' (warn band), 92% is in the suggested band ('<= 92%'), 93% ok."""
    due = NOW - 10 * D
    _delivered(world, due, late_units, late=True)
    for _ in range(100 - late_units):
        _delivered(world, due, 1, late=False)
    _delivered(world, due, 50, late=True, tracked=False)  # untracked: outside the denominator
    m = metric(world, "amazon.on_time_delivery_rate")
    assert (m.unit, m.numerator, m.denominator, m.level) == ("units", 100 - late_units, 100, level)


def test_otdr_14_days_with_a_7_day_delay(world):
    """Window [now-21d, now-7d) by the deliver-by date."""
    _delivered(world, NOW - 21 * D, 1, late=False)  # in
    _delivered(world, NOW - 21 * D - S, 1, late=True)  # out
    _delivered(world, NOW - 7 * D - S, 1, late=True)  # in
    _delivered(world, NOW - 7 * D, 1, late=True)  # out
    m = metric(world, "amazon.on_time_delivery_rate")
    assert (m.numerator, m.denominator, m.value) == (1, 2, 0.5)


# -- Contact Response Time ---------------------------------------------------------------------------------------


def test_response_within_24_calendar_hours_weekends_count(world):
    """'not answered within 24 h': a reply at exactly 24 h is in time, a second later is late; the clock runs
    through weekends (Sat 10:00 -> Mon 09:00 is 47 h: late); an unanswered message older than 24 h is late; one
    marked 'no response needed' is out. 4 counted, 3 late."""
    sat = datetime(2026, 11, 14, 10, tzinfo=UTC)  # a Saturday
    world.message(NOW - 5 * D, NOW - 5 * D + 24 * H)
    world.message(NOW - 6 * D, NOW - 6 * D + 24 * H + S)
    world.message(sat, sat + 47 * H)
    world.message(NOW - 2 * D, None)
    world.records.append(Message(account=world.account, external_id="nr", thread_id="t-nr", received_at=NOW - 2 * D,
                                 marketplace_flag="no_reply_needed"))
    m = metric(world, "amazon.contact_response_time")
    assert (m.numerator, m.denominator, m.value) == (3, 4, 0.75)


@pytest.mark.parametrize(("late", "level", "reason_start"), [
    (5, "ok", None),  # 5% late: the suggested band is '> 5% late'
    (6, "warn", "in the warning band"),
    (10, "warn", "threshold crossed"),  # 'Late Response Rate < 10%': 10% fails (breach level warn, no penalty)
])
def test_late_response_rate_boundaries(world, late, level, reason_start):
    for i in range(100):
        world.message(NOW - 10 * D, NOW - 10 * D + (30 * H if i < late else 2 * H))
    m = metric(world, "amazon.contact_response_time")
    assert (m.numerator, m.denominator, m.level) == (late, 100, level)
    if reason_start:
        assert m.reason.startswith(reason_start)


# -- Return Dissatisfaction Rate ---------------------------------------------------------------------------------


def test_rdr_48_hours_and_negative_outcome(world):
    """Negative: buyer says not resolved, or no response within 48 h, (or rejected in policy: the dissatisfied
    flag). 10 requests: resolved at exactly 48 h (fine), at 48 h + 1 s (negative), unresolved after 3 days
    (negative), buyer negative (negative), 6 resolved quickly: 3/10 = 30%, a breach at the warn level."""
    refs = world.orders(10, NOW - 20 * D)
    at = NOW - 10 * D

    def ret(i, resolved, dissatisfied=None):
        world.records.append(Return(account=world.account, external_id=f"ret{i}", order_ref=refs[i],
                                    requested_at=at, resolved_at=resolved, dissatisfied=dissatisfied))

    ret(0, at + 48 * H)
    ret(1, at + 48 * H + S)
    ret(2, None)
    ret(3, at + H, True)
    for i in range(4, 10):
        ret(i, at + H)
    m = metric(world, "amazon.return_dissatisfaction_rate")
    assert (m.numerator, m.denominator, m.value, m.level) == (3, 10, 0.3, "warn")
    assert m.reason.startswith("threshold crossed")


# -- Account Health Rating ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "level"), [(200, "ok"), (199, "warn"), (100, "warn"), (99, "critical")])
def test_ahr_bands(world, score, level):
    """200-1000 Healthy; 100-199 At risk; 0-99 Unhealthy."""
    world.records.append(ReportedMetric(account=world.account, external_id="ahr", as_of=NOW - D, value=score,
                                        metric_id="amazon.account_health_rating"))
    assert metric(world, "amazon.account_health_rating").level == level



@pytest.mark.parametrize(("count", "status", "level"), [(0, "GOOD", "ok"), (1, "GOOD", "warn"), (1, "BAD", "critical")])
def test_policy_violation_counts_target_zero(world, count, status, level):
    """Policy-compliance counters: 'count = 0 (EQUALS 0)'; warn band 'any > 0'; Amazon's own BAD is critical
    (sellerguard's reading)."""
    world.records.append(ReportedMetric(account=world.account, external_id="lpv", as_of=NOW - D, value=count,
                                        status=status, metric_id="amazon.listing_policy_violations"))
    assert metric(world, "amazon.listing_policy_violations").level == level

# -- the public path: `sellerguard import` + `status --json` -------------------------------------------------------


def test_import_and_status_json_end_to_end(tmp_path):
    """The issue's own inputs through the CLI: 4 MFN orders, one seller cancellation and one buyer-requested: PFCR
    1/4 = 25%; order A (3 units, late) + B (1 unit, on time), both tracked: OTDR 1 of 4 units = 25%; a 2-star
    feedback arriving yesterday on an order of 1 Oct: ODR 1/3 (A, B and it are the 60 days' MFN orders)."""
    def order(ref, at, **kw):
        return {"kind": "order", "account": "shop", "external_id": ref, "purchased_at": at, "fulfilment": "seller",
                "status": "shipped", **kw}

    rows = [{"kind": "account", "id": "shop", "marketplace": "amazon"},
            *(order(f"p{i}", "2026-11-20T10:00:00Z") for i in range(4)),
            {"kind": "cancellation", "account": "shop", "external_id": "c1", "order_ref": "p0",
             "cancelled_at": "2026-11-20T12:00:00Z", "initiated_by": "seller"},
            {"kind": "cancellation", "account": "shop", "external_id": "c2", "order_ref": "p1",
             "cancelled_at": "2026-11-20T12:00:00Z", "initiated_by": "buyer", "buyer_requested": True},
            order("A", "2026-11-05T10:00:00Z", deliver_by="2026-11-10T23:59:59Z", item_count=3),
            order("B", "2026-11-05T10:00:00Z", deliver_by="2026-11-10T23:59:59Z", item_count=1),
            {"kind": "shipment", "account": "shop", "external_id": "sA", "order_ref": "A",
             "shipped_at": "2026-11-06T10:00:00Z", "tracking_number": "1ZA", "delivered_at": "2026-11-11T10:00:00Z"},
            {"kind": "shipment", "account": "shop", "external_id": "sB", "order_ref": "B",
             "shipped_at": "2026-11-06T10:00:00Z", "tracking_number": "1ZB", "delivered_at": "2026-11-09T10:00:00Z"},
            order("F", "2026-10-01T10:00:00Z"),
            {"kind": "rating", "account": "shop", "external_id": "r1", "rating_kind": "seller_feedback", "score": "2",
             "score_normalized": 2, "negative": True, "rated_at": "2026-11-22T10:00:00Z", "order_ref": "F"}]
    code, metrics = cli_status(tmp_path, rows, "2026-11-23T12:00:00Z")
    assert code == 2, metrics  # critical
    got = {k: (m["numerator"], m["denominator"], m["level"]) for k, m in metrics.items()}
    assert got["amazon.pre_fulfillment_cancel_rate"] == (1, 4, "critical")
    assert got["amazon.on_time_delivery_rate"] == (1, 4, "critical")
    assert got["amazon.odr"] == (1, 3, "critical")
