"""TikTok Shop worked examples written from the policy page alone (/work/shared/reference/policies/tiktok-shop.md),
by the fidelity audit (audit-b); expected figures are worked by hand in each test's comments, never read from the
code.

Policy facts used: LDR over seller-shipped orders created in 30 days, FBT exempt, "<= 4 %" (US, T1) vs "< 4 %"
(UK, T2) with the instruction "Encode per market"; US SLA: regular orders within 2 business days of the order date,
cut-off 11:59 PM Pacific (K1, K3); UK: Ready-To-Ship within 2 business days (T3); SFCR over orders placed in 30
days, seller and system (auto-cancel) cancellations count, "<= 2.5 %" US / "< 2.5 %" UK; VTR ">= 95 %" over shipped
seller-fulfilled orders; seller-fault return/refund rate "< 1 %" over DELIVERED orders in 60 days; NRR: delivered
orders whose FIRST review is 1-2 stars, no hard floor; 24-hour response rate over customer chats, 24 clock hours
(weekends count), third parties' 85 % floor (unconfirmed); OTDR: no hard floor.
Counting unit everywhere: orders (TikTok's rates are per order).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from worked_helpers import builtin_pack, cli_run

from sellerguard.config import AccountConfig, Config
from sellerguard.connectors.tiktok_normalize import normalize_order
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.schema import Order, OrderLine, Rating, Return

PACK = builtin_pack("tiktok")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday
D = timedelta(days=1)
H = timedelta(hours=1)
S = timedelta(seconds=1)
PT = ZoneInfo("America/Los_Angeles")
LON = ZoneInfo("Europe/London")
_ids = itertools.count()


def _order(world, placed: datetime, *, ship_by: datetime | None = None, country: str = "US",
           order_type: str | None = "NORMAL", fulfilment: str = "seller", status: str = "shipped",
           units: int = 1) -> str:
    ref = f"tk{next(_ids)}"
    world.records.append(Order(
        account=world.account, external_id=ref, purchased_at=placed, ship_by=ship_by, fulfilment=fulfilment,
        status=status, order_type=order_type, buyer_country=country, site=country, item_count=units,
        lines=(OrderLine(line_id=f"{ref}-1", quantity=units),)))
    return ref


def _dispatch(world, ref: str, at: datetime, *, tracking: str | None = "TRK1",
              delivered: datetime | None = None) -> None:
    world.shipment(ref, shipped_at=at, confirmed_at=at, tracking_number=tracking, delivered_at=delivered)


def _ldr_orders(world, n: int, *, late: bool, **kw) -> list[str]:
    refs = []
    for _ in range(n):
        due = NOW - 8 * D
        ref = _order(world, NOW - 10 * D, ship_by=due, **kw)
        _dispatch(world, ref, due + (H if late else -H))
        refs.append(ref)
    return refs


def _metric(world, metric_id: str, as_of: datetime = NOW):
    return world.metric(metric_id, as_of=as_of, pack=PACK)


def _by_region(world, metric_id: str, region: str, as_of: datetime = NOW):
    """The public path: an account in the config with its region (US, GB), then the engine."""
    world.flush()
    cfg = Config(accounts=[AccountConfig(id=world.account, marketplace="tiktok", region=region)])
    refs = accounts_to_check(cfg, world.store, accounts=(world.account,))
    acc = Engine(world.store, {"tiktok": PACK}).evaluate(refs, as_of, 14).accounts[0]
    return next(m for m in acc.metrics if m.id == metric_id)


# -- Late Dispatch Rate ---------------------------------------------------------------------------------------


def test_ldr_uk_exactly_4_percent_is_a_breach_3_is_fine(world):
    # UK: "< 4 %". 100 orders, 4 dispatched late = 4.0 % -> breach; with 3 late (3 %) -> warn band, no breach
    _ldr_orders(world, 96, late=False, country="GB")
    _ldr_orders(world, 4, late=True, country="GB")
    m = _by_region(world, "tiktok.late_dispatch_rate", "GB")
    assert (m.numerator, m.denominator, m.value) == (4, 100, 0.04)
    assert m.level == "critical"


def test_ldr_uk_3_percent_is_no_breach(world):
    _ldr_orders(world, 97, late=False, country="GB")
    _ldr_orders(world, 3, late=True, country="GB")
    m = _by_region(world, "tiktok.late_dispatch_rate", "GB")
    assert (m.numerator, m.denominator) == (3, 100) and m.level != "critical"


def test_ldr_us_exactly_4_percent_is_within_the_us_standard(world):
    # US (T1): "LDR <= 4 %": 4 late of 100 = 4.0 % meets it; 5 of 100 would not
    _ldr_orders(world, 96, late=False)
    _ldr_orders(world, 4, late=True)
    m = _by_region(world, "tiktok.late_dispatch_rate", "US")
    assert (m.value, m.comparator, m.level) == (0.04, "<=", "warn")
    # a 5th late order (101 orders): 4.95 % -> over the US standard
    _ldr_orders(world, 1, late=True)
    assert _by_region(world, "tiktok.late_dispatch_rate", "US").level == "critical"


def test_sfcr_us_exactly_2_5_percent_meets_the_us_standard(world):
    # US (T1): "SFCR <= 2.5 %": 2 seller-fault cancellations of 80 orders = 2.5 % -> met (warn band from 2 %)
    refs = [_order(world, NOW - 3 * D) for _ in range(80)]
    world.cancel(refs[0], by="seller", at=NOW - 2 * D)
    world.cancel(refs[1], by="marketplace", at=NOW - 2 * D)
    m = _by_region(world, "tiktok.seller_fault_cancellation_rate", "US")
    assert (m.numerator, m.denominator, m.value, m.level) == (2, 80, 0.025, "warn")


def test_ldr_fbt_orders_are_exempt_and_units_do_not_count(world):
    # 50 seller-shipped orders, 1 late (an order of 5 units) = 1/50 = 2 % -> ok. 10 FBT orders dispatched late are
    # exempt. Counted in units it would be 5/54 = 9.3 %.
    _ldr_orders(world, 49, late=False)
    _ldr_orders(world, 1, late=True, units=5)
    _ldr_orders(world, 10, late=True, fulfilment="marketplace")
    m = _metric(world, "tiktok.late_dispatch_rate")
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 50, 0.02, "ok")


def test_ldr_window_is_30_days_of_orders_created(world):
    # 20 late orders created 30 days and 1 hour ago: out; 25 on-time orders created 29 days 23 hours ago: in
    for _ in range(20):
        ref = _order(world, NOW - 30 * D - H, ship_by=NOW - 28 * D)
        _dispatch(world, ref, NOW - 27 * D)
    for _ in range(25):
        ref = _order(world, NOW - 30 * D + H, ship_by=NOW - 28 * D)
        _dispatch(world, ref, NOW - 29 * D)
    m = _metric(world, "tiktok.late_dispatch_rate")
    assert (m.numerator, m.denominator, m.window_days) == (0, 25, 30)


def test_ldr_us_deadline_two_business_days_to_1159_pm_pacific(world):
    # No deadline sent by TikTok: derived. An order Friday 20 Nov 2026 10:00 PST (18:00 UTC) is due Tuesday 24 Nov
    # 23:59:59 PST = Wednesday 25 Nov 07:59:59 UTC (Saturday and Sunday are no business days).
    friday = datetime(2026, 11, 20, 18, tzinfo=UTC)
    due = datetime(2026, 11, 25, 7, 59, 59, tzinfo=UTC)
    on_time, late = _order(world, friday), _order(world, friday)
    _dispatch(world, on_time, due)  # exactly at 23:59:59 PST: on time
    _dispatch(world, late, due + 2 * S)  # Wednesday 00:00:01 PST: late
    m = _metric(world, "tiktok.late_dispatch_rate", as_of=datetime(2026, 11, 26, 12, tzinfo=UTC))
    assert (m.numerator, m.denominator, m.unknown_count) == (1, 2, 0)


def test_ldr_us_order_friday_evening_pacific_is_a_friday_order(world):
    # Friday 20 Nov 23:30 PST = Saturday 21 Nov 07:30 UTC: still a Friday order in the Pacific clock -> due
    # Tuesday 24 Nov 23:59:59 PST. Dispatched Tuesday 22:00 PST (Wednesday 06:00 UTC): on time. (Read as a
    # Saturday order in UTC it would be the same Tuesday; dispatched Wednesday 20:00 PST it is late either way.)
    order_at = datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
    ok, bad = _order(world, order_at), _order(world, order_at)
    _dispatch(world, ok, datetime(2026, 11, 25, 6, tzinfo=UTC))
    _dispatch(world, bad, datetime(2026, 11, 26, 4, tzinfo=UTC))
    m = _metric(world, "tiktok.late_dispatch_rate", as_of=datetime(2026, 11, 27, 12, tzinfo=UTC))
    assert (m.numerator, m.denominator) == (1, 2)


def test_ldr_uk_deadline_in_uk_time(world):
    # UK order Thursday 19 Nov 2026 15:00 GMT: 2 business days -> Monday 23 Nov 23:59:59 GMT (= UTC in November).
    thursday = datetime(2026, 11, 19, 15, tzinfo=UTC)
    ok, bad = _order(world, thursday, country="GB"), _order(world, thursday, country="GB")
    _dispatch(world, ok, datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC))
    _dispatch(world, bad, datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC))
    m = _metric(world, "tiktok.late_dispatch_rate", as_of=datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert (m.numerator, m.denominator) == (1, 2)


def test_ldr_pending_order_past_its_deadline_is_late_one_before_it_is_not(world):
    # the deadline passed without a dispatch: late; deadline still ahead and not dispatched: not late yet
    _order(world, NOW - 5 * D, ship_by=NOW - H)
    _order(world, NOW - D, ship_by=NOW + D)
    _ldr_orders(world, 48, late=False)
    m = _metric(world, "tiktok.late_dispatch_rate")
    assert m.numerator == 1 and m.denominator in (49, 50)


# -- Seller-Fault Cancellation Rate ---------------------------------------------------------------------------


def test_sfcr_uk_exactly_2_5_percent_breaches(world):
    # 80 orders placed in 30 days; 1 cancelled by the seller (out of stock), 1 auto-cancelled by TikTok for
    # missing the SLA (seller fault), 3 cancelled by buyers (not defects): 2/80 = 2.5 % -> UK "< 2.5 %" breached
    refs = [_order(world, NOW - 3 * D, country="GB") for _ in range(80)]
    world.cancel(refs[0], by="seller", at=NOW - 2 * D)
    world.cancel(refs[1], by="marketplace", at=NOW - 2 * D)
    for ref in refs[2:5]:
        world.cancel(ref, by="buyer", buyer_requested=True, at=NOW - 2 * D)
    m = _by_region(world, "tiktok.seller_fault_cancellation_rate", "GB")
    assert (m.numerator, m.denominator, m.value) == (2, 80, 0.025)
    assert m.level == "critical"


def test_sfcr_2_of_81_is_under_2_5_percent(world):
    # 2/81 = 2.47 %: under 2.5 % (warn band from 2 %)
    refs = [_order(world, NOW - 3 * D, country="GB") for _ in range(81)]
    world.cancel(refs[0], by="seller", at=NOW - 2 * D)
    world.cancel(refs[1], by="seller", at=NOW - 2 * D)
    m = _by_region(world, "tiktok.seller_fault_cancellation_rate", "GB")
    assert (m.numerator, m.denominator, m.level) == (2, 81, "warn")


# -- Valid Tracking Rate --------------------------------------------------------------------------------------


def test_vtr_exactly_95_percent_is_fine_94_is_not(world):
    # ">= 95 %": 100 shipped, 5 without tracking = 95 % -> no breach; a 6th untracked (101 shipped): 95/101 = 94.1 %
    for i in range(100):
        ref = _order(world, NOW - 5 * D)
        _dispatch(world, ref, NOW - 4 * D, tracking=None if i < 5 else "TRK")
    m = _metric(world, "tiktok.valid_tracking_rate")
    assert (m.numerator, m.denominator, m.value) == (95, 100, 0.95)
    assert m.level != "critical"
    _dispatch(world, _order(world, NOW - 5 * D), NOW - 4 * D, tracking=None)
    m = _metric(world, "tiktok.valid_tracking_rate")
    assert (m.numerator, m.denominator, m.level) == (95, 101, "critical")


# -- Seller-fault return and refund rate (delivered orders, 60 days, < 1 %) ----------------------------------


def _delivered(world, n: int, placed: datetime = NOW - 20 * D) -> list[str]:
    refs = []
    for _ in range(n):
        ref = _order(world, placed, status="delivered")
        _dispatch(world, ref, placed + D, delivered=placed + 4 * D)
        refs.append(ref)
    return refs


def _return(world, ref: str, *, seller_fault: bool) -> None:
    world.records.append(Return(account=world.account, external_id=f"r{next(_ids)}", order_ref=ref,
                                requested_at=NOW - 10 * D, dissatisfied=seller_fault,
                                reason_category="damaged" if seller_fault else "remorse"))


def test_return_refund_exactly_1_percent_breaches(world):
    # 100 delivered orders in 60 days, 1 seller-fault return (damaged), 2 buyer-remorse returns (not seller fault):
    # 1/100 = 1.0 % -> not "< 1 %" -> breach (an SPS input: level warn in the pack)
    refs = _delivered(world, 100)
    _return(world, refs[0], seller_fault=True)
    _return(world, refs[1], seller_fault=False)
    _return(world, refs[2], seller_fault=False)
    m = _metric(world, "tiktok.seller_fault_return_refund_rate")
    assert (m.numerator, m.denominator, m.value, m.window_days) == (1, 100, 0.01, 60)
    assert m.level == "warn"


def test_return_refund_divides_by_delivered_orders_only(world):
    # 100 delivered orders with 1 seller-fault return, plus 20 orders shipped and still in transit:
    # policy 1/100 = 1.0 % -> breach; dividing by 120 gives 0.83 % and no breach
    refs = _delivered(world, 100)
    _return(world, refs[0], seller_fault=True)
    for _ in range(20):
        _dispatch(world, _order(world, NOW - 3 * D), NOW - 2 * D)
    m = _metric(world, "tiktok.seller_fault_return_refund_rate")
    assert (m.numerator, m.denominator) == (1, 100)


# -- Negative Review Rate: the FIRST review decides ----------------------------------------------------------


def _review(world, ref: str, stars: int, at: datetime) -> None:
    world.records.append(Rating(account=world.account, external_id=f"rv{next(_ids)}", rating_kind="product_review",
                                score=str(stars), score_normalized=stars, negative=stars <= 2, rated_at=at,
                                order_ref=ref))


def test_nrr_is_informational_and_counts_orders_with_a_1_or_2_star_review(world):
    # 50 delivered orders: one 1-star, one 2-star, one 3-star review -> 2/50 = 4 %, no threshold (SPS only)
    refs = _delivered(world, 50)
    _review(world, refs[0], 1, NOW - 10 * D)
    _review(world, refs[1], 2, NOW - 10 * D)
    _review(world, refs[2], 3, NOW - 10 * D)
    m = _metric(world, "tiktok.negative_review_rate")
    assert (m.numerator, m.denominator, m.threshold, m.level) == (2, 50, None, "ok")


def test_nrr_first_review_decides_later_reviews_are_ignored(world):
    # order A: first review 5 stars, a later one 1 star -> not negative; order B: first 1 star, later 5 -> negative
    refs = _delivered(world, 10)
    _review(world, refs[0], 5, NOW - 12 * D)
    _review(world, refs[0], 1, NOW - 5 * D)
    _review(world, refs[1], 1, NOW - 12 * D)
    _review(world, refs[1], 5, NOW - 5 * D)
    m = _metric(world, "tiktok.negative_review_rate")
    assert (m.numerator, m.denominator) == (1, 10)


# -- 24-hour response rate -----------------------------------------------------------------------------------


def test_response_rate_85_percent_floor(world):
    # 100 chats: 15 answered after 24 h = 85 % within 24 h -> at the floor, fine; 16 of 101 -> 84.2 % -> breach
    for i in range(100):
        t = NOW - 5 * D
        world.message(t, t + (25 * H if i < 15 else 2 * H), needs_reply=True, sender="buyer")
    m = _metric(world, "tiktok.response_rate_24h")
    assert (m.numerator, m.denominator, m.value) == (15, 100, 0.15)
    assert m.level != "critical"
    t = NOW - 5 * D
    world.message(t, t + 25 * H, needs_reply=True, sender="buyer")
    m = _metric(world, "tiktok.response_rate_24h")
    assert (m.numerator, m.denominator, m.level) == (16, 101, "warn")  # breach_level warn: enforcement unconfirmed


def test_response_24_clock_hours_weekends_count(world):
    # Saturday 21 Nov 10:00 UTC: due Sunday 22 Nov 10:00 UTC (clock hours, the weekend counts).
    sat = datetime(2026, 11, 21, 10, tzinfo=UTC)
    world.message(sat, sat + 24 * H, needs_reply=True, sender="buyer")  # exactly 24 h: on time
    world.message(sat, sat + 24 * H + S, needs_reply=True, sender="buyer")  # one second over: late
    world.message(sat, None, needs_reply=True, sender="buyer")  # never answered, 24 h long gone: late
    m = _metric(world, "tiktok.response_rate_24h")
    assert (m.numerator, m.denominator) == (2, 3)


# -- On-time delivery: informational -------------------------------------------------------------------------


def test_otdr_by_deliver_by_in_the_last_30_days_no_floor(world):
    # 10 orders whose deliver-by fell in the last 30 days: 9 delivered by it, 1 after -> 90 % on time; no threshold
    for i in range(10):
        deliver_by = NOW - 10 * D
        ref = _order(world, NOW - 16 * D)
        world.records[-1] = world.records[-1].model_copy(update={"deliver_by": deliver_by})
        _dispatch(world, ref, NOW - 15 * D, delivered=deliver_by + (D if i == 0 else -D))
    m = _metric(world, "tiktok.on_time_delivery_rate")
    assert (m.numerator, m.denominator, m.value, m.threshold, m.level) == (9, 10, 0.9, None, "ok")


# -- US dispatch is the carrier handover, UK dispatch is Ready-To-Ship (through the connector's normalize) -----


def _secs(t: datetime | None) -> int:
    return int(t.timestamp()) if t else 0  # TikTok's epoch seconds, 0 = not yet


def _tiktok_order(oid: str, *, rts: datetime | None, collected: datetime | None, due: datetime) -> dict:
    secs = _secs
    return {"id": oid, "status": "AWAITING_COLLECTION" if collected is None else "IN_TRANSIT",
            "order_type": "NORMAL", "create_time": secs(due - 3 * D), "update_time": secs(due - D),
            "fulfillment_type": "FULFILLMENT_BY_SELLER", "rts_sla_time": secs(due), "rts_time": secs(rts),
            "collection_time": secs(collected), "delivery_time": 0, "cancel_time": 0,
            "tracking_number": "9400100000000000000001", "shipping_provider": "USPS",
            "packages": [{"id": "1"}], "recipient_address": {"region_code": "US"},
            "line_items": [{"id": f"{oid}1", "package_id": "1", "tracking_number": "9400100000000000000001",
                            "shipping_provider_name": "USPS"}]}


def test_us_late_dispatch_waits_for_the_carrier_handover_not_the_rts_mark(world):
    # US (K1): an order is dispatched when the carrier has it. Deadline 18 Nov; order A marked RTS on 17 Nov and
    # collected on 19 Nov -> late; order B marked RTS on 17 Nov and not collected by 23 Nov -> late (the deadline
    # passed without a handover); order C collected on 17 Nov -> on time. LDR = 2/3.
    due = datetime(2026, 11, 18, 12, tzinfo=UTC)
    a = _tiktok_order("9001", rts=due - D, collected=due + D, due=due)
    b = _tiktok_order("9002", rts=due - D, collected=None, due=due)
    c = _tiktok_order("9003", rts=due - D, collected=due - D, due=due)
    for payload in (a, b, c):
        world.records += normalize_order(world.account, payload, "orders/search", "orders[0]", dispatch="handover")
    m = _metric(world, "tiktok.late_dispatch_rate")
    assert (m.numerator, m.denominator) == (2, 3)


def test_uk_late_dispatch_is_the_rts_mark(world):
    # UK (T3): Ready-To-Ship within the deadline is on time, whenever the carrier collects. A: RTS before the
    # deadline, collected after it -> on time; B: RTS after the deadline -> late. LDR = 1/2.
    due = datetime(2026, 11, 18, 12, tzinfo=UTC)
    a = _tiktok_order("9101", rts=due - D, collected=due + D, due=due)
    b = _tiktok_order("9102", rts=due + H, collected=due + D, due=due)
    for payload in (a, b):
        world.records += normalize_order(world.account, payload, "orders/search", "orders[0]", dispatch="rts")
    m = _metric(world, "tiktok.late_dispatch_rate")
    assert (m.numerator, m.denominator) == (1, 2)


def test_vtr_counts_orders_not_packages(world):
    # 18 orders shipped in 3 tracked packages each, 2 orders shipped in one untracked package each:
    # policy 18/20 orders = 90 % valid -> below 95 %, a breach; per package it reads 54/56 = 96.4 %
    for _ in range(18):
        ref = _order(world, NOW - 5 * D)
        for _ in range(3):
            _dispatch(world, ref, NOW - 4 * D)
    for _ in range(2):
        _dispatch(world, _order(world, NOW - 5 * D), NOW - 4 * D, tracking=None)
    m = _metric(world, "tiktok.valid_tracking_rate")
    assert (m.numerator, m.denominator, m.level) == (18, 20, "critical")


def test_sfcr_an_unpaid_order_cancelled_by_the_system_is_not_a_seller_fault(world):
    # SFCR counts seller-side reasons, "whether the seller or the system cancelled": a paid order auto-cancelled
    # for a missed SLA counts; an order the buyer never paid, cancelled by the system, does not.
    due = datetime(2026, 11, 18, 12, tzinfo=UTC)
    paid = _tiktok_order("9201", rts=None, collected=None, due=due) | {
        "status": "CANCELLED", "paid_time": _secs(due - 3 * D), "cancellation_initiator": "SYSTEM",
        "cancel_time": _secs(due + 2 * D), "cancel_reason": "Package wasn't shipped on time"}
    unpaid = _tiktok_order("9202", rts=None, collected=None, due=due) | {
        "status": "CANCELLED", "paid_time": 0, "cancellation_initiator": "SYSTEM",
        "cancel_time": _secs(due - 2 * D), "cancel_reason": "Payment overdue"}
    for payload in (paid, unpaid):
        world.records += normalize_order(world.account, payload, "orders/search", "orders[0]", dispatch="handover")
    m = _metric(world, "tiktok.seller_fault_cancellation_rate")
    assert (m.numerator, m.denominator) == (1, 2)


def test_end_to_end_import_us_and_gb_shops_at_exactly_4_percent(tmp_path):
    # the checker's path: two imported shops (account lines with their region), 100 orders each, 4 dispatched
    # late = 4.0 %: the US shop meets "<= 4 %" (warn band), the GB shop breaches "< 4 %" (critical)
    lines = []
    for region in ("US", "GB"):
        acc = f"tt-{region.lower()}"
        lines.append({"kind": "account", "id": acc, "marketplace": "tiktok", "region": region})
        for i in range(100):
            at = "2026-11-15T13:00:00Z" if i < 4 else "2026-11-15T11:00:00Z"
            lines.append({"kind": "order", "account": acc, "external_id": f"{region}{i}",
                          "purchased_at": "2026-11-13T12:00:00Z", "ship_by": "2026-11-15T12:00:00Z",
                          "fulfilment": "seller", "status": "delivered", "order_type": "NORMAL"})
            lines.append({"kind": "shipment", "account": acc, "external_id": f"s{region}{i}",
                          "order_ref": f"{region}{i}", "shipped_at": at, "confirmed_at": at, "tracking_number": "T"})
    _, doc = cli_run(tmp_path, lines, "2026-11-23T12:00:00Z")
    ldr = {a["account"]: next(m for m in a["metrics"] if m["id"] == "tiktok.late_dispatch_rate")
           for a in doc["accounts"]}
    assert (ldr["tt-us"]["value"], ldr["tt-us"]["level"]) == (0.04, "warn")
    assert (ldr["tt-gb"]["value"], ldr["tt-gb"]["level"]) == (0.04, "critical")


def test_ldr_made_to_order_uses_the_sellers_handling_time_in_business_days(world):
    # K1: made-to-order / back-order: the seller's handling time. Ordered Wednesday 18 Nov 10:00 PST with 5
    # business days: Thu 19, Fri 20, Mon 23, Tue 24, Wed 25 -> due Wednesday 25 Nov 23:59:59 PST (Thu 26 07:59:59
    # UTC). Dispatched exactly then: on time; 2 seconds later: late.
    placed = datetime(2026, 11, 18, 18, tzinfo=UTC)
    due = datetime(2026, 11, 26, 7, 59, 59, tzinfo=UTC)
    ok = _order(world, placed, order_type="MADE_TO_ORDER")
    world.records[-1] = world.records[-1].model_copy(update={"handling_days": 5})
    bad = _order(world, placed, order_type="MADE_TO_ORDER")
    world.records[-1] = world.records[-1].model_copy(update={"handling_days": 5})
    _dispatch(world, ok, due)
    _dispatch(world, bad, due + 2 * S)
    m = _metric(world, "tiktok.late_dispatch_rate", as_of=datetime(2026, 11, 27, 12, tzinfo=UTC))
    assert (m.numerator, m.denominator, m.unknown_count) == (1, 2, 0)
