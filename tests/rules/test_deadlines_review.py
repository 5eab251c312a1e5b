"""The deadline queue's auto-cancel items (rules/deadlines.py AUTO_CANCEL) and the tracking-upload query's bounds.

Walmart: an order not shipped with valid tracking by ESD + 4 calendar days is cancelled by Walmart and counts in
its Cancellation Rate (../shared/reference/policies/walmart.md, walmart_cancellation_rate notes, S5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import NOW, D, H

AS_OF = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ESD = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _clean_walmart_orders(world, n: int) -> None:
    for ref in world.orders(n, AS_OF - 10 * D, ship_by=AS_OF - 9 * D):
        world.shipment(ref, shipped_at=AS_OF - 9 * D - H, confirmed_at=AS_OF - 9 * D - H, tracking_number=f"T{ref}")


def test_walmart_unshipped_order_past_esd_is_due_at_esd_plus_4_days(world):
    # the reviewer's case: a seller-fulfilled order whose ESD (ship_by) passed, still unshipped
    _clean_walmart_orders(world, 49)
    late = world.order(datetime(2026, 11, 21, 15, 0, tzinfo=UTC), ship_by=ESD, status="unshipped")
    acc = world.status("walmart", as_of=AS_OF)
    assert [(d.kind, d.ref, d.due, d.metric) for d in acc.deadlines] == [
        ("ship", late, datetime(2026, 11, 28, 22, 0, tzinfo=UTC), "walmart.cancellation_rate")]
    cancel = next(m for m in acc.metrics if m.id == "walmart.cancellation_rate")
    assert (cancel.numerator, cancel.denominator) == (0, 50)
    assert acc.deadlines[0].value_if_missed == pytest.approx(1 / 50)  # one more cancelled order of the same 50


def test_walmart_auto_cancel_queue_takes_only_orders_walmart_would_cancel(world):
    _clean_walmart_orders(world, 20)
    untracked = world.order(AS_OF - 3 * D, ship_by=AS_OF - D, status="unshipped")
    world.shipment(untracked, shipped_at=AS_OF - D, confirmed_at=AS_OF - D, tracking_number=None)
    tracked = world.order(AS_OF - 3 * D, ship_by=AS_OF - D, status="unshipped")
    world.shipment(tracked, shipped_at=AS_OF - D, confirmed_at=AS_OF - D, tracking_number="1Z9")
    world.order(AS_OF - 3 * D, ship_by=AS_OF - D, status="unshipped", fulfilment="marketplace")  # WFS
    gone = world.order(AS_OF - 3 * D, ship_by=AS_OF - D, status="cancelled")
    world.cancel(gone, by="buyer", buyer_requested=True)
    soon = world.order(AS_OF - D, ship_by=AS_OF + D, status="unshipped")  # ESD ahead: due ESD + 4 days
    world.order(AS_OF - D, ship_by=AS_OF + 11 * D, status="unshipped")  # ESD + 4 beyond the 14-day horizon
    world.order(AS_OF - 20 * D, ship_by=AS_OF - 12 * D, status="unshipped")  # ESD + 4 over 7 days ago
    acc = world.status("walmart", as_of=AS_OF)
    assert [(d.ref, d.due) for d in acc.deadlines] == [(untracked, AS_OF + 3 * D), (soon, AS_OF + 5 * D)]
    assert {d.metric for d in acc.deadlines} == {"walmart.cancellation_rate"}


def test_walmart_auto_cancel_past_due_is_not_counted_yet(world):
    # past ESD + 4 and not yet cancelled in the records: Walmart's cancellation is still to come
    _clean_walmart_orders(world, 9)
    overdue = world.order(AS_OF - 8 * D, ship_by=AS_OF - 5 * D, status="unshipped")
    acc = world.status("walmart", as_of=AS_OF)
    assert [(d.ref, d.due) for d in acc.deadlines] == [(overdue, AS_OF - D)]
    assert acc.deadlines[0].value_if_missed == pytest.approx(1 / 10)


def test_no_auto_cancel_items_where_no_page_states_the_clock(world):
    # Amazon cancels unconfirmed orders too, but its pages disagree on when: only its ship-by queue
    world.order(NOW - D, ship_by=NOW - 2 * H, status="unshipped")
    acc = world.status("amazon")
    assert {d.metric for d in acc.deadlines} == {"amazon.late_shipment_rate_10d"}
    assert [d.due for d in acc.deadlines] == [NOW - 2 * H]


def test_tracking_deadlines_only_from_packages_still_without_tracking(world):
    # the tracking query reads untracked packages only; due = deliver-by, or ship date + 3 days without one
    ref = world.order(NOW - 3 * D, ship_by=NOW - 2 * D, deliver_by=NOW + 2 * D)
    world.shipment(ref, shipped_at=NOW - 2 * D, confirmed_at=NOW - 2 * D, tracking_number=None)
    bare = world.order(NOW - 6 * D)
    world.shipment(bare, shipped_at=NOW - 5 * D, tracking_number=None)
    old = world.order(NOW - 40 * D)
    world.shipment(old, shipped_at=NOW - 31 * D, tracking_number=None)  # outside the 30-day window
    for i in range(8):
        other = world.order(NOW - 3 * D)
        world.shipment(other, shipped_at=NOW - 2 * D, tracking_number=f"1Z{i}", tracking_validated=True)
    tracking = [d for d in world.status("amazon").deadlines if d.kind == "tracking"]
    assert [(d.ref, d.due) for d in tracking] == [(bare, NOW - 2 * D), (ref, NOW + 2 * D)]


def _untracked_index(store) -> str | None:
    """The definition of the partial index of packages without tracking, or None."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_shipment_account_untracked'"
        else:
            sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_shipment_account_untracked' "
                   "AND schemaname = current_schema()")
        return conn.execute(text(sql)).scalar()


def test_migration_0008_adds_the_untracked_shipment_index_in_place(world, store):
    from alembic import command

    from sellerguard.store import Store
    from sellerguard.store.db import _alembic_config

    ref = world.order(NOW - 3 * D, ship_by=NOW - 2 * D, deliver_by=NOW + 2 * D)
    world.shipment(ref, shipped_at=NOW - 2 * D, confirmed_at=NOW - 2 * D, tracking_number=None)
    world.flush()
    assert "tracking_number IS NULL" in (_untracked_index(store) or "").replace("(", "").replace(")", "")
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0007")
    assert _untracked_index(store) is None and store.schema_version() == "0007"
    store.migrate()  # the upgrade of a store with data in it
    assert store.schema_version() == Store.head_version() and _untracked_index(store) is not None
    tracking = [d for d in world.status("amazon").deadlines if d.kind == "tracking"]
    assert [(d.ref, d.due) for d in tracking] == [(ref, NOW + 2 * D)]


def test_tracking_query_reads_the_untracked_index(store):
    from sellerguard.rules.deadlines import untracked_shipments

    if store.engine.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL's depends on its statistics")
    compiled = untracked_shipments().compile(store.engine)
    params = {"account": "acct", "start": NOW - 30 * D, "end": NOW}
    with store.engine.connect() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                    tuple(str(params.get(k, "seller")) for k in compiled.positiontup or ())).all()
    assert "USING INDEX ix_shipment_account_untracked" in " ".join(str(r) for r in plan)
