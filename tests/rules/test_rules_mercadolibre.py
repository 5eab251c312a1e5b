"""Mercado Libre worked examples from the policy text (../shared/reference/policies/mercadolibre.md): 60 days
when the seller has at least 40 sales in them, else 365 days; no colour below 10 sales; claims and cancellations
over all sales, delayed handling over sales shipped in the window; per-site limits; the thermometer colour."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.schema import Order, ReportedMetric, Shipment

# only this pack: packs other engineers are editing cannot break these examples
PACK = load_pack(builtin_pack_dir() / "mercadolibre.toml")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
_ids = itertools.count()


def sale(world, at: datetime, *, site: str = "MLB", ship_by: datetime | None = None,
         status: str = "delivered") -> str:
    ref = f"ml{next(_ids)}"
    world.records.append(Order(account=world.account, external_id=ref, purchased_at=at, ship_by=ship_by,
                               fulfilment="seller", status=status, site=site))
    return ref


def sales(world, n: int, at: datetime, **kw) -> list[str]:
    return [sale(world, at, **kw) for _ in range(n)]


def shipped(world, ref: str, at: datetime) -> None:
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref, shipped_at=at))


def metric(world, metric_id: str, **kw):
    return world.metric(metric_id, **kw, pack=PACK)


# -- windows and volume --------------------------------------------------------------------------------


def test_claims_over_60_days_with_40_sales_exactly_2_percent_keeps_green(world):
    refs = sales(world, 50, NOW - 10 * D)
    world.claim(refs[0], kind="case")
    m = metric(world, "mercadolibre.claims_rate")
    assert (m.value, m.numerator, m.denominator, m.window_days) == (0.02, 1, 50, 60)
    assert m.level == "warn" and m.colour == "green"  # "up to 2%" keeps green in Brazil
    world.claim(refs[1], kind="case")
    m = metric(world, "mercadolibre.claims_rate")
    assert (m.value, m.level, m.colour) == (0.04, "critical", "yellow")  # yellow up to 4.5%


def test_exactly_40_sales_in_60_days_use_60_days_39_fall_back_to_365(world):
    sales(world, 40, NOW - 59 * D)
    sales(world, 20, NOW - 200 * D)  # outside 60 days, inside 365
    assert metric(world, "mercadolibre.cancellations_rate").window_days == 60
    other = world.__class__(world.store, account="small")
    sales(other, 39, NOW - 59 * D)
    sales(other, 20, NOW - 200 * D)
    sales(other, 5, NOW - 366 * D)  # beyond 365 days
    m = other.metric("mercadolibre.cancellations_rate", pack=PACK)
    assert (m.window_days, m.denominator) == (365, 59)
    assert m.window_start == NOW - 365 * D


def test_below_10_sales_there_is_no_colour(world):
    refs = sales(world, 9, NOW - 100 * D)
    world.cancel(refs[0])
    m = metric(world, "mercadolibre.cancellations_rate")
    assert m.level == "unknown" and "minimum volume" in m.reason
    assert m.colour == "grey"
    sale(world, NOW - D)  # the 10th sale: judged
    m = metric(world, "mercadolibre.cancellations_rate")
    assert (m.denominator, m.level, m.colour) == (10, "critical", "red")  # 10% cancelled: above 4%


# -- numerators and denominators -----------------------------------------------------------------------


def test_cancellations_by_the_seller_only_over_all_sales(world):
    refs = sales(world, 200, NOW - 20 * D)
    world.cancel(refs[0])  # out of stock
    world.cancel(refs[1], by="marketplace")
    world.cancel(refs[2], by="buyer", buyer_requested=True)  # the buyer's: not against the seller
    m = metric(world, "mercadolibre.cancellations_rate")
    assert (m.numerator, m.denominator, m.value) == (2, 200, 0.01)
    assert m.level == "ok" and m.colour == "green"


def test_delayed_handling_counts_sales_shipped_in_the_window(world):
    due = NOW - 5 * D
    refs = sales(world, 50, NOW - 8 * D, ship_by=due)
    for ref in refs[:45]:
        shipped(world, ref, due - H)
    for ref in refs[45:50]:
        shipped(world, ref, due + H)  # handed to the carrier after the handling deadline
    sales(world, 7, NOW - D, ship_by=NOW + 2 * D, status="unshipped")  # not yet due, not shipped: outside
    late_unshipped = sale(world, NOW - 8 * D, ship_by=due, status="unshipped")  # overdue: counts once shipped
    no_deadline = sale(world, NOW - 8 * D)
    shipped(world, no_deadline, NOW - 6 * D)  # no handling deadline known: not judged, never on time
    m = metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.numerator, m.denominator, m.value) == (5, 50, 0.1)
    assert m.level == "warn" and m.colour == "green"  # "up to 10%" keeps green in Brazil
    shipped(world, late_unshipped, NOW - H)
    m = metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.numerator, m.denominator) == (6, 51)
    assert m.level == "critical" and m.colour == "yellow"


def test_delayed_handling_window_edges_on_the_shipping_date(world):
    due = NOW - 80 * D
    refs = sales(world, 45, NOW - 90 * D, ship_by=due)
    shipped(world, refs[0], NOW - 60 * D)  # first instant of the 60-day window: late and inside
    shipped(world, refs[1], NOW - 60 * D - timedelta(seconds=1))  # just before: outside
    for ref in refs[2:]:
        shipped(world, ref, NOW - 30 * D)  # late too, all inside
    sales(world, 40, NOW - 10 * D)  # 40 recent sales (not shipped yet) keep the seller on the 60-day window
    m = metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.numerator, m.denominator, m.window_days) == (44, 44, 60)
    assert m.colour == "red"


# -- per-site limits and the thermometer ---------------------------------------------------------------


def test_mexico_has_stricter_cancellation_limits_than_brazil(world):
    refs = sales(world, 250, NOW - 10 * D, site="MLM")
    for ref in refs[:3]:
        world.cancel(ref)  # 1.2%
    br = metric(world, "mercadolibre.cancellations_rate")
    mx = world.metric("mercadolibre.cancellations_rate", pack=PACK.for_site("MLM"))  # the pack's [sites.MLM] row
    assert (br.threshold, mx.threshold) == (0.015, 0.01)
    assert br.level == "warn"
    assert mx.level == "critical" and mx.colour == "yellow"  # MLM: yellow up to 2.5%


def test_reported_level_colour_and_the_computed_thermometer(world):
    refs = sales(world, 100, NOW - 10 * D)
    world.cancel(refs[0])
    world.records.append(ReportedMetric(account=world.account, external_id="lvl", metric_id="mercadolibre.level",
                                        value=3, status="3_yellow", scope="MLB", as_of=NOW - H))
    status = {m.id: m for m in world.status("mercadolibre", pack=PACK).metrics}
    level = status["mercadolibre.level"]
    assert level.colour == "yellow"
    assert status["mercadolibre.cancellations_rate"].colour == "green"
    # the delayed-handling rate has no shipped sales: no thermometer of all three can be computed
    assert "computed thermometer" not in (level.reason or "")
    payload = level.model_dump(mode="json")
    assert payload["colour"] == "yellow"


def test_the_configured_region_picks_the_colour_table(world, store):
    from sellerguard.rules.engine import AccountRef, Engine

    refs = sales(world, 500, NOW - 10 * D, site=None)  # imported sales without a site
    for ref in refs[:19]:
        world.cancel(ref)  # 3.8%
    world.flush()

    def colour(region):
        acc = Engine(store, {"mercadolibre": PACK}).evaluate(
            [AccountRef(world.account, "mercadolibre", region=region)], NOW).accounts[0]
        return next(m.colour for m in acc.metrics if m.id == "mercadolibre.cancellations_rate")

    assert colour(None) == "orange"  # Brazil's table: orange up to 4%
    assert colour("MLC") == "yellow"  # Chile: green up to 2.5%, yellow up to 7%
