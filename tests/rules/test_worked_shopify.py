"""Shopify worked examples written from the policy page alone (/work/shared/reference/policies/shopify.md), by the
fidelity audit (audit-b).

Policy facts used: Shopify is the seller's own store, "no seller-performance policy, no metric threshold, no strike
and no delisting"; the seller sets their own targets (ship on time by the seller's promised ship-by date, merchant
cancellations / orders, customer messages answered within the seller's chosen SLA); "All thresholds, windows and
consequences are seller-defined; the pack should ship with them empty or disabled and clearly labelled as internal
targets, never as Shopify rules". Accounts go through the public path: the config (with the seller's own
``[accounts.policy]``), then the engine.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from worked_helpers import builtin_pack

from sellerguard.config import AccountConfig, Config, PolicyOverride
from sellerguard.errors import ConfigError
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.schema import Claim, Order, Shipment

PACK = builtin_pack("shopify")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
S = timedelta(seconds=1)
_ids = itertools.count()


def _status(world, policy: dict[str, dict] | None = None, as_of: datetime = NOW):
    world.flush()
    own = {k: PolicyOverride.model_validate(v) for k, v in (policy or {}).items()}
    cfg = Config(accounts=[AccountConfig(id=world.account, marketplace="shopify", policy=own)])
    refs = accounts_to_check(cfg, world.store, accounts=(world.account,))
    return Engine(world.store, {"shopify": PACK}).evaluate(refs, as_of, 14).accounts[0]


def _metric(world, metric_id: str, policy: dict[str, dict] | None = None):
    return next(m for m in _status(world, policy).metrics if m.id == metric_id)


def _orders(world, n: int, *, late: int = 0, ship_by: datetime = NOW - 5 * D,
            deliver_by: datetime | None = None, delivered_late: int = 0) -> list[str]:
    refs = []
    for i in range(n):
        ref = f"sh{next(_ids)}"
        world.records.append(Order(account=world.account, external_id=ref, purchased_at=ship_by - 2 * D,
                                   ship_by=ship_by, deliver_by=deliver_by, fulfilment="seller", status="shipped"))
        at = ship_by + (H if i < late else -H)
        delivered = None if deliver_by is None else deliver_by + (H if i < delivered_late else -H)
        world.records.append(Shipment(account=world.account, external_id=f"s{ref}", order_ref=ref, shipped_at=at,
                                      confirmed_at=at, tracking_number="1Z", delivered_at=delivered))
        refs.append(ref)
    return refs


def test_no_targets_no_alerts_however_bad_the_figures(world):
    # 10 orders: 6 shipped late (60 %), 4 cancelled by the merchant (40 %), 3 lost chargebacks, 5 messages never
    # answered. Shopify has no thresholds: every rate is computed, none is judged, the store is ok.
    refs = _orders(world, 10, late=6)
    for ref in refs[:4]:
        world.cancel(ref, by="seller", at=NOW - 6 * D)
    for ref in refs[4:7]:
        world.records.append(Claim(account=world.account, external_id=f"cb{next(_ids)}", claim_kind="chargeback",
                                   order_ref=ref, opened_at=NOW - 4 * D, closed_at=NOW - 2 * D,
                                   seller_at_fault=True))
    for _ in range(5):
        world.message(NOW - 5 * D, None, needs_reply=True, sender="buyer")
    acc = _status(world)
    assert acc.level == "ok"
    by = {m.id: m for m in acc.metrics}
    assert by["shopify.cancellation_rate"].value == pytest.approx(0.4)
    assert by["shopify.first_response_24h"].value == 1.0
    for m in acc.metrics:
        assert m.threshold is None and m.warn is None and m.level in ("ok", "unknown"), m.id
        # labelled as the seller's own target, never as a Shopify rule
        assert m.confirmed is False and "your own target" in (m.consequence or ""), m.id


def test_the_sellers_own_ship_on_time_target(world):
    # seller's target: under 4 % late. 50 orders, 2 late = 4.0 % -> misses "< 4 %"; 1 late of 50 = 2 % -> meets it
    _orders(world, 48)
    _orders(world, 2, late=2)
    m = _metric(world, "shopify.ship_on_time", {"shopify.ship_on_time": {"threshold": 0.04, "warn": 0.02}})
    assert (m.numerator, m.denominator, m.threshold, m.level) == (2, 50, 0.04, "critical")


def test_the_sellers_target_met(world):
    _orders(world, 49)
    _orders(world, 1, late=1)
    m = _metric(world, "shopify.ship_on_time", {"shopify.ship_on_time": {"threshold": 0.04, "warn": 0.03}})
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 50, 0.02, "ok")


def test_merchant_cancellations_over_all_orders(world):
    # 40 orders; 1 cancelled by the merchant (out of stock), 2 by the customer: 1/40 = 2.5 %, seller's target 3 %
    refs = _orders(world, 40)
    world.cancel(refs[0], by="seller", at=NOW - 6 * D)
    world.cancel(refs[1], by="buyer", buyer_requested=True, at=NOW - 6 * D)
    world.cancel(refs[2], by="buyer", buyer_requested=True, at=NOW - 6 * D)
    m = _metric(world, "shopify.cancellation_rate", {"shopify.cancellation_rate": {"threshold": 0.03}})
    assert (m.numerator, m.denominator, m.value, m.level) == (1, 40, 0.025, "ok")


def test_first_response_within_the_sellers_24_hours(world):
    # the seller's SLA: 24 h. Answered after exactly 24 h: on time; 24 h 1 s: late; unanswered after 30 h: late.
    # 3 messages, 2 late = 66.7 % late; target "< 10 %" -> critical
    t = NOW - 5 * D
    world.message(t, t + 24 * H, needs_reply=True, sender="buyer")
    world.message(t, t + 24 * H + S, needs_reply=True, sender="buyer")
    world.message(NOW - 30 * H, None, needs_reply=True, sender="buyer")
    m = _metric(world, "shopify.first_response_24h", {"shopify.first_response_24h": {"threshold": 0.10}})
    assert (m.numerator, m.denominator, m.level) == (2, 3, "critical")


def test_delivered_on_time_target_is_a_floor(world):
    # 10 orders promised for delivery 10 days ago, 1 delivered after the promise: 90 % on time; target ">= 90 %"
    _orders(world, 10, ship_by=NOW - 12 * D, deliver_by=NOW - 10 * D, delivered_late=1)
    m = _metric(world, "shopify.delivered_on_time", {"shopify.delivered_on_time": {"threshold": 0.9}})
    assert (m.numerator, m.denominator, m.value) == (9, 10, 0.9)
    assert m.level != "critical"  # at the floor: met (a warning may come from the forecast of the next days)


def test_a_target_switched_on_without_a_number_is_refused(world):
    _orders(world, 5)
    with pytest.raises(ConfigError, match="threshold"):
        _status(world, {"shopify.cancellation_rate": {"enabled": True}})
