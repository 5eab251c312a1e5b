"""Review probes for issue 20: findings turned into regression tests."""

from __future__ import annotations

import re

import responses
from alert_builders import at
from sqlmodel import Session, select

from sellerguard.alerts import outbox
from sellerguard.alerts.tables import OutboxRow

HOOK_URL_ANY = re.compile(r"https://example\.invalid/.*")


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


def test_large_counts_are_written_in_full_not_in_exponent_notation():
    from alert_builders import metric

    from sellerguard.alerts.slack import metric_text

    m = metric("amazon.odr", level="critical", value=0.02, numerator=24_690, denominator=1_234_500, headroom=-1_500_000)
    text = metric_text(m, "new", None, None)
    assert "(24690 of 1234500 over 60 days)" in text
    assert "Headroom: 1500000 defect-free orders" in text
    assert "e+0" not in text


@responses.activate
def test_once_the_target_answers_its_queue_drains_without_the_old_pause(store, config):
    """Slack said 429 Retry-After 3600; messages queued meanwhile inherit that pause. When a forced flush (or the
    daemon after Retry-After) gets a 2xx, the target is answering: the rest of its queue goes now, in order."""
    from alert_builders import SLACK_URL, account, metric, report

    from sellerguard.alerts.pipeline import process_report
    from sellerguard.clock import FixedClock

    responses.post(SLACK_URL, status=429, headers={"Retry-After": "3600"})
    responses.post(HOOK_URL_ANY, status=204)
    process_report(store, config, report(at(0), account("acme-us", metric(level="critical", value=0.02))), now=at(0))
    clock = FixedClock(at(0))
    assert outbox.flush(store, config, clock=clock, sleep=clock.sleep).retried == 1
    later = at(0.1)
    process_report(store, config, report(later, account("acme-us", metric(level="critical", value=0.02)),
                                         account("acme-eb", metric("ebay.transaction_defect_rate", level="critical",
                                                                   value=0.05), marketplace="ebay")), now=later)
    responses.replace(responses.POST, SLACK_URL, body="ok")
    clock = FixedClock(later)
    result = outbox.flush(store, config, clock=clock, sleep=clock.sleep, force=True)
    with Session(store.engine) as s:
        left = s.exec(select(OutboxRow).where(OutboxRow.target == "ops", OutboxRow.status == "pending")).all()
    assert left == [] and result.held == 0


def test_the_digest_says_which_items_are_already_past_due():
    from datetime import timedelta

    from alert_builders import account, deadline, report

    from sellerguard.alerts.slack import render_digest

    now = at(0)
    items = [deadline("A-1", now - timedelta(hours=2)), deadline("A-2", now + timedelta(hours=3))]
    acc = account("acme-us", deadlines=items)
    text = str(render_digest(report(now, acc), {}, now))
    assert "2 item(s) due in the next 24 h, 1 already past due:" in text


@responses.activate
def test_new_resolved_new_resolved_during_an_outage_ends_resolved_with_the_story(store, config):
    """429, 500, refused, 503 while the alert fires 12:02, resolves 12:05, fires 12:09, resolves 12:13: once
    Slack answers, the channel hears one message, the true state (resolved) and what happened meanwhile."""
    from datetime import timedelta

    from alert_builders import SLACK_URL, account, metric, report
    from test_outbox import StandIn, text_of

    from sellerguard.alerts.pipeline import process_report
    from sellerguard.clock import FixedClock

    slack = StandIn([429, 500, "refused", 503] + [500] * 30)
    responses.add_callback(responses.POST, SLACK_URL, callback=slack)
    only_slack = config.model_copy(update={"notify": config.notify[:1]})
    clock = FixedClock(at(0))
    for minute, level in ((2, "critical"), (3, "critical"), (4, "critical"), (5, "ok"), (7, "ok"),
                          (9, "critical"), (13, "ok")):
        now = at(minute / 60)
        value = 0.02 if level == "critical" else 0.005
        process_report(store, only_slack, report(now, account("acme-us", metric(level=level, value=value))), now=now)
        clock._now = max(clock.now(), now)
        outbox.flush(store, only_slack, clock=clock, sleep=clock.sleep)
    assert not slack.accepted
    slack.script.clear()
    recovered = clock.now()
    while outbox.counts(store).get("pending"):
        outbox.flush(store, only_slack, clock=clock, sleep=clock.sleep)
        clock.advance(5)
    assert clock.now() - recovered <= timedelta(seconds=60)
    texts = [text_of(m) for m in slack.accepted]
    assert len(texts) == 1, texts
    assert "resolved" in texts[0] and "CRITICAL" not in texts[0]
    assert "fired 12:02, resolved 12:05, fired again 12:09, resolved 12:13" in texts[0], texts[0]


@responses.activate
def test_a_redirect_is_not_a_delivery(store, config):
    """A webhook URL that redirects (http:// for https://, a moved receiver): requests would follow with a GET and
    report 200. The message is refused for good with the status, not marked sent."""
    from alert_builders import SLACK_URL

    from sellerguard.clock import FixedClock

    moved = responses.post(SLACK_URL, status=301, headers={"Location": "https://elsewhere.invalid/x"})
    elsewhere = responses.get("https://elsewhere.invalid/x", body="ok")
    only_slack = config.model_copy(update={"notify": config.notify[:1]})
    with Session(store.engine) as s, s.begin():
        outbox.enqueue(s, "ops", "alert", ['{"text": "x"}'], at(0))
    clock = FixedClock(at(0))
    result = outbox.flush(store, only_slack, clock=clock, sleep=clock.sleep)
    assert (result.sent, result.failed) == (0, 1)
    assert moved.call_count == 1 and elsewhere.call_count == 0
