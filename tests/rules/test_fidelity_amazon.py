"""Amazon worked examples written from ../shared/reference/policies/amazon.md (issue 15/16), SQLite and PostgreSQL.

On-time delivery, as pinned here: the policy row says "tracked MFN units delivered on or before the deliver-by date"
over "tracked MFN units in the window". Issue 15's example ("order A 3 units late, B 1 unit on time ... 1/4 late
units = 75 % on time") mixes two readings; by the policy text A (3 late) + B (1 on time) is 1 of 4 units on time =
25 %, and the mirror case A (3 on time) + B (1 late) is 1 late unit of 4 = 75 % on time. Never "1 of 2 orders".
"""

from datetime import timedelta

from conftest import NOW, D, H

from sellerguard.config import PolicyOverride
from sellerguard.schema import Message, ReportedMetric

CAT_A = {"category_id": "A1", "category_name": "Toys"}
CAT_B = {"category_id": "B1", "category_name": "Kitchen"}


def test_pfcr_buyer_requested_stays_in_the_denominator(world):
    o1, o2, _, _ = world.orders(4, NOW - 3 * D)
    world.cancel(o1, by="seller")  # out of stock: a defect
    world.cancel(o2, by="buyer", buyer_requested=True)  # not a defect, still an order
    m = world.metric("amazon.pre_fulfillment_cancel_rate")
    assert (m.value, m.numerator, m.denominator, m.defect_count) == (0.25, 1, 4, 1)
    assert m.level == "critical" and m.reason == "threshold crossed"


def test_pfcr_first_and_last_instant_of_the_7_days(world):
    world.order(NOW - 7 * D)  # the first instant of the window: in
    world.order(NOW - 7 * D - timedelta(seconds=1))  # one second earlier: out
    m = world.metric("amazon.pre_fulfillment_cancel_rate")
    assert m.denominator == 1 and m.window_start == NOW - 7 * D and m.window_end == NOW


def test_otdr_counts_units_of_tracked_orders(world):
    due = NOW - 10 * D
    a = world.order(NOW - 15 * D, deliver_by=due, item_count=3)
    world.shipment(a, shipped_at=NOW - 14 * D, delivered_at=due + H, tracking_number="1ZA")  # 3 units late
    b = world.order(NOW - 15 * D, deliver_by=due, item_count=1)
    world.shipment(b, shipped_at=NOW - 14 * D, delivered_at=due - H, tracking_number="1ZB")  # 1 unit on time
    c = world.order(NOW - 15 * D, deliver_by=due, item_count=5)
    world.shipment(c, shipped_at=NOW - 14 * D, delivered_at=due + H)  # untracked: outside the denominator
    m = world.metric("amazon.on_time_delivery_rate")
    assert (m.unit, m.value, m.numerator, m.denominator) == ("units", 0.25, 1, 4)
    assert (m.eligible_count, m.defect_count) == (2, 1)  # 2 tracked orders, 1 of them late
    assert m.level == "critical"


def test_otdr_one_late_unit_of_four_is_75_percent(world):
    due = NOW - 10 * D
    a = world.order(NOW - 15 * D, deliver_by=due, item_count=3)
    world.shipment(a, shipped_at=NOW - 14 * D, delivered_at=due - H, tracking_number="1ZA")
    b = world.order(NOW - 15 * D, deliver_by=due, item_count=1)
    world.shipment(b, shipped_at=NOW - 14 * D, delivered_at=due + H, tracking_number="1ZB")
    m = world.metric("amazon.on_time_delivery_rate")
    assert (m.value, m.numerator, m.denominator) == (0.75, 3, 4)


def test_otdr_exactly_90_percent_of_units_meets_at_least_90(world):
    due = NOW - 10 * D
    late = world.order(NOW - 15 * D, deliver_by=due, item_count=1)
    world.shipment(late, shipped_at=NOW - 14 * D, delivered_at=due + H, tracking_number="L")
    ok = world.order(NOW - 15 * D, deliver_by=due, item_count=9)
    world.shipment(ok, shipped_at=NOW - 14 * D, delivered_at=due, tracking_number="K")  # at the deliver-by: on time
    m = world.metric("amazon.on_time_delivery_rate")
    assert (m.value, m.level) == (0.9, "warn")  # >= 90% holds; inside sellerguard's 92% band
    # the 7-day delay: the window ends 7 days before now
    assert (m.window_start, m.window_end) == (NOW - 21 * D, NOW - 7 * D)


def test_odr_exactly_one_percent_is_a_breach_and_lag_is_per_account(world):
    refs = world.orders(99, NOW - 30 * D)
    world.negative_feedback(refs[0])
    world.order(NOW - 14 * D - timedelta(seconds=1))  # the last instant of the window (lag 14): in
    m = world.metric("amazon.odr")
    assert (m.numerator, m.denominator, m.level) == (1, 100, "critical")  # "under 1%": 1.00% fails
    world.order(NOW - 14 * D)  # the window end itself: out
    assert world.metric("amazon.odr").denominator == 100
    # Amazon's own report example ends the window 15 days back: an account may say so
    m15 = world.metric("amazon.odr", policy={"amazon.odr": PolicyOverride(lag_days=15)})
    assert (m15.window_end, m15.denominator) == (NOW - 15 * D, 99)


