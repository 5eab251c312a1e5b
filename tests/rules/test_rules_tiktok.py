"""TikTok Shop worked examples from the policy text (../shared/reference/policies/tiktok-shop.md): orders (not
units) created in the last 30 days; SFCR divides by ALL orders (buyer cancellations stay in the denominator); the
dispatch deadline comes from the order type and region when TikTok sent none (K1: regular 2 business days,
11:59 PM Pacific; UK: 2 business days UK time), and an order with no derivable deadline is unknown, never on time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.rules.sla import tiktok_ship_by
from sellerguard.schema import Order, OrderLine

# only this pack: packs other engineers are editing cannot break these examples
PACK = load_pack(builtin_pack_dir() / "tiktok.toml")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
_ids = itertools.count()
PT = ZoneInfo("America/Los_Angeles")
LON = ZoneInfo("Europe/London")


def order(world, placed: datetime, *, order_type: str | None = "NORMAL", site: str | None = None,
          country: str | None = "US", handling: int | None = None, ship_by: datetime | None = None,
          fulfilment: str = "seller", status: str = "shipped", lines: int = 1) -> str:
    ref = f"t{next(_ids)}"
    world.records.append(Order(
        account=world.account, external_id=ref, purchased_at=placed, ship_by=ship_by, fulfilment=fulfilment,
        status=status, order_type=order_type, site=site, buyer_country=country, handling_days=handling,
        item_count=lines, lines=tuple(OrderLine(quantity=1) for _ in range(lines))))
    return ref


def dispatched(world, ref: str, at: datetime) -> None:
    world.shipment(ref, shipped_at=at, confirmed_at=at, tracking_number="TT1")


# -- seller-fault cancellation rate --------------------------------------------------------------------


def test_sfcr_keeps_buyer_cancellations_in_the_denominator(world):
    refs = [order(world, NOW - 5 * D) for _ in range(40)]
    world.cancel(refs[0])  # by the seller: out of stock
    world.cancel(refs[1], by="buyer", buyer_requested=True)  # buyer's own: not a defect, still an order
    m = world.metric("tiktok.seller_fault_cancellation_rate", pack=PACK)
    assert (m.numerator, m.denominator, m.value) == (1, 40, 0.025)
    assert m.level == "critical"  # "under 2.5%": exactly 2.5% fails


def test_sfcr_counts_system_auto_cancels_and_orders_not_units(world):
    refs = [order(world, NOW - 5 * D) for _ in range(44)] + [order(world, NOW - 5 * D, lines=3)]
    world.cancel(refs[-1], by="marketplace")  # auto-cancelled for missing the SLA: seller fault; 3 lines = 1 order
    m = world.metric("tiktok.seller_fault_cancellation_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (1, 45)
    assert m.level == "warn"  # 2.2%: under 2.5%, over the 2% warning


def test_sfcr_window_is_30_days_of_orders_placed(world):
    first = order(world, NOW - 30 * D)
    before = order(world, NOW - 30 * D - timedelta(seconds=1))
    for ref in (first, before):
        world.cancel(ref)
    for _ in range(99):
        order(world, NOW - D)
    m = world.metric("tiktok.seller_fault_cancellation_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (1, 100)
    assert (m.window_start, m.window_end) == (NOW - 30 * D, NOW)


# -- late dispatch rate ---------------------------------------------------------------------------------


def test_ldr_exactly_4_percent_breaches_with_tiktoks_own_deadline(world):
    due = NOW - 3 * D
    for i in range(100):
        ref = order(world, NOW - 5 * D, ship_by=due)
        dispatched(world, ref, due + H if i < 4 else due - H)
    order(world, NOW - 5 * D, ship_by=due, fulfilment="marketplace")  # Fulfilled by TikTok: exempt
    m = world.metric("tiktok.late_dispatch_rate", pack=PACK)
    assert (m.numerator, m.denominator, m.value) == (4, 100, 0.04)
    assert m.level == "critical"  # "under 4%"


def test_regular_us_order_is_due_two_business_days_later_at_1159_pm_pacific():
    monday = datetime(2026, 11, 16, 10, tzinfo=PT)
    assert tiktok_ship_by(monday, "NORMAL", "US", None) == datetime(2026, 11, 18, 23, 59, 59, tzinfo=PT)
    friday = datetime(2026, 11, 20, 22, tzinfo=PT)  # Saturday in UTC, Friday in Pacific time
    assert tiktok_ship_by(friday, "NORMAL", "US", None) == datetime(2026, 11, 24, 23, 59, 59, tzinfo=PT)
    uk_friday = datetime(2026, 11, 20, 12, tzinfo=LON)
    assert tiktok_ship_by(uk_friday, "NORMAL", "GB", None) == datetime(2026, 11, 24, 23, 59, 59, tzinfo=LON)
    made = datetime(2026, 11, 16, 10, tzinfo=PT)
    assert tiktok_ship_by(made, "MADE_TO_ORDER", "US", 5) == datetime(2026, 11, 23, 23, 59, 59, tzinfo=PT)
    assert tiktok_ship_by(made, "MADE_TO_ORDER", "US", None) is None  # no handling time: unknown
    assert tiktok_ship_by(made, "PRE_ORDER", "US", None) is None  # pre-order close not known
    assert tiktok_ship_by(made, None, "US", None) is None
    assert tiktok_ship_by(made, "NORMAL", None, None) is None


def test_ldr_derives_the_deadline_when_tiktok_sent_none(world):
    placed = datetime(2026, 11, 16, 10, tzinfo=PT)  # Monday: due Wednesday 23:59:59 Pacific
    on_time = order(world, placed)
    dispatched(world, on_time, datetime(2026, 11, 18, 23, 59, tzinfo=PT))
    late = order(world, placed)
    dispatched(world, late, datetime(2026, 11, 19, 0, 30, tzinfo=PT))  # Thursday 00:30 Pacific
    never = order(world, placed, status="unshipped")  # deadline passed without a dispatch: late
    uk = order(world, datetime(2026, 11, 20, 12, tzinfo=LON), country="GB")  # due Tuesday 24 Nov: not yet
    m = world.metric("tiktok.late_dispatch_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (2, 4)
    assert m.unknown_count == 0
    assert never and uk


def test_ldr_orders_without_a_derivable_deadline_are_unknown_and_named(world):
    placed = NOW - 5 * D
    for _ in range(9):
        dispatched(world, order(world, placed), placed + 3 * H)
    pre = order(world, placed, order_type="PRE_ORDER")
    untyped = order(world, placed, order_type=None)
    nowhere = order(world, placed, country=None)
    m = world.metric("tiktok.late_dispatch_rate", pack=PACK)
    assert (m.numerator, m.denominator) == (0, 9)  # never counted as on time
    assert m.unknown_count == 3 and set(m.unknown_refs) == {pre, untyped, nowhere}
    assert "unknown" in m.reason


def test_ldr_site_wins_over_buyer_country_for_the_clock(world):
    # placed Friday 20 Nov 23:30 UTC = Friday 15:30 Pacific but Friday 23:30 London: both due Tuesday, in their
    # own clocks (Tuesday 23:59:59 London is 7 h before Tuesday 23:59:59 Pacific)
    placed = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    ref = order(world, placed, site="UK", country="US")
    dispatched(world, ref, datetime(2026, 11, 25, 1, tzinfo=UTC))  # after London's deadline, before Pacific's
    m = world.metric("tiktok.late_dispatch_rate", as_of=datetime(2026, 11, 26, tzinfo=UTC), pack=PACK)
    assert (m.numerator, m.denominator) == (1, 1)
