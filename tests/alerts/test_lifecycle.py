"""The alert lifecycle end to end through the store: fire, repeat, resolve, silence, quiet hours, restart."""

from __future__ import annotations

import json
from datetime import timedelta

from alert_builders import account, at, deadline, make_config, metric, report
from sqlmodel import Session, select

from sellerguard.alerts.dedup import Reason
from sellerguard.alerts.pipeline import enqueue_digests, process_report
from sellerguard.alerts.silences import add_silence, expire_silence, list_silences
from sellerguard.alerts.tables import AlertStateRow, OutboxRow
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun

KEY = ("acme-us", "amazon.odr")


def run(store, config, level, hours, **kw):
    rep = report(at(hours), account("acme-us", metric(level=level, value=kw.pop("value", 0.009))))
    return process_report(store, config, rep, now=at(hours))


def outbox(store, target="ops"):
    with Session(store.engine) as s:
        return s.exec(select(OutboxRow).where(OutboxRow.target == target).order_by(OutboxRow.id)).all()


def test_fire_repeat_escalate_resolve(store, config):
    assert run(store, config, "ok", 0).notified("ops") == {}
    assert run(store, config, "warn", 1).notified("ops") == {KEY: Reason.NEW}
    assert run(store, config, "warn", 2).notified("ops") == {}  # already told
    assert run(store, config, "critical", 3).notified("ops") == {KEY: Reason.ESCALATED}
    assert run(store, config, "critical", 26).notified("ops") == {}  # 23 h after the last notice
    assert run(store, config, "critical", 27).notified("ops") == {KEY: Reason.REPEAT}
    assert run(store, config, "ok", 28).notified("ops") == {KEY: Reason.RESOLVED}
    assert run(store, config, "ok", 29).notified("ops") == {}
    rows = outbox(store)
    assert len(rows) == 4  # new, escalated, repeat, resolved: one message each
    assert "resolved" in json.loads(rows[-1].body)["blocks"][0]["text"]["text"]
    assert len(outbox(store, "hook")) == 4  # the webhook target follows the same lifecycle
    with Session(store.engine) as s:  # a resolved alert leaves no state behind
        assert s.exec(select(AlertStateRow)).all() == []


def test_restart_neither_resends_nor_forgets(tmp_path, config):
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = Store(url)
    assert run(first, config, "warn", 1).notified("ops") == {KEY: Reason.NEW}
    first.close()
    second = Store(url)  # a new process on the same store
    assert run(second, config, "warn", 2).notified("ops") == {}
    assert run(second, config, "ok", 3).notified("ops") == {KEY: Reason.RESOLVED}
    second.close()


def test_min_level_critical_ignores_warnings(store):
    config = make_config(min_level="critical")
    assert run(store, config, "warn", 1).notified("ops") == {}
    assert run(store, config, "critical", 2).notified("ops") == {KEY: Reason.NEW}
    assert run(store, config, "warn", 3).notified("ops") == {KEY: Reason.RESOLVED}  # below its minimum


def test_unknown_holds_state(store, config):
    run(store, config, "critical", 1)
    assert run(store, config, "unknown", 2, value=None).decisions["ops"][KEY] is Reason.UNKNOWN
    assert run(store, config, "critical", 3).notified("ops") == {}  # it was never resolved


def test_silence_mutes_then_lets_through(store, config):
    s = add_silence(store, "acme-us/amazon.*", duration=timedelta(days=2), reason="known, appeal filed",
                    now=at(0))
    assert [x.id for x in list_silences(store, at(0))] == [s.id]
    assert run(store, config, "critical", 1).decisions["ops"][KEY] is Reason.SILENCED
    assert run(store, config, "critical", 47).notified("ops") == {}
    assert run(store, config, "critical", 49).notified("ops") == {KEY: Reason.NEW}  # silence over, still firing
    assert list_silences(store, at(49)) == []
    assert len(list_silences(store, at(49), include_expired=True)) == 1


def test_expired_silence_and_resolution_during_silence(store, config):
    run(store, config, "warn", 0)
    s = add_silence(store, "acme-us", duration=timedelta(days=1), reason="vacation", now=at(0.5))
    assert run(store, config, "ok", 1).decisions["ops"][KEY] is Reason.SILENCED  # resolution held back
    expire_silence(store, s.id, at(2))
    assert run(store, config, "ok", 3).notified("ops") == {KEY: Reason.RESOLVED}  # told once the mute ends


def test_quiet_hours_hold_then_send(store):
    config = make_config(quiet_hours="22:00-07:00", timezone="Europe/Berlin")
    night = 23 - 12 - 1  # 22:00 UTC = 23:00 in Berlin
    first = run(store, config, "warn", night)
    assert first.decisions["ops"][KEY] is Reason.QUIET
    assert first.decisions["hook"][KEY] is Reason.NEW  # other targets are not affected
    assert run(store, config, "warn", night + 4).decisions["ops"][KEY] is Reason.QUIET
    morning = night + 8  # 07:00 in Berlin
    assert run(store, config, "warn", morning).notified("ops") == {KEY: Reason.NEW}