def test_vtr_per_category_the_worst_decides(world):
    for i in range(20):  # Toys: 19 of 20 valid = 95%, meets "at least 95%"
        ref = world.order(NOW - 6 * D, lines=[{"quantity": 1, **CAT_A}])
        world.shipment(ref, shipped_at=NOW - 5 * D, tracking_number=None if i == 0 else f"T{i}")
    for i in range(10):  # Kitchen: 9 of 10 = 90%, fails
        ref = world.order(NOW - 6 * D, lines=[{"quantity": 2, **CAT_B}, {"quantity": 1, **CAT_B}])
        world.shipment(ref, shipped_at=NOW - 5 * D, tracking_number=None if i == 0 else f"K{i}")
    m = world.metric("amazon.valid_tracking_rate")
    assert (m.scope, m.level, m.value) == ("Kitchen", "critical", 0.9)  # the account total (28/30) would pass
    assert "Kitchen" in m.reason
    rows = {p.scope: (p.numerator, p.denominator, p.level) for p in m.breakdown}
    assert rows == {"Toys": (19, 20, "warn"), "Kitchen": (9, 10, "critical")}  # two lines, one package: once


def test_ahr_status_maps_to_levels_and_the_reason_agrees(world):
    cases = (("GREAT", "ok"), ("FAIR", "warn"), ("AT_RISK", "warn"), ("WARNED", "critical"),
             ("SOMETHING_NEW", "unknown"))
    for status, level in cases:
        world.account = f"ahr-{status}"  # one account per report
        world.records.append(ReportedMetric(account=world.account, external_id="ahr", status=status, as_of=NOW,
                                            metric_id="amazon.account_health_rating"))
        m = world.metric("amazon.account_health_rating")
        assert (m.level, m.marketplace_status) == (level, status)
        assert status in m.reason
    assert "does not know" in m.reason  # the last one: an unknown verdict is never read as ok


def test_lsr_exactly_four_percent_breaches_either_view(world):
    for i in range(25):
        ship_by = NOW - 5 * D
        ref = world.order(NOW - 7 * D, ship_by=ship_by)
        world.shipment(ref, shipped_at=ship_by, confirmed_at=ship_by + (H if i == 0 else -H))
    m = world.metric("amazon.late_shipment_rate_10d")
    assert (m.value, m.level) == (0.04, "critical")  # "under 4%"


def test_no_response_needed_messages_leave_the_late_response_rate(world):
    world.message(NOW - 3 * D, None)  # unanswered after 24 h: late
    world.records.append(Message(account=world.account, external_id="flagged", thread_id="t-f",
                                 received_at=NOW - 3 * D, marketplace_flag="no_reply_needed"))
    world.message(NOW - 3 * D, NOW - 3 * D + 2 * H)
    m = world.metric("amazon.contact_response_time")
    assert (m.numerator, m.denominator) == (1, 2)


def test_the_reported_figure_is_shown_beside_with_its_status(world):
    world.orders(4, NOW - 2 * D)
    world.records.append(ReportedMetric(account=world.account, external_id="pf", value=0.0, status="GOOD",
                                        metric_id="amazon.pre_fulfillment_cancel_rate", as_of=NOW - D,
                                        window_start=NOW - 8 * D, window_end=NOW - D))
    m = world.metric("amazon.pre_fulfillment_cancel_rate")
    assert (m.value, m.reported_value, m.level) == (0.0, 0.0, "ok")


def test_otdr_confirmed_after_the_deliver_by_or_tracking_after_delivery_is_never_on_time(world):
    due = NOW - 10 * D
    a = world.order(NOW - 15 * D, deliver_by=due)  # confirmed after the promised delivery: never on time
    world.shipment(a, shipped_at=due - H, confirmed_at=due + H, delivered_at=due - H, tracking_number="A")
    b = world.order(NOW - 15 * D, deliver_by=due)  # tracking uploaded only after delivery
    world.shipment(b, shipped_at=due - 2 * D, delivered_at=due - D, tracking_uploaded_at=due - D + H,
                   tracking_number="B")
    c = world.order(NOW - 15 * D, deliver_by=due)
    world.shipment(c, shipped_at=due - 2 * D, delivered_at=due - D, tracking_uploaded_at=due - 2 * D,
                   tracking_number="C")
    world.order(NOW - 15 * D, ref="no-promise")  # tracked, but no deliver-by: unknown, not on time
    world.shipment("no-promise", shipped_at=NOW - 14 * D, tracking_number="D")
    m = world.metric("amazon.on_time_delivery_rate")
    assert (m.numerator, m.denominator) == (1, 3)
    assert (m.unknown_count, m.unknown_refs) == (1, ["no-promise"])
