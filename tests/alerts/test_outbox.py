"""Outbox delivery against a mocked Slack: 2xx, 429 + Retry-After, 5xx backoff, refusals, crashes, pacing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import requests
import responses
from alert_builders import HOOK_URL, SLACK_URL, account, at, metric, report
from sqlmodel import Session, select

from sellerguard.alerts import outbox
from sellerguard.alerts.pipeline import process_report
from sellerguard.alerts.tables import OutboxRow
from sellerguard.clock import FixedClock
from sellerguard.store import Store


def queue_alert(store, config, hours=0, level="critical", mid="amazon.odr"):
    rep = report(at(hours), account("acme-us", metric(mid, level=level, value=0.02)))
    return process_report(store, config, rep, now=at(hours))


def rows(store):
    with Session(store.engine) as s:
        return {(r.target, r.id): r for r in s.exec(select(OutboxRow)).all()}


def flush(store, config, clock):
    return outbox.flush(store, config, clock=clock, sleep=clock.sleep)


@responses.activate
def test_sent_after_2xx_and_never_twice(store, config, caplog):
    caplog.set_level(logging.DEBUG)
    slack = responses.post(SLACK_URL, body="ok")
    hook = responses.post(HOOK_URL, status=204)
    queue_alert(store, config)
    clock = FixedClock(at(0))
    assert flush(store, config, clock).sent == 2
    assert flush(store, config, clock).sent == 0
    assert slack.call_count == 1 and hook.call_count == 1
    assert hook.calls[0].request.headers["X-Sellerguard-Event"] == "alert"
    assert hook.calls[0].request.headers["Idempotency-Key"].startswith("sellerguard-")
    assert all(r.status == "sent" and r.sent_at == at(0) for r in rows(store).values())
    assert "SECRET" not in caplog.text


@responses.activate
def test_429_honours_retry_after(store, config):
    responses.post(HOOK_URL, status=204)
    responses.post(SLACK_URL, status=429, headers={"Retry-After": "7"}, body="rate_limited")
    queue_alert(store, config)
    clock = FixedClock(at(0))
    result = flush(store, config, clock)
    assert (result.sent, result.retried, result.paused) == (1, 1, {"ops"})
    pending = [r for r in rows(store).values() if r.status == "pending"]
    assert pending[0].next_attempt_at == at(0) + timedelta(seconds=7)
    assert pending[0].last_error == "HTTP 429: rate_limited"
    clock.advance(6)
    assert flush(store, config, clock).sent == 0  # not before Retry-After
    responses.replace(responses.POST, SLACK_URL, body="ok")
    clock.advance(1)
    assert flush(store, config, clock).sent == 1


def test_retry_after_as_http_date():
    assert outbox.retry_after_seconds("Mon, 23 Nov 2026 12:01:00 GMT", at(0)) == 60
    assert outbox.retry_after_seconds("soon", at(0)) == outbox.RETRY_AFTER_DEFAULT_S
    assert outbox.retry_after_seconds(None, at(0)) == outbox.RETRY_AFTER_DEFAULT_S


@responses.activate
def test_5xx_and_network_errors_back_off_without_leaking_the_url(store, config, caplog):
    responses.post(SLACK_URL, status=503, body="service unavailable")
    responses.post(HOOK_URL, body=requests.ConnectionError(f"Max retries exceeded with url: {HOOK_URL}"))
    queue_alert(store, config)
    clock = FixedClock(at(0))
    assert flush(store, config, clock).retried == 2
    assert "SECRET" not in caplog.text and "hooks.slack.com" not in caplog.text
    errors = {r.target: r.last_error for r in rows(store).values()}
    assert errors == {"ops": "HTTP 503: service unavailable", "hook": "network error (ConnectionError)"}
    clock.advance(14)
    assert flush(store, config, clock).retried == 0  # the target's first pause is 15 s
    clock.advance(1)
    assert flush(store, config, clock).retried == 2
    assert {r.next_attempt_at for r in rows(store).values()} == {clock.now() + timedelta(seconds=30)}
    # capped at a minute: a target that answers again is drained within a minute
    assert [outbox.backoff_seconds(n) for n in (1, 2, 3, 10)] == [15, 30, 50, 50]


@responses.activate
def test_a_revoked_webhook_fails_for_good_until_retried(store, config):
    responses.post(SLACK_URL, status=404, body="no_service")
    responses.post(HOOK_URL, status=204)
    queue_alert(store, config)
    clock = FixedClock(at(0))
    assert flush(store, config, clock).failed == 1
    assert outbox.counts(store) == {"failed": 1, "sent": 1}
    assert outbox.retry_failed(store, clock.now()) == 1
    responses.replace(responses.POST, SLACK_URL, body="ok")
    assert flush(store, config, clock).sent == 1


@responses.activate
def test_crash_between_write_and_send_loses_nothing(tmp_path, config):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    first = Store(url)
    queue_alert(first, config)  # decided and committed ...
    first.close()  # ... and the process dies before any send
    slack = responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=204)
    second = Store(url)
    assert flush(second, config, FixedClock(at(0))).sent == 2
    assert slack.call_count == 1
    assert queue_alert(second, config, hours=1).queued == {}  # and the restart does not decide it again
    second.close()


@responses.activate
def test_crash_after_send_before_commit_resends(store, config, monkeypatch):
    """At-least-once: if the process dies after Slack accepted but before the row is marked, it is resent."""
    slack = responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=204)
    queue_alert(store, config)
    real = outbox._record

    def crash(row, *args):
        if row.target == "ops":
            raise RuntimeError("power cut")
        return real(row, *args)

    monkeypatch.setattr(outbox, "_record", crash)
    with pytest.raises(RuntimeError):
        flush(store, config, FixedClock(at(0)))
    monkeypatch.setattr(outbox, "_record", real)
    assert flush(store, config, FixedClock(at(0))).sent == 0  # "hook" went first; "ops" waits for its claim
    later = FixedClock(at(0) + timedelta(seconds=outbox.CLAIM_S))
    assert flush(store, config, later).sent == 1
    assert slack.call_count == 2  # delivered twice, never zero times


@responses.activate
def test_one_message_per_second_per_slack_webhook(store, config):
    responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=204)
    for h in (0, 1, 2):  # three alerts (a message about one alert would fold the older ones)
        ms = [metric(f"amazon.m{i}", level="critical", value=0.02) for i in range(h + 1)]
        process_report(store, config, report(at(h), account("acme-us", *ms)), now=at(h))
    clock = FixedClock(at(3))
    assert flush(store, config, clock).sent == 4  # Slack: 3; the webhook: one document per account, folded
    assert clock.slept == [1.0, 1.0]  # between the three Slack posts, not before the webhook ones


@responses.activate
def test_target_removed_from_config(store, config):
    queue_alert(store, config)
    trimmed = config.model_copy(update={"notify": config.notify[1:]})
    responses.post(HOOK_URL, status=204)
    result = flush(store, trimmed, FixedClock(at(0)))
    assert (result.sent, result.failed) == (1, 1)


@responses.activate
def test_prune_drops_only_old_sent_messages(store, config):
    responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=500)
    queue_alert(store, config)
    flush(store, config, FixedClock(at(0)))
    assert outbox.prune(store, at(0)) == 0  # sent exactly then: not older
    assert outbox.prune(store, at(1)) == 1
    assert outbox.counts(store) == {"pending": 1}


@responses.activate
def test_a_refusal_that_echoes_the_secret_path_is_logged_without_it(store, config, caplog):
    responses.post(SLACK_URL, status=404, body="no route for POST /services/T000/B000/SECRETSECRETSECRET")
    responses.post(HOOK_URL, status=400, body=f"bad request to {HOOK_URL}")
    queue_alert(store, config)
    assert flush(store, config, FixedClock(at(0))).failed == 2
    assert "SECRET" not in caplog.text
    errors = {r.target: r.last_error for r in rows(store).values()}
    assert errors == {"ops": "HTTP 404: no route for POST ***", "hook": "HTTP 400: bad request to ***"}


# -- an outage: order per target, one backoff per target, folding, drain time, claims --------------------------


class StandIn:
    """A Slack stand-in that answers from a script: 429 (Retry-After 20), 500, connection refused, 503 ... then ok.
    Records each body it accepted, in order."""

    def __init__(self, script):
        self.script = list(script)
        self.accepted: list[dict] = []
        self.calls = 0

    def __call__(self, request):
        import json

        self.calls += 1
        answer = self.script.pop(0) if self.script else 200
        if answer == "refused":
            raise requests.ConnectionError(f"Connection refused: {SLACK_URL}")
        if answer == 200:
            self.accepted.append(json.loads(request.body))
            return 200, {}, "ok"
        headers = {"Retry-After": "20"} if answer == 429 else {}
        return answer, headers, f"error {answer}"


def text_of(message):
    return "\n".join(b["text"]["text"] for b in message["blocks"] if b.get("type") in ("section", "header"))


@responses.activate
def test_outage_order_folding_and_drain(store, config):
    """Fired 12:02, resolved 12:15, fired again 12:19 while Slack fails 429/500/refused/503: the channel ends
    firing, told the whole story once; other alerts leave in creation order; drained within a minute."""
    slack = StandIn([429, 500, "refused", 503] + [500] * 30)
    responses.add_callback(responses.POST, SLACK_URL, callback=slack)
    responses.post(HOOK_URL, status=204)
    only_slack = config.model_copy(update={"notify": config.notify[:1]})
    clock = FixedClock(at(0))
    minute = 1 / 60

    def evaluate(minutes, odr, other=None, vtr=False):
        metrics = [metric(level=odr, value=0.02 if odr == "critical" else 0.005)]
        if other:
            metrics.append(metric("amazon.lsr", level=other, value=0.05 if other == "critical" else 0.01,
                                  name="Late Shipment Rate", threshold=0.04, warn=0.03))
        if vtr:
            metrics.append(metric("amazon.vtr", level="warn", value=0.93, name="Valid Tracking Rate",
                                  comparator=">=", threshold=0.95, warn=0.96))
        rep = report(at(minutes * minute), account("acme-us", *metrics))
        process_report(store, only_slack, rep, now=at(minutes * minute))
        clock._now = max(clock.now(), at(minutes * minute))
        return flush(store, only_slack, clock)

    first = evaluate(2, "critical")  # 12:02 fired; 429 Retry-After 20
    assert (first.sent, first.retried) == (0, 1)
    attempts = [evaluate(m, "critical") for m in (3, 4, 5, 6)]  # 500, refused, 503, 500: one probe each
    assert slack.calls == 5 and all(r.sent == 0 for r in attempts)
    # the 429 did not count: three failures after it give 15, 30, 50 s, never the 1920 s of old
    with Session(store.engine) as s:
        head = s.exec(select(OutboxRow).where(OutboxRow.status == "pending")).first()
    assert head.attempts == 4 and head.next_attempt_at - clock.now() <= timedelta(seconds=60)
    evaluate(7, "critical", vtr=True)  # 12:07 the valid tracking rate fires, and stays: never superseded
    evaluate(10, "critical", other="warn", vtr=True)  # 12:10 another alert fires
    evaluate(15, "ok", other="warn", vtr=True)  # 12:15 resolved: folds 12:02
    evaluate(19, "critical", other="critical", vtr=True)  # 12:19 fired again and LSR escalated
    assert slack.calls <= 9 and not slack.accepted  # at most one probe per flush and pause during 17 minutes
    # Slack answers again from 12:20 on (script exhausted): everything due leaves within a minute
    slack.script.clear()
    recovered = at(20 * minute)
    clock._now = recovered
    while outbox.counts(store).get("pending"):
        flush(store, only_slack, clock)
        clock.advance(OUTBOX_TICK)
    assert clock.now() - recovered <= timedelta(seconds=60)
    texts = [text_of(m) for m in slack.accepted]
    assert len(texts) == 2, texts  # the 12:07 message, then everything else folded into the 12:19 one
    assert "amazon.vtr" in texts[0] and "amazon.odr" not in texts[0]  # creation order
    odr = [t for t in texts if "amazon.odr" in t]
    assert len(odr) == 1, texts  # folded: one message, the true state, the story
    assert "CRITICAL" in odr[0] and "fired 12:02, resolved 12:15, fired again 12:19" in odr[0]
    counts = outbox.counts(store)
    assert counts["sent"] == 2 and counts["folded"] == 3 and "pending" not in counts
    assert "CRITICAL" in texts[-1]  # the channel ends in the true state


OUTBOX_TICK = 5  # seconds between flushes in the drain loop (the daemon flushes after every job and every 30 s)


@responses.activate
def test_flush_beside_the_daemon_never_sends_twice(store, config):
    """A second sender finds the head claimed (status sending) and the target locked: it sends nothing."""
    slack = responses.post(SLACK_URL, body="ok")
    hook = responses.post(HOOK_URL, status=204)
    queue_alert(store, config)
    clock = FixedClock(at(0))
    inner: list[outbox.FlushResult] = []

    def post_and_race(*args, **kwargs):  # while the daemon is mid-send, `notify --flush` runs
        inner.append(outbox.flush(store, config, clock=clock, sleep=clock.sleep, force=True))
        return real_post(*args, **kwargs)

    http = requests.Session()
    real_post = http.post
    http.post = post_and_race  # type: ignore[method-assign]
    result = outbox.flush(store, config, clock=clock, sleep=clock.sleep, http=http)
    assert result.sent + sum(r.sent for r in inner) == 2
    assert slack.call_count == 1 and hook.call_count == 1  # each message once


@responses.activate
def test_notify_flush_tries_a_paused_target_now(store, config):
    responses.post(SLACK_URL, status=503)
    responses.post(HOOK_URL, status=204)
    queue_alert(store, config)
    clock = FixedClock(at(0))
    assert flush(store, config, clock).retried == 1
    responses.replace(responses.POST, SLACK_URL, body="ok")
    assert flush(store, config, clock).sent == 0  # the daemon waits out the pause
    r = outbox.flush(store, config, clock=clock, sleep=clock.sleep, force=True)
    assert r.sent == 1  # the operator's flush does not
