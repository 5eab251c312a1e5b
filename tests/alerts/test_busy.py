"""Busy shops (issue 20 item 7): deadline items batched per target per evaluation and rate-capped per target,
with what was held back said; nothing lost. The figures here are the ones docs/alerts.md states."""

from __future__ import annotations

import json

from alert_builders import account, at, deadline, metric, report
from sqlmodel import Session, select

from sellerguard.alerts.pipeline import MESSAGES_PER_HOUR, process_report
from sellerguard.alerts.tables import OutboxRow

MINUTE = 1 / 60


def run_hour(store, config, orders_per_hour: int, hours: int = 1, start: int = 0):
    """One evaluation a minute (sync_every = 1m); a new order every 60/orders_per_hour minutes, due in 2 h."""
    every = max(60 // orders_per_hour, 1) if orders_per_hour else None
    refs: list[str] = []
    for minute in range(start, start + 60 * hours):
        if every and minute % every == 0:
            refs.append(f"111-{minute:04d}")
        now = at(minute * MINUTE)
        items = [deadline(r, now + __import__("datetime").timedelta(hours=2)) for r in refs]
        rep = report(now, account("acme-us", metric(), deadlines=items))
        process_report(store, config, rep, now=now)
    return refs


def slack_messages(store):
    with Session(store.engine) as s:
        rows = s.exec(select(OutboxRow).where(OutboxRow.target == "ops", OutboxRow.kind == "alert")
                      .order_by(OutboxRow.id)).all()
    return [json.loads(r.body) for r in rows]


def test_a_busy_shop_gets_at_most_the_cap_per_hour_and_loses_nothing(store, config):
    refs = run_hour(store, config, orders_per_hour=60, hours=2)  # a new order every minute, two hours
    messages = slack_messages(store)
    per_hour = [sum(1 for m in messages if m_hour(m) == h) for h in (12, 13)]
    assert all(n <= MESSAGES_PER_HOUR for n in per_hour), per_hour  # was 60 an hour
    told = json.dumps(messages)
    shown = [r for r in refs if f"`{r}`" in told]
    held = [r for r in refs if r not in shown]
    assert len(held) <= 12  # only the items of the last minutes wait for the next slot
    assert "held back since" in told and "at most 6 messages per hour" in told
    assert any("new" in b["text"]["text"] for m in messages for b in m["blocks"] if "text" in b)


def m_hour(message):
    footer = message["blocks"][-1]["elements"][0]["text"]
    return int(footer.split("data as of ", 1)[1][11:13])


def test_a_quiet_shop_hears_each_order_at_once(store, config):
    refs = run_hour(store, config, orders_per_hour=2)  # an order every 30 minutes
    messages = slack_messages(store)
    assert len(messages) == 2 and all(f"`{r}`" in json.dumps(messages) for r in refs)


def test_critical_items_are_never_held(store, config):
    run_hour(store, config, orders_per_hour=60)  # the cap is reached
    now = at(1)
    urgent = deadline("999-1", now + __import__("datetime").timedelta(hours=1), missed=0.02)
    rep = report(now, account("acme-us", metric(), deadlines=[urgent]))
    result = process_report(store, config, rep, now=now)
    assert result.queued.get("ops") == 1