def test_quiet_hours_let_critical_news_through(store):
    config = make_config(quiet_hours="22:00-07:00", timezone="Europe/Berlin")
    assert run(store, config, "critical", 10).notified("ops") == {KEY: Reason.NEW}  # 23:00 in Berlin
    assert run(store, config, "ok", 11).decisions["ops"][KEY] is Reason.QUIET  # the all-clear can wait
    assert run(store, config, "ok", 19).notified("ops") == {KEY: Reason.RESOLVED}  # 08:00


def test_one_message_per_target_groups_accounts(store, config):
    rep = report(
        at(1),
        account("acme-us", metric(level="critical", value=0.02), metric("amazon.lsr", level="warn")),
        account("acme-eb", metric("ebay.tdr", level="warn"), marketplace="ebay"),
    )
    result = process_report(store, config, rep, now=at(1))
    assert len(result.notified("ops")) == 3
    assert result.queued == {"ops": 1, "hook": 1}
    body = json.loads(outbox(store)[0].body)
    headers = [b["text"]["text"] for b in body["blocks"] if b["type"] == "header"]
    assert len(headers) == 3  # acme-us critical, acme-us warning, acme-eb warning
    hook = json.loads(outbox(store, "hook")[0].body)
    assert {a["account"] for a in hook["accounts"]} == {"acme-us", "acme-eb"}  # the status --json document


def test_deadline_alerts_and_their_resolution(store, config):
    soon = deadline("111-222", at(5), missed=0.011)  # missing it breaches: critical
    later = deadline("333-444", at(50))
    rep = report(at(0), account("acme-us", metric(level="warn"), deadlines=[soon, later]))
    got = process_report(store, config, rep, now=at(0)).notified("ops")
    assert got[("acme-us", "deadline:ship:111-222")] is Reason.NEW
    assert ("acme-us", "deadline:ship:333-444") not in got  # not due within the lead time
    text = json.dumps(json.loads(outbox(store)[0].body))
    assert "111-222" in text and "CRITICAL" in text
    rep = report(at(1), account("acme-us", metric(level="warn"), deadlines=[later]))
    got = process_report(store, config, rep, now=at(1)).notified("ops")
    assert got == {("acme-us", "deadline:ship:111-222"): Reason.RESOLVED}


def test_stale_sync_becomes_an_alert(store, config):
    for h in range(0, 3):
        store.record_sync(SyncRun(account="acme-us", started_at=at(h), finished_at=at(h), ok=False,
                                  error_kind="wait", error="acme-us: orders: HTTP 503 from the marketplace"))
    key = ("acme-us", "sync")
    assert key not in run(store, config, "ok", 1).notified("ops")  # 1 h of failures: not yet (limit 2 h)
    assert run(store, config, "ok", 2.5).notified("ops") == {key: Reason.NEW}
    store.record_sync(SyncRun(account="acme-us", started_at=at(2.8), finished_at=at(2.8), ok=False))  # stopped
    assert key not in run(store, config, "ok", 2.9).notified("ops")  # a stopped sync resolves nothing
    store.record_sync(SyncRun(account="acme-us", started_at=at(3), finished_at=at(3), ok=True))
    assert run(store, config, "ok", 3.1).notified("ops") == {key: Reason.RESOLVED}
    store.record_sync(SyncRun(account="acme-us", started_at=at(3.2), finished_at=at(3.2), ok=False))  # stopped
    assert key not in run(store, config, "ok", 10).notified("ops")  # ... and is no failure either


def test_digest_once_a_day_at_its_time(store, config):
    rep = report(at(0), account("acme-us", metric(level="warn")))
    assert enqueue_digests(store, config, rep, now=at(-3.5)) == []  # 08:30 UTC
    assert enqueue_digests(store, config, rep, now=at(-3)) == ["ops"]  # 09:00; the hook target has digest off
    assert enqueue_digests(store, config, rep, now=at(5)) == []  # once a day
    assert enqueue_digests(store, config, rep, now=at(21)) == ["ops"]  # next day 09:00
    digest = json.loads(outbox(store)[0].body)
    assert "daily digest" in digest["blocks"][0]["text"]["text"]


def test_silence_beyond_the_calendar_is_a_clear_error(store):
    import pytest

    from sellerguard.errors import ConfigError

    with pytest.raises(ConfigError, match="silence --for: the silence duration is too long"):
        add_silence(store, "acme-us", duration=timedelta(days=99999999), reason="x", now=at(0))
