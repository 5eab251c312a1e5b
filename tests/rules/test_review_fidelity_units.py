"""Units-weighted metrics (review of session 4, from ../shared/reference/policies/amazon.md): Amazon's OTDR is
"tracked MFN units delivered on or before the deliver-by date" (US, units).

- An order's units come from its lines when no ``item_count`` is given (every marketplace: the schema, so the
  import and any connector that leaves it out), never a silent 1.
- A late package makes its own units late, not the whole order's: engine change requested from the lead
  (/work/sg-team/requests.md, "per-package units"), strict xfail until it lands.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from conftest import NOW, D, H
from pg import store_on

from sellerguard.rules.packs import builtin_pack_dir, load_pack
from sellerguard.schema import Order, Shipment
from sellerguard.store import Store

PACK = load_pack(builtin_pack_dir() / "amazon.toml")
OTDR = "amazon.on_time_delivery_rate"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from store_on("sqlite", tmp_path, "ru")


def _order(world, due: datetime, **facts) -> str:
    return world.order(due - 5 * D, deliver_by=due, **facts)


def _package(world, ref: str, due: datetime, *, late: bool, units: int | None = None) -> None:
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}-{len(world.records)}", order_ref=ref,
                                  shipped_at=due - 4 * D, delivered_at=due + (H if late else -H),
                                  tracking_number=f"1Z{ref}{len(world.records)}", item_count=units))


def test_an_orders_units_come_from_its_lines_when_not_given(world):
    """O0: one line of quantity 5, delivered late; 9 orders of one line of quantity 1 on time, no item_count
    anywhere: 9 of 14 units on time = 64.3 % < 90 %: critical (a silent item_count of 1 gave 9/10, ok)."""
    due = NOW - 10 * D
    late = _order(world, due, lines=({"quantity": 5},))
    _package(world, late, due, late=True)
    for _ in range(9):
        _package(world, _order(world, due, lines=({"quantity": 1},)), due, late=False)
    m = world.metric(OTDR, pack=PACK, horizon=0)
    assert (m.unit, m.numerator, m.denominator, m.level) == ("units", 9, 14, "critical")


def test_the_lines_give_item_count_to_every_marketplaces_orders():
    order = Order(account="a", external_id="1", purchased_at=NOW, fulfilment="seller", status="shipped",
                  lines=({"quantity": 2}, {"quantity": 3}))  # type: ignore[arg-type]
    assert order.item_count == 5
    assert order.model_copy(update={}).item_count == 5


@pytest.mark.xfail(strict=True, reason="per-package late units need an engine change (requests.md, lead)")
def test_a_late_package_makes_only_its_own_units_late(world):
    """10 orders of 2 units; O0 ships as two 1-unit packages, one on time and one late: 19 of 20 units on time =
    95 % (ok). Weighing the whole order late gives 18/20 = 90 % (warn)."""
    due = NOW - 10 * D
    o0 = _order(world, due, item_count=2)
    _package(world, o0, due, late=False, units=1)
    _package(world, o0, due, late=True, units=1)
    for _ in range(9):
        _package(world, _order(world, due, item_count=2), due, late=False, units=2)
    m = world.metric(OTDR, pack=PACK, horizon=0)
    assert (m.numerator, m.denominator, m.level) == (19, 20, "ok")
