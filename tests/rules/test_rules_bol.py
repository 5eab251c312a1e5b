"""bol.com worked examples from the policy text (../shared/reference/policies/bol.md): ISO weeks in Dutch time,
items (order lines x quantity) not orders, a bad week needs the percentage AND the count, strikes over 22 weeks.

NOW (Monday 2026-11-23 12:00 UTC) is in week 2026-W48; the last final week is 2026-W47: Monday 16 November 00:00
CET (15 Nov 23:00 UTC) to Monday 23 November 00:00 CET (22 Nov 23:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sellerguard.config import PolicyOverride
from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.rules.periodic import week_of, weeks_before
from sellerguard.schema import Cancellation, Message, Order, OrderLine, ReportedMetric, Shipment

# only this pack: packs other engineers are editing cannot break these examples
PACK = load_pack(builtin_pack_dir() / "bol.toml")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AMS = ZoneInfo("Europe/Amsterdam")
D = timedelta(days=1)
H = timedelta(hours=1)
W47_START = datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
W47_END = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
PROMISE = datetime(2026, 11, 18, 22, 59, 59, tzinfo=UTC)  # Wednesday 18 Nov, end of day in NL


class Bol:
    """Writes bol records with item counts into a rules-test World."""

    def __init__(self, world):
        self.w = world
        self.n = 0

    def _id(self, p: str) -> str:
        self.n += 1
        return f"{p}{self.n}"

    def order(self, *, items: int = 1, deliver_by: datetime = PROMISE, placed: datetime | None = None,
              lines: tuple[int, ...] | None = None, status: str = "shipped", fulfilment: str = "seller") -> str:
        ref = self._id("o")
        order_lines = tuple(OrderLine(line_id=f"{ref}-{i}", quantity=q) for i, q in enumerate(lines or ()))
        self.w.records.append(Order(
            account=self.w.account, external_id=ref, purchased_at=placed or deliver_by - 2 * D,
            deliver_by=deliver_by, ship_by=deliver_by - D, fulfilment=fulfilment, status=status,
            item_count=items if lines is None else sum(lines), lines=order_lines))
        return ref

    def delivered(self, ref: str, at: datetime, *, items: int | None = None, attempt: datetime | None = None):
        self.w.records.append(Shipment(account=self.w.account, external_id=self._id("s"), order_ref=ref,
                                       shipped_at=at - D, delivered_at=at, first_attempt_at=attempt,
                                       item_count=items))

    def on_time(self, n: int, items: int = 1, **kw) -> None:
        for _ in range(n):
            self.delivered(self.order(items=items, **kw), kw.get("deliver_by", PROMISE) - 3 * H)

    def late(self, n: int, items: int = 1, **kw) -> None:
        for _ in range(n):
            self.delivered(self.order(items=items, **kw), kw.get("deliver_by", PROMISE) + 20 * H)

    def cancel(self, ref: str, *, by: str = "seller", buyer: bool = False, items: int | None = None,
               at: datetime = PROMISE - D, processed: datetime | None = None) -> None:
        self.w.records.append(Cancellation(account=self.w.account, external_id=self._id("x"), order_ref=ref,
                                           cancelled_at=at, initiated_by=by, buyer_requested=buyer,
                                           item_count=items, processed_at=processed))

    def question(self, received: datetime, replied: datetime | None, flag: str | None = None) -> None:
        ref = self._id("m")
        self.w.records.append(Message(account=self.w.account, external_id=ref, thread_id=f"t{ref}",
                                      received_at=received, first_reply_at=replied, marketplace_flag=flag))

    def reported(self, metric_id: str, late: float, items: float, week_start: datetime,
                 scope: str = "week") -> None:
        week = week_of(week_start, AMS)
        self.w.records.append(ReportedMetric(
            account=self.w.account, external_id=self._id("rm"), metric_id=metric_id, value=late / items,
            numerator=late, denominator=items, window_start=week.start, window_end=week.end, scope=scope,
            as_of=NOW - 2 * H))


def metric(world, metric_id: str, **kw):
    return world.metric(metric_id, as_of=kw.pop("as_of", NOW), **kw, pack=PACK)


# -- ISO weeks -----------------------------------------------------------------------------------------


def test_iso_week_is_monday_to_monday_in_dutch_time():
    w = week_of(NOW, AMS)
    assert (w.label, w.start, w.end) == ("2026-W48", datetime(2026, 11, 22, 23, tzinfo=UTC),
                                         datetime(2026, 11, 29, 23, tzinfo=UTC))
    # Sunday 23:30 UTC is already Monday 00:30 in Amsterdam: the next week
    assert week_of(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), AMS).label == "2026-W48"
    assert week_of(datetime(2026, 11, 22, 22, 59, 59, tzinfo=UTC), AMS).label == "2026-W47"
    last = weeks_before(w, 1, AMS)[0]
    assert (last.label, last.start, last.end) == ("2026-W47", W47_START, W47_END)


def test_iso_week_across_the_end_of_summer_time_has_169_hours():
    w = week_of(datetime(2026, 10, 22, tzinfo=UTC), AMS)  # DST ends Sunday 25 October 2026
    assert w.label == "2026-W43"
    assert w.start == datetime(2026, 10, 18, 22, tzinfo=UTC)  # Monday 00:00 CEST
    assert w.end == datetime(2026, 10, 25, 23, tzinfo=UTC)  # Monday 00:00 CET
    assert w.end - w.start == timedelta(hours=169)
    assert week_of(datetime(2026, 3, 25, tzinfo=UTC), AMS).end - week_of(
        datetime(2026, 3, 25, tzinfo=UTC), AMS).start == timedelta(hours=167)
    # ISO week 53 and the year boundary: 2026-12-31 is in 2026-W53, 2027-01-04 starts 2027-W01
    assert week_of(datetime(2026, 12, 31, 12, tzinfo=UTC), AMS).label == "2026-W53"
    assert week_of(datetime(2027, 1, 4, 12, tzinfo=UTC), AMS).label == "2027-W01"


# -- items on time -------------------------------------------------------------------------------------


def test_40_items_2_late_is_95_percent_and_no_strike_3_late_is_a_strike(world):
    # bol.md: "With 40 items in a week, 2 late items is 95 % and no strike; 3 late items is 92.5 % and a strike."
    bol = Bol(world)
    bol.on_time(38)
    bol.late(2)
    m = metric(world, "bol.late_items")
    assert (m.value, m.numerator, m.denominator, m.period) == (0.05, 2, 40, "2026-W47")
    assert (m.window_start, m.window_end) == (W47_START, W47_END)
    assert m.level == "warn"  # 95% is under bol's 98% target, but no strike
    assert (m.unit, m.gate_count, m.window_kind) == ("units", 2, "iso_weeks")
    assert m.final is not None and (m.final.value, m.final.at, m.final.level) == (0.05, W47_END, "warn")
    assert "strike" not in m.reason and "warning band" in m.reason
    bol.late(1)
    m = metric(world, "bol.late_items")
    assert (m.numerator, m.denominator) == (3, 41)
    assert m.level == "critical" and "a strike" in m.reason


def test_items_not_orders_one_order_of_three_late_items_strikes(world):
    # 37 single-item orders on time + one order of 3 items (two lines: 2 + 1) late: 3/40 items = 7.5% late,
    # a strike; counted in orders it would be 1/38 = 2.6% and no strike.
    bol = Bol(world)
    bol.on_time(37)
    ref = bol.order(lines=(2, 1))
    bol.delivered(ref, PROMISE + 5 * H)
    m = metric(world, "bol.late_items")
    assert (m.numerator, m.denominator) == (3, 40)
    assert m.value == 0.075 and m.level == "critical"


def test_exactly_93_percent_on_time_is_not_a_strike(world):
    # B1: a strike below 93.0%: 7 late of 100 items is exactly 93.0% on time.
    bol = Bol(world)
    bol.on_time(93)
    bol.late(7)
    m = metric(world, "bol.late_items")
    assert (m.value, m.numerator) == (0.07, 7)
    assert m.level == "warn"
    bol.late(1)  # 8 of 101: 92.1%
    assert metric(world, "bol.late_items").level == "critical"


def test_the_3_item_gate_2_late_of_20_is_no_strike_exactly_3_is(world):
    bol = Bol(world)
    bol.on_time(18)
    bol.late(2)  # 10% late but only 2 items
    m = metric(world, "bol.late_items")
    assert (m.value, m.level) == (0.1, "warn")
    assert "below the strike gate of 3 items" in m.reason
    bol.late(1)  # exactly at the gate: 3 items
    assert metric(world, "bol.late_items").level == "critical"


def test_first_delivery_attempt_decides_not_the_final_delivery(world):
    bol = Bol(world)
    bol.on_time(36)
    for _ in range(4):  # attempted on time, delivered the next day after the promise: on time for bol
        bol.delivered(bol.order(), PROMISE + 20 * H, attempt=PROMISE - 2 * H)
    m = metric(world, "bol.late_items")
    assert (m.numerator, m.denominator, m.level) == (0, 40, "ok")


def test_items_split_over_shipments_and_undelivered_items(world):
    bol = Bol(world)
    bol.on_time(30)
    ref = bol.order(items=5)
    bol.delivered(ref, PROMISE - H, items=2)  # 2 items on time
    bol.delivered(ref, PROMISE + 30 * H, items=2)  # 2 items late; the fifth never shipped: late
    ref2 = bol.order(items=4)
    bol.cancel(ref2, items=1)  # one item cancelled: 3 left to deliver, all on time
    bol.delivered(ref2, PROMISE - H)
    m = metric(world, "bol.late_items")
    assert (m.numerator, m.denominator) == (3, 38)


def test_week_edges_and_lvb_orders(world):
    bol = Bol(world)
    bol.late(3, deliver_by=W47_START)  # first instant of W47: inside
    bol.late(5, deliver_by=W47_END)  # first instant of W48: the running week, not the verdict
    bol.late(4, deliver_by=W47_START - timedelta(seconds=1))  # last instant of W46
    bol.late(6, fulfilment="marketplace")  # Logistiek via bol: excluded
    bol.on_time(27)
    m = metric(world, "bol.late_items")
    assert (m.numerator, m.denominator) == (3, 30)
    assert m.running.period == "2026-W48" and m.running.numerator == 5


def test_a_promise_still_ahead_is_not_late_yet(world):
    bol = Bol(world)
    ahead = NOW + 2 * D  # in the running week, not yet due
    bol.order(items=2, deliver_by=ahead, placed=NOW - D)
    m = metric(world, "bol.late_items")
    assert m.running.numerator == 0 and m.running.denominator == 2


# -- cancellations -------------------------------------------------------------------------------------


def test_cancelled_items_by_the_seller_count_items_and_need_three(world):
    bol = Bol(world)
    refs = [bol.order(placed=W47_START + D) for _ in range(97)]
    big = bol.order(items=3, placed=W47_START + D)
    bol.cancel(big)  # 3 items cancelled by the seller (no item_count: the whole order)
    m = metric(world, "bol.cancelled_items")
    assert (m.numerator, m.denominator) == (3, 100)
    assert m.value == 0.03 and m.level == "critical"
    assert refs


def test_exactly_2_percent_cancelled_is_fine_and_the_gate_holds_below_3(world):
    bol = Bol(world)
    for _ in range(147):
        bol.order(placed=W47_START + D)
    ref = bol.order(items=3, placed=W47_START + D)
    bol.cancel(ref, items=3)
    m = metric(world, "bol.cancelled_items")
    assert (m.value, m.level) == (0.02, "warn")  # exactly 2%: no strike (the norm is "more than 2%")

    # 2 of 50 items = 4% but only 2 items: no strike
    small = Bol(world.__class__(world.store, account="small"))
    for _ in range(48):
        small.order(placed=W47_START + D)
    r = small.order(items=2, placed=W47_START + D)
    small.cancel(r)
    m = small.w.metric("bol.cancelled_items", as_of=NOW, pack=PACK)
    assert (m.numerator, m.denominator, m.level) == (2, 50, "warn")


def test_customer_cancellations_count_only_when_processed_after_the_promise(world):
    bol = Bol(world)
    for _ in range(90):
        bol.order(placed=W47_START + D)
    before = bol.order(items=3, placed=W47_START + D)
    bol.cancel(before, by="buyer", buyer=True, at=PROMISE - 2 * D, processed=PROMISE - D)  # in time: no count
    late_processed = bol.order(items=3, placed=W47_START + D)
    bol.cancel(late_processed, by="buyer", buyer=True, at=PROMISE - 2 * D, processed=PROMISE + H)  # counts
    after = bol.order(items=2, placed=W47_START + D)
    bol.cancel(after, by="buyer", buyer=True, at=PROMISE + 3 * H)  # asked after the promise: counts
    auto = bol.order(items=2, placed=W47_START + D)
    bol.cancel(auto, by="marketplace", at=PROMISE + 3 * D)  # bol's auto-cancel: counts
    m = metric(world, "bol.cancelled_items")
    assert (m.numerator, m.denominator) == (7, 100)
    assert m.level == "critical"


# -- response time -------------------------------------------------------------------------------------


def test_response_time_needs_10_late_questions_and_more_than_10_percent(world):
    bol = Bol(world)
    monday = W47_START + 9 * H  # Monday 16 Nov 09:00 NL
    for i in range(90):
        bol.question(monday + i * 60 * timedelta(seconds=1), monday + 3 * H)
    for _ in range(10):
        bol.question(monday, monday + 25 * H)  # answered after 24 h
    m = metric(world, "bol.late_replies")
    assert (m.value, m.numerator, m.denominator) == (0.1, 10, 100)
    assert m.level == "warn"  # exactly 90% within 24 h: no strike
    bol.question(monday, None)  # never answered, long overdue: 11 of 101
    m = metric(world, "bol.late_replies")
    assert (m.numerator, m.level) == (11, "critical")


def test_response_time_9_late_of_50_is_no_strike_and_weekends_do_not_count(world):
    bol = Bol(world)
    friday_16 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # Friday 16:00 in NL: due Monday 16:00
    for _ in range(41):
        bol.question(friday_16, datetime(2026, 11, 23, 14, 59, tzinfo=UTC))  # Monday 15:59 NL: on time
    for _ in range(9):
        bol.question(friday_16, datetime(2026, 11, 23, 15, 1, tzinfo=UTC))  # Monday 16:01 NL: late
    bol.question(friday_16, None, flag="spam")  # marked spam by the marketplace: not a question
    m = metric(world, "bol.late_replies")
    assert (m.numerator, m.denominator) == (9, 50)
    assert m.level == "warn"  # 18% late, but fewer than 10 questions


# -- bol's own figures, unknown, strikes ---------------------------------------------------------------


def test_bols_final_figure_decides_and_the_computed_one_is_shown_beside_it(world):
    bol = Bol(world)
    bol.on_time(40)  # computed: 0 late
    bol.reported("bol.late_items", 3, 40, W47_START + D)  # bol: 3 late items of 40 -> a strike
    m = metric(world, "bol.late_items")
    assert (m.value, m.reported_value) == (0.0, 0.075)
    assert m.level == "critical" and "bol's final figure" in m.reason


def test_reported_only_weeks_follow_the_gate(world):
    bol = Bol(world)
    bol.reported("bol.late_items", 2, 25, W47_START + D)  # 8% but 2 items: warning, no strike
    m = metric(world, "bol.late_items")
    assert (m.value, m.numerator, m.level) == (0.08, 2, "warn")


def test_no_events_and_no_figure_is_unknown_never_ok(world):
    bol = Bol(world)
    bol.reported("bol.late_items", 5, 40, NOW, scope="current")  # only the running week's estimate
    m = metric(world, "bol.late_items")
    # no verdict for W47 (unknown) ... but bol's running estimate is already a bad week: a warning, not a strike
    assert m.level == "warn" and "no data for 2026-W47" in m.reason and "heading for a strike" in m.reason
    assert m.running.reported_value == 5 / 40
    assert metric(world, "bol.cancelled_items").level == "unknown"
    assert metric(world, "bol.strikes").level == "unknown"


def test_strikes_over_the_last_22_final_weeks_name_the_weeks(world):
    bol = Bol(world)
    bol.on_time(37)
    bol.late(3)  # W47: computed strike
    w30 = datetime(2026, 7, 22, 12, tzinfo=UTC)  # 2026-W30
    bol.reported("bol.cancelled_items", 4, 100, w30)  # bol's figure: a strike
    w26 = datetime(2026, 6, 24, 12, tzinfo=UTC)  # 2026-W26: 22 weeks back counts (W26..W47)
    bol.reported("bol.late_replies", 12, 100, w26)
    w25 = datetime(2026, 6, 17, 12, tzinfo=UTC)  # 2026-W25: 23 weeks back, expired
    bol.reported("bol.late_items", 10, 40, w25)
    bol.late(4, deliver_by=NOW - 2 * H)  # the running week W48 is not final: no strike yet
    m = metric(world, "bol.strikes")
    assert m.value == 3
    assert [s.period for s in m.strikes] == ["2026-W47", "2026-W30", "2026-W26"]
    assert m.strikes[0].metrics == ["bol.late_items"] and m.strikes[0].sources == ["computed"]
    assert m.strikes[1].sources == ["reported"]
    assert m.period == "2026-W26..2026-W47" and m.window_end == W47_END
    assert m.level == "warn" and "2026-W30" in m.reason
    payload = m.model_dump(mode="json")
    assert payload["strikes"][0]["period"] == "2026-W47"


def test_five_strikes_are_critical_and_a_week_with_two_bad_standards_is_one_strike(world):
    bol = Bol(world)
    w47 = W47_START + D
    bol.reported("bol.late_items", 4, 40, w47)
    bol.reported("bol.cancelled_items", 4, 100, w47)
    assert metric(world, "bol.strikes").value == 1
    for weeks_back in (2, 3, 4, 5):
        bol.reported("bol.late_items", 4, 40, w47 - weeks_back * 7 * D)
    m = metric(world, "bol.strikes")
    assert (m.value, m.level) == (5, "critical")


def test_belgian_calendar_per_account(world):
    bol = Bol(world)
    # Wednesday 11 November 2026 is Wapenstilstand (BE holiday), not a Dutch one
    received = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)  # Tuesday 13:00 local
    replied = datetime(2026, 11, 11, 14, 0, tzinfo=UTC)  # Wednesday 15:00 local: 26 h later
    for _ in range(10):
        bol.question(received, replied)
    as_of = datetime(2026, 11, 17, 12, tzinfo=UTC)  # last final week: 2026-W46
    nl = metric(world, "bol.late_replies", as_of=as_of)
    be = metric(world, "bol.late_replies", as_of=as_of,
                policy={"bol.late_replies": PolicyOverride(params={"calendar": "be"})})
    assert (nl.numerator, be.numerator) == (10, 0)
    assert nl.level == "critical" and be.level == "ok"


def test_unshipped_orders_are_in_the_deadline_queue_until_their_expiry_date(world):
    bol = Bol(world)
    # the helper sets ship_by (bol's expiry date) one day before the promise: NOW + 3 days
    ref = bol.order(items=2, deliver_by=NOW + 4 * D, placed=NOW - D, status="unshipped")
    acc = world.status("bol", pack=PACK)
    ship = [d for d in acc.deadlines if d.kind == "ship"]
    assert [(d.ref, d.due, d.metric) for d in ship] == [(ref, NOW + 3 * D, "bol.unshipped_by_expiry_7d")]


def test_bols_own_weekly_verdict_maps_to_the_level(world):
    week = week_of(W47_START + D, AMS)
    for metric_id, value, status in (("bol.customer_questions_ratio", 0.04, "below norm"),
                                     ("bol.customer_rating", 8.4, "conforms"),
                                     ("bol.missing_track_and_trace", 0.01, "below norm")):
        world.records.append(ReportedMetric(
            account=world.account, external_id=f"{metric_id}:W47", metric_id=metric_id, value=value,
            window_start=week.start, window_end=week.end, status=status, scope="week", as_of=NOW - H))
    status = {m.id: m for m in world.status("bol", pack=PACK).metrics}
    # under the public 5% norm, but bol's personal norm says "below norm": a warning, as bol says
    assert status["bol.customer_questions_ratio"].level == "warn"
    assert status["bol.customer_rating"].level == "ok"
    assert status["bol.missing_track_and_trace"].level == "warn"
    for m in status.values():
        if m.level in ("warn", "critical"):
            assert "says conforms" not in (m.reason or ""), m


def test_response_time_exactly_10_late_questions_is_a_strike_9_is_not(world):
    bol = Bol(world)
    monday = W47_START + 9 * H
    for _ in range(71):
        bol.question(monday, monday + H)
    for _ in range(9):
        bol.question(monday, monday + 30 * H)  # 9 of 80 late: 11.25%, under the gate
    m = metric(world, "bol.late_replies")
    assert (m.numerator, m.denominator, m.level) == (9, 80, "warn")
    bol.question(monday, monday + 30 * H)  # exactly at the gate: 10 of 81 late (12.3%)
    m = metric(world, "bol.late_replies")
    assert (m.numerator, m.gate_count, m.level) == (10, 10, "critical")


def test_a_running_week_already_bad_warns_before_the_strike(world):
    bol = Bol(world)
    bol.on_time(40)  # W47: fine
    running_promise = NOW - 2 * H  # in W48, already passed
    bol.on_time(20, deliver_by=running_promise)
    bol.late(3, deliver_by=running_promise)  # 3 of 23 late so far: a bad week in the making
    m = metric(world, "bol.late_items")
    assert m.final.level == "ok" and m.running.level == "critical"
    assert m.level == "warn" and "running week 2026-W48 heading for a strike" in m.reason
