"""Review probes for issue 20: findings turned into regression tests."""

from __future__ import annotations

from alert_builders import at
from sqlmodel import Session, select

from sellerguard.alerts import outbox
from sellerguard.alerts.tables import OutboxRow


def test_fold_takes_the_continuation_bodies_of_a_superseded_message(store):
    """A message split into several bodies (50-block limit) is superseded as a whole: no stale continuation."""
    key = "acme-us/amazon.odr"
    with Session(store.engine) as s, s.begin():
        outbox.enqueue(s, "ops", "alert", ["part1", "part2", "part3"], at(0), [outbox.Event(key, "new", at(0))])
    with Session(store.engine) as s, s.begin():
        history = outbox.fold(s, "ops", {key})
        outbox.enqueue(s, "ops", "alert", ["resolved"], at(1), [*history[key], outbox.Event(key, "resolved", at(1))])
    with Session(store.engine) as s:
        pending = [r.body for r in s.exec(select(OutboxRow).where(OutboxRow.status == "pending")
                                          .order_by(OutboxRow.id)).all()]
    assert pending == ["resolved"]
    assert [e.reason for e in history[key]] == ["new"]
