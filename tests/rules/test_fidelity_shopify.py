"""Shopify worked examples (issue 15 kind 9): no Shopify rule exists, so every rate is computed and shown as
informational until the seller sets a target; the target is the seller's number, never a default."""

from datetime import timedelta

import pytest
from conftest import NOW, D, H

from sellerguard.config import PolicyOverride
from sellerguard.errors import ConfigError


def _shipped(world, n: int, late: int, ship_by=NOW - 5 * D) -> None:
    for i in range(n):
        ref = world.order(ship_by - 2 * D, ship_by=ship_by)
        world.shipment(ref, shipped_at=ship_by, confirmed_at=ship_by + (H if i < late else -H))


def test_no_target_computes_the_rate_and_never_alerts(world):
    _shipped(world, 10, 5)
    acc = world.status("shopify")
    m = next(m for m in acc.metrics if m.id == "shopify.ship_on_time")
    assert (m.value, m.threshold, m.level) == (0.5, None, "ok")
    assert "no target set" in m.reason
    assert acc.level == "ok"  # 50% late, but no target of the seller's: nothing to alert


def test_the_sellers_target_is_the_threshold(world):
    _shipped(world, 20, 1)  # 5% late
    mine = {"shopify.ship_on_time": PolicyOverride(threshold=0.05)}
    m = world.metric("shopify.ship_on_time", policy=mine)
    assert (m.threshold, m.level) == (0.05, "critical")  # "<" 5%: exactly 5% misses the seller's target
    looser = {"shopify.ship_on_time": PolicyOverride(threshold=0.06, warn=0.04)}
    m = world.metric("shopify.ship_on_time", policy=looser)
    assert (m.level, m.warn) == ("warn", 0.04)


def test_enabling_without_a_number_is_an_error_not_a_default(world):
    with pytest.raises(ConfigError) as err:
        world.status("shopify", policy={"shopify.ship_on_time": PolicyOverride(enabled=True)})
    assert "shopify.ship_on_time" in str(err.value) and "threshold" in str(err.value)


def test_switched_off_is_gone(world):
    acc = world.status("shopify", policy={"shopify.ship_on_time": PolicyOverride(enabled=False)})
    assert "shopify.ship_on_time" not in {m.id for m in acc.metrics}


def test_no_data_is_unknown_but_the_account_is_ok(world):
    world.order(NOW - 200 * D)  # the store knows the shop, but nothing falls in any window
    acc = world.status("shopify")
    assert acc.level == "ok" and all(m.level == "unknown" for m in acc.metrics)


def test_customer_cancellations_stay_in_the_denominator(world):
    refs = world.orders(10, NOW - 5 * D)
    world.cancel(refs[0], by="seller")
    world.cancel(refs[1], by="buyer", buyer_requested=True)
    m = world.metric("shopify.cancellation_rate", policy={"shopify.cancellation_rate": PolicyOverride(threshold=0.2)})
    assert (m.numerator, m.denominator, m.level) == (1, 10, "ok")


def test_thirty_day_window_first_and_last_instant(world):
    world.order(NOW - 30 * D)  # the first instant: in
    world.order(NOW - 30 * D - timedelta(seconds=1))  # out
    m = world.metric("shopify.cancellation_rate")
    assert (m.denominator, m.window_start, m.window_end) == (1, NOW - 30 * D, NOW)


def test_an_order_without_a_ship_by_is_unknown_not_on_time(world):
    _shipped(world, 3, 0)
    world.order(NOW - 5 * D, ref="no-promise")  # neither fulfillBy nor a handling time
    m = world.metric("shopify.ship_on_time", policy={"shopify.ship_on_time": PolicyOverride(threshold=0.05)})
    assert (m.numerator, m.denominator, m.level) == (0, 3, "ok")
    assert (m.unknown_count, m.unknown_refs) == (1, ["no-promise"]) and "without a ship-by" in m.reason
