"""bol.com worked examples written from the policy page alone (/work/shared/reference/policies/bol.md), by the
fidelity audit (audit-b); expected figures are worked by hand in each test's comments, never read from the code.

Policy facts used: weekly ISO weeks (Monday to Sunday); ITEMS (order lines x quantity), not orders; items on time:
strike when the week's score is below 93.0 % AND at least 3 items are late (B1), LVB excluded, the FIRST delivery
attempt decides; cancellations: strike when more than 2 % AND at least 3 cancelled items, customer cancellations
before the promise that the seller processes before it do not count, a customer cancellation after the promise and
the auto-cancel after the promise do; response time: at least 90 % answered within 24 h, weekends and official
NL/BE holidays not counted (Friday 16:00 is due Monday 16:00), a strike needs 10 late questions; strikes: the last
22 final weeks, 1-4 e-mails, more: closure (critical from 5 in the pack).

The evaluation moment is Monday 2026-11-23 12:00 UTC (week 2026-W48 is running); the last final week is 2026-W47:
Monday 16 November 00:00 CET (15 Nov 23:00 UTC) to Monday 23 November 00:00 CET (22 Nov 23:00 UTC).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from worked_helpers import builtin_pack

from sellerguard.config import PolicyOverride
from sellerguard.connectors.bol_normalize import normalize_indicator
from sellerguard.schema import Cancellation, Message, Order, OrderLine, ReportedMetric, Shipment

PACK = builtin_pack("bol")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
WED_W47 = datetime(2026, 11, 18, 22, 59, 59, tzinfo=UTC)  # Wednesday 18 Nov 23:59:59 Dutch time
_ids = itertools.count()


def _order(world, *, promise: datetime = WED_W47, placed: datetime | None = None, qty: tuple[int, ...] = (1,),
           fulfilment: str = "seller", status: str = "delivered") -> str:
    ref = f"b{next(_ids)}"
    lines = tuple(OrderLine(line_id=f"{ref}-{i}", quantity=q) for i, q in enumerate(qty))
    world.records.append(Order(account=world.account, external_id=ref, purchased_at=placed or promise - 2 * D,
                               ship_by=promise - D, deliver_by=promise, fulfilment=fulfilment, status=status,
                               item_count=sum(qty), lines=lines))
    return ref


def _deliver(world, ref: str, *, attempt: datetime, delivered: datetime | None = None) -> None:
    world.records.append(Shipment(account=world.account, external_id=f"s{next(_ids)}", order_ref=ref,
                                  shipped_at=attempt - D, first_attempt_at=attempt,
                                  delivered_at=delivered or attempt))


def _orders(world, n: int, *, late: bool, promise: datetime = WED_W47, **kw) -> list[str]:
    refs = []
    for _ in range(n):
        ref = _order(world, promise=promise, **kw)
        _deliver(world, ref, attempt=promise + (5 * H if late else -5 * H))
        refs.append(ref)
    return refs


def _cancel(world, ref: str, *, by: str = "seller", at: datetime, processed: datetime | None = None,
            items: int | None = None) -> None:
    world.records.append(Cancellation(account=world.account, external_id=f"x{next(_ids)}", order_ref=ref,
                                      cancelled_at=at, initiated_by=by, buyer_requested=by == "buyer",
                                      processed_at=processed, item_count=items))


def _question(world, received: datetime, replied: datetime | None) -> None:
    ref = f"m{next(_ids)}"
    world.records.append(Message(account=world.account, external_id=ref, thread_id=f"t{ref}", received_at=received,
                                 first_reply_at=replied, needs_reply=True, sender="buyer"))


def _metric(world, metric_id: str, as_of: datetime = NOW, **kw):
    return world.metric(metric_id, as_of=as_of, pack=PACK, **kw)


# -- Items on time (B1, B2, B8) ------------------------------------------------------------------------------


def test_on_time_exactly_93_0_percent_is_no_strike_92_is(world):
    # 100 items, 7 late: 93/100 = 93.0 % on time, not "below 93.0 %" -> no strike (warn: under the 98 % target)
    _orders(world, 93, late=False)
    _orders(world, 7, late=True)
    m = _metric(world, "bol.late_items")
    assert (m.period, m.numerator, m.denominator, m.value) == ("2026-W47", 7, 100, 0.07)
    assert m.level == "warn"
    # an 8th late item (101 items): 93/101 = 92.08 % on time, 8 late -> a strike
    _orders(world, 1, late=True)
    m = _metric(world, "bol.late_items")
    assert (m.numerator, m.denominator, m.level) == (8, 101, "critical")


def test_on_time_98_percent_target_is_the_warning_band(world):
    # 100 items, 2 late: 98 % on time = bol's target -> ok; 3 late: 97 % -> above 93 %, below the target -> warn
    _orders(world, 98, late=False)
    _orders(world, 2, late=True)
    assert _metric(world, "bol.late_items").level == "ok"
    _orders(world, 1, late=True)
    m = _metric(world, "bol.late_items")
    assert (m.numerator, m.denominator, m.level) == (3, 101, "warn")


def test_on_time_counts_items_not_orders(world):
    # 37 single-item orders on time, one order of lines 2 + 1 (3 items) late: 3 late of 40 items = 92.5 % -> strike.
    # Counted in orders it would be 1 of 38 (97.4 %) and no strike.
    _orders(world, 37, late=False)
    ref = _order(world, qty=(2, 1))
    _deliver(world, ref, attempt=WED_W47 + D)
    m = _metric(world, "bol.late_items")
    assert (m.numerator, m.denominator, m.level) == (3, 40, "critical")


def test_on_time_first_attempt_decides_and_lvb_is_excluded(world):
    # first attempt on the promised day, delivered two days later: on time (B1 "first delivery attempt")
    ref = _order(world)
    _deliver(world, ref, attempt=WED_W47 - H, delivered=WED_W47 + 2 * D)
    _orders(world, 19, late=False)
    # 5 LVB (Logistiek via bol) orders delivered late: excluded from the seller's figure
    _orders(world, 5, late=True, fulfilment="marketplace")
    m = _metric(world, "bol.late_items")
    assert (m.numerator, m.denominator, m.level) == (0, 20, "ok")


def test_on_time_week_is_monday_to_sunday_in_dutch_time(world):
    # promise Sunday 22 Nov 23:30 CET (22:30 UTC): still W47; promise Monday 23 Nov 00:30 CET (23:30 UTC Sunday): W48
    sunday_late_evening = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    monday_just_after = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    _orders(world, 3, late=True, promise=sunday_late_evening)
    _orders(world, 10, late=True, promise=monday_just_after)
    m = _metric(world, "bol.late_items")
    assert (m.period, m.numerator, m.denominator) == ("2026-W47", 3, 3)
    assert m.running is not None and m.running.period == "2026-W48" and m.running.denominator == 10


def test_on_time_week_53_across_new_year(world):
    # 2020 had 53 ISO weeks: Monday 28 Dec 2020 .. Sunday 3 Jan 2021 is 2020-W53 (records must not lie in the
    # future, so a past year); as of Monday 4 Jan 2021 12:00 UTC it is the last final week. 30 items, 3 late =
    # 90 % -> strike.
    promise = datetime(2020, 12, 31, 22, 59, 59, tzinfo=UTC)  # Thursday 31 Dec, end of day in NL
    _orders(world, 27, late=False, promise=promise, placed=promise - 3 * D)
    _orders(world, 3, late=True, promise=promise, placed=promise - 3 * D)
    m = _metric(world, "bol.late_items", as_of=datetime(2021, 1, 4, 12, tzinfo=UTC))
    assert (m.period, m.numerator, m.denominator, m.level) == ("2020-W53", 3, 30, "critical")


# -- Cancellations (B1, B3) ----------------------------------------------------------------------------------


def _week_orders(world, n: int, qty: tuple[int, ...] = (1,)) -> list[str]:
    # ordered Tuesday 17 Nov 10:00 UTC (W47), promised Thursday 19 Nov
    return [_order(world, placed=datetime(2026, 11, 17, 10, tzinfo=UTC),
                   promise=datetime(2026, 11, 19, 22, 59, 59, tzinfo=UTC), qty=qty) for _ in range(n)]


def test_cancellations_exactly_2_percent_is_fine_more_is_a_strike(world):
    # 150 items, 3 cancelled by the seller: 3/150 = 2.0 %, not "more than 2 %" -> no strike
    refs = _week_orders(world, 150)
    for ref in refs[:3]:
        _cancel(world, ref, at=datetime(2026, 11, 17, 15, tzinfo=UTC))
    m = _metric(world, "bol.cancelled_items")
    assert (m.period, m.numerator, m.denominator, m.value) == ("2026-W47", 3, 150, 0.02)
    assert m.level != "critical"
    # a 4th: 4/150 = 2.67 % and 4 items -> strike
    _cancel(world, refs[3], at=datetime(2026, 11, 17, 15, tzinfo=UTC))
    m = _metric(world, "bol.cancelled_items")
    assert (m.numerator, m.level) == (4, "critical")


def test_cancellations_gate_and_items(world):
    # 40 items, 2 cancelled items = 5 %, but fewer than 3 -> no strike
    refs = _week_orders(world, 40)
    _cancel(world, refs[0], at=datetime(2026, 11, 17, 15, tzinfo=UTC))
    _cancel(world, refs[1], at=datetime(2026, 11, 17, 15, tzinfo=UTC))
    m = _metric(world, "bol.cancelled_items")
    assert (m.numerator, m.denominator) == (2, 40) and m.level != "critical"
    # one order of 3 units, cancelled whole: 3 cancelled items (policy: "an order of 3 units cancelled counts as
    # 3 cancelled items"): 5 of 43 items = 11.6 % and 5 items -> strike
    (big,) = _week_orders(world, 1, qty=(3,))
    _cancel(world, big, at=datetime(2026, 11, 17, 15, tzinfo=UTC))
    m = _metric(world, "bol.cancelled_items")
    assert (m.numerator, m.denominator, m.level) == (5, 43, "critical")


def test_customer_cancellations_before_and_after_the_promise(world):
    promise = datetime(2026, 11, 19, 22, 59, 59, tzinfo=UTC)
    refs = _week_orders(world, 100)
    # (1) customer cancels before the promise, the seller processes it before the promise: does not count
    _cancel(world, refs[0], by="buyer", at=promise - D, processed=promise - 20 * H)
    # (2) customer cancels before the promise, processed only after it: not in the exclusion -> counts
    _cancel(world, refs[1], by="buyer", at=promise - D, processed=promise + 2 * H)
    # (3) customer cancels after the promised delivery date: counts (B3 b)
    _cancel(world, refs[2], by="buyer", at=promise + D, processed=promise + D + H)
    # (4) auto-cancelled by bol on the 3rd day after the promise, unconfirmed: counts (B3 c)
    _cancel(world, refs[3], by="marketplace", at=promise + 3 * D)
    m = _metric(world, "bol.cancelled_items")
    assert (m.numerator, m.denominator) == (3, 100)
    assert m.level == "critical"  # 3 % > 2 % and 3 items


# -- Response time (B4, B5) ----------------------------------------------------------------------------------


def _questions(world, n: int, *, late: bool, at: datetime = datetime(2026, 11, 17, 9, tzinfo=UTC)) -> None:
    # Tuesday 17 Nov 10:00 CET: due Wednesday 10:00 CET
    for _ in range(n):
        _question(world, at, at + (30 * H if late else 2 * H))


def test_response_exactly_90_percent_is_fine_89_is_a_strike(world):
    # 100 questions, 10 late: 90 % answered within 24 h -> meets ">= 90 %" -> no strike
    _questions(world, 90, late=False)
    _questions(world, 10, late=True)
    m = _metric(world, "bol.late_replies")
    assert (m.numerator, m.denominator, m.value) == (10, 100, 0.10)
    assert m.level != "critical"
    # 11 late of 101: 89.1 % and 11 late -> strike
    _questions(world, 1, late=True)
    assert _metric(world, "bol.late_replies").level == "critical"


@pytest.mark.parametrize(("add", "metric_id", "on_time", "late"), [
    # 10 items, 2 late = 80 % on time, but fewer than 3 late items -> no strike; a 3rd late item (11 items) strikes
    (_orders, "bol.late_items", 8, 2),
    # 30 questions, 9 late = 70 % within 24 h, but only 9 late -> no strike; the 10th late one strikes
    (_questions, "bol.late_replies", 21, 9),
], ids=["on_time_items", "response_questions"])
def test_gate_one_late_short_is_no_strike_the_next_strikes(world, add, metric_id, on_time, late):
    add(world, on_time, late=False)
    add(world, late, late=True)
    m = _metric(world, metric_id)
    assert (m.numerator, m.denominator) == (late, on_time + late) and m.level != "critical"
    add(world, 1, late=True)
    assert _metric(world, metric_id).level == "critical"


def test_response_friday_16h_is_due_monday_16h(world):
    # policy note: "a question arriving Friday 16:00 is due Monday 16:00 (weekend hours skipped)".
    # Friday 20 Nov 16:00 CET = 15:00 UTC; Monday 23 Nov 16:00 CET = 15:00 UTC.
    # Evaluated Tuesday 24 Nov (W47 still the last final week).
    friday = datetime(2026, 11, 20, 15, tzinfo=UTC)
    monday_16 = datetime(2026, 11, 23, 15, tzinfo=UTC)
    _question(world, friday, monday_16 - MIN)  # 15:59 Monday: on time
    _question(world, friday, monday_16)  # exactly 24 business hours: on time
    _question(world, friday, monday_16 + MIN)  # 16:01 Monday: late
    m = _metric(world, "bol.late_replies", as_of=datetime(2026, 11, 24, 12, tzinfo=UTC))
    assert m.period == "2026-W47" and (m.numerator, m.denominator) == (1, 3)


def test_response_saturday_question_is_due_tuesday_00h(world):
    # received Saturday 21 Nov 11:00 CET: weekend hours do not count, so the 24 h start Monday 00:00 -> due
    # Tuesday 24 Nov 00:00 CET (23 Nov 23:00 UTC). Answered Monday 23:30 CET: on time; Tuesday 00:30 CET: late.
    saturday = datetime(2026, 11, 21, 10, tzinfo=UTC)
    _question(world, saturday, datetime(2026, 11, 23, 22, 30, tzinfo=UTC))
    _question(world, saturday, datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
    m = _metric(world, "bol.late_replies", as_of=datetime(2026, 11, 24, 12, tzinfo=UTC))
    assert (m.numerator, m.denominator) == (1, 2)


def test_response_belgian_holiday_11_november_for_a_seller_in_belgium(world):
    # Wednesday 11 Nov 2026 is Wapenstilstand, a Belgian legal holiday, not a Dutch one. A question on Tuesday
    # 10 Nov 12:00 CET is due Wednesday 12:00 CET in NL, Thursday 12 Nov 12:00 CET in BE. Answered Wednesday
    # 18:00 CET: late for a Dutch seller, on time for a Belgian one. Week W46 is final as of Monday 16 Nov.
    _question(world, datetime(2026, 11, 10, 11, tzinfo=UTC), datetime(2026, 11, 11, 17, tzinfo=UTC))
    as_of = datetime(2026, 11, 16, 12, tzinfo=UTC)
    nl = _metric(world, "bol.late_replies", as_of=as_of)
    assert (nl.period, nl.numerator, nl.denominator) == ("2026-W46", 1, 1)
    be = _metric(world, "bol.late_replies", as_of=as_of, policy={
        "bol.late_replies": PolicyOverride(params={"calendar": "be"})})
    assert (be.numerator, be.denominator) == (0, 1)


def test_a_belgian_account_gets_belgian_holidays_from_its_region(world):
    # The same rule from the account's region alone (pack row [sites.BE]): 12 questions on Tuesday 10 Nov 10:00
    # CET, answered Thursday 12 Nov 09:00 CET. In Belgium Wednesday 11 Nov does not count, so they were due
    # Thursday 10:00 CET: all on time (in the Netherlands all 12 were late, a strike).
    for _ in range(12):
        _question(world, datetime(2026, 11, 10, 9, tzinfo=UTC), datetime(2026, 11, 12, 8, tzinfo=UTC))
    as_of = datetime(2026, 11, 16, 12, tzinfo=UTC)
    be = world.metric("bol.late_replies", as_of=as_of, pack=PACK.for_site("BE"))
    assert (be.numerator, be.denominator, be.level) == (0, 12, "ok")
    nl = world.metric("bol.late_replies", as_of=as_of, pack=PACK.for_site("NL"))
    assert (nl.numerator, nl.denominator, nl.level) == (12, 12, "critical")


def test_response_dutch_kings_day(world):
    # Koningsdag Monday 27 April 2026 (NL holiday). Question Friday 24 April 10:00 CEST (08:00 UTC): Saturday,
    # Sunday and Monday do not count -> due Tuesday 28 April 10:00 CEST. Answered Tuesday 09:00 CEST: on time.
    _question(world, datetime(2026, 4, 24, 8, tzinfo=UTC), datetime(2026, 4, 28, 7, tzinfo=UTC))
    _question(world, datetime(2026, 4, 24, 8, tzinfo=UTC), datetime(2026, 4, 28, 9, tzinfo=UTC))  # 11:00: late
    m = _metric(world, "bol.late_replies", as_of=datetime(2026, 4, 27, 12, tzinfo=UTC))
    assert (m.period, m.numerator, m.denominator) == ("2026-W17", 1, 2)


# -- Strikes (B5, B12) ---------------------------------------------------------------------------------------


def _bad_week(world, monday_utc: datetime, metric_id: str = "bol.late_items") -> None:
    """bol's own final figure for one week: 10 bad of 100 items / questions (10 %, 10 counted) -> a bad week for
    late items (> 7 %, >= 3) and cancellations (> 2 %, >= 3); for replies 10 % is fine, so use 20 of 100."""
    bad = 20 if metric_id == "bol.late_replies" else 10
    world.records.append(ReportedMetric(
        account=world.account, external_id=f"rm{next(_ids)}", metric_id=metric_id, value=bad / 100,
        numerator=bad, denominator=100, window_start=monday_utc, window_end=monday_utc + 7 * D, scope="week",
        as_of=NOW - 2 * H))


def test_strikes_four_warn_five_critical_and_the_23rd_week_back_expires(world):
    # W47 is the newest final week (start Mon 16 Nov 00:00 CET = 15 Nov 23:00 UTC); the 22 counted weeks are
    # W26..W47; W25 (23 weeks back) has expired.
    w47 = datetime(2026, 11, 15, 23, tzinfo=UTC)
    _bad_week(world, w47)
    _bad_week(world, w47 - 7 * D, "bol.cancelled_items")
    _bad_week(world, w47 - 14 * D, "bol.late_replies")
    _bad_week(world, datetime(2026, 6, 21, 22, tzinfo=UTC))  # W26 (Mon 22 Jun 00:00 CEST): still counted
    _bad_week(world, datetime(2026, 6, 14, 22, tzinfo=UTC))  # W25: expired
    m = _metric(world, "bol.strikes")
    assert m.value == 4 and m.level == "warn"  # 1-4 strikes: e-mails
    assert {w.period for w in m.strikes or []} == {"2026-W47", "2026-W46", "2026-W45", "2026-W26"}
    _bad_week(world, w47 - 21 * D)  # W44: a 5th strike -> closure territory
    m = _metric(world, "bol.strikes")
    assert (m.value, m.level) == (5, "critical")


def test_strike_weeks_count_once_when_two_standards_are_bad(world):
    w47 = datetime(2026, 11, 15, 23, tzinfo=UTC)
    _bad_week(world, w47)
    _bad_week(world, w47, "bol.cancelled_items")
    m = _metric(world, "bol.strikes")
    assert (m.value, m.level) == (1, "warn")


# -- bol's own final figure (Retailer API v10 indicator, through the connector) decides the week ----------------


def _indicator(name: str, numerator: int, denominator: int, condition: str, norm: float) -> dict:
    # the v10 Score: value = numerator / denominator as a fraction; week 47 of 2026
    return {"performanceIndicators": [{"name": name, "type": "PERCENTAGE", "details": {
        "period": {"year": "2026", "week": "47"},
        "score": {"conforms": True, "numerator": numerator, "denominator": denominator,
                  "value": numerator / denominator, "distanceToNorm": 0.0},
        "norm": {"condition": condition, "value": norm}}}]}


@pytest.mark.parametrize(("name", "metric_id", "num", "den", "cond", "norm", "bad", "count"), [
    ("FULFILMENT", "bol.late_items", 93, 100, ">=", 0.93, False, 7),  # 93.0 % on time: no strike
    ("FULFILMENT", "bol.late_items", 37, 40, ">=", 0.93, True, 3),  # 92.5 %, 3 late: strike
    ("FULFILMENT", "bol.late_items", 8, 10, ">=", 0.93, False, 2),  # 80 %, only 2 late: no strike
    ("CANCELLATIONS", "bol.cancelled_items", 3, 150, "<=", 0.02, False, 3),  # 2.0 %: no strike
    ("CANCELLATIONS", "bol.cancelled_items", 4, 150, "<=", 0.02, True, 4),  # 2.67 %, 4 items: strike
    ("RESPONSE_TIME", "bol.late_replies", 90, 100, ">=", 0.9, False, 10),  # 90 % in time: no strike
    ("RESPONSE_TIME", "bol.late_replies", 89, 100, ">=", 0.9, True, 11),  # 89 %, 11 late: strike
    ("RESPONSE_TIME", "bol.late_replies", 41, 50, ">=", 0.9, False, 9),  # 82 %, 9 late: no strike
])
def test_bols_final_weekly_figure_decides(world, name, metric_id, num, den, cond, norm, bad, count):
    rows = normalize_indicator(world.account, _indicator(name, num, den, cond, norm), final=True,
                               as_of=NOW - 2 * H, expected=name)
    world.records += rows
    m = _metric(world, metric_id)
    assert m.period == "2026-W47" and m.final is not None
    assert m.final.gate_count == count
    assert (m.level == "critical") is bad
    s = _metric(world, "bol.strikes")
    assert s.value == (1 if bad else 0)


@pytest.mark.parametrize(("name", "metric_id", "kind", "value", "cond", "norm", "level"), [
    ("REVIEWS", "bol.customer_rating", "AVERAGE", 8.0, ">=", 8.0, "ok"),  # "8 or higher"
    ("REVIEWS", "bol.customer_rating", "AVERAGE", 7.9, ">=", 8.0, "warn"),
    ("PHONE_AVAILABILITY", "bol.phone_availability", "PERCENTAGE", 0.90, ">=", 0.90, "ok"),  # >= 90 %
    ("PHONE_AVAILABILITY", "bol.phone_availability", "PERCENTAGE", 0.89, ">=", 0.90, "warn"),
    ("CASE_ITEM_RATIO", "bol.customer_questions_ratio", "PERCENTAGE", 0.05, "<=", 0.05, "ok"),  # at most 5 %
    ("CASE_ITEM_RATIO", "bol.customer_questions_ratio", "PERCENTAGE", 0.06, "<=", 0.05, "warn"),
    ("TRACK_AND_TRACE", "bol.missing_track_and_trace", "PERCENTAGE", 1.0, ">=", 1.0, "ok"),  # 100 %
    ("TRACK_AND_TRACE", "bol.missing_track_and_trace", "PERCENTAGE", 0.99, ">=", 1.0, "warn"),  # no strike
])
def test_bols_other_weekly_indicators_warn_below_their_norm(world, name, metric_id, kind, value, cond, norm, level):
    conforms = value >= norm if cond == ">=" else value <= norm
    body = {"performanceIndicators": [{"name": name, "type": kind, "details": {
        "period": {"year": "2026", "week": "47"},
        "score": {"conforms": conforms, "numerator": 0, "denominator": 0, "value": value, "distanceToNorm": 0.0},
        "norm": {"condition": cond, "value": norm}}}]}
    world.records += normalize_indicator(world.account, body, final=True, as_of=NOW - 2 * H, expected=name)
    assert _metric(world, metric_id).level == level


def test_the_promised_day_ends_at_midnight_dutch_time_through_the_connector(world):
    # bol's order promises delivery on 18 November (latestDeliveryDate, a date): the promise ends 18 Nov 23:59:59
    # in Amsterdam (22:59:59 UTC). Two orders of 2 units: A first attempted 23:30 CET on the 18th (on time),
    # B 00:30 CET on the 19th (late): 2 late items of 4, below the 3-item gate (no strike).
    from sellerguard.connectors.bol_normalize import normalize_order

    def order(oid: str) -> dict:
        return {"orderId": oid, "orderPlacedDateTime": "2026-11-16T10:00:00+01:00", "orderItems": [{
            "orderItemId": f"{oid}1", "cancellationRequest": False, "quantity": 2, "quantityShipped": 2,
            "quantityCancelled": 0, "unitPrice": 10, "totalPrice": 20,
            "fulfilment": {"method": "FBR", "latestDeliveryDate": "2026-11-18", "expiryDate": "2026-11-20"},
            "latestChangedDateTime": "2026-11-17T09:00:00+01:00"}]}

    for oid, attempt in (("1000000001", datetime(2026, 11, 18, 22, 30, tzinfo=UTC)),
                         ("1000000002", datetime(2026, 11, 18, 23, 30, tzinfo=UTC))):
        world.records += normalize_order(world.account, order(oid))
        _deliver(world, oid, attempt=attempt)
    m = _metric(world, "bol.late_items")
    assert (m.period, m.numerator, m.denominator) == ("2026-W47", 2, 4)
    assert m.level != "critical"
