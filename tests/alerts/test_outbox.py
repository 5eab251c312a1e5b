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


def queue_alert(store, config, hours=0, level="critical"):
    rep = report(at(hours), account("acme-us", metric(level=level, value=0.02)))
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
    clock.advance(29)
    assert flush(store, config, clock).retried == 0  # first backoff is 30 s
    clock.advance(1)
    assert flush(store, config, clock).retried == 2
    assert {r.next_attempt_at for r in rows(store).values()} == {clock.now() + timedelta(seconds=60)}
    assert [outbox.backoff_seconds(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


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
    assert flush(store, config, FixedClock(at(0))).sent == 2
    assert slack.call_count == 2  # delivered twice, never zero times


@responses.activate
def test_one_message_per_second_per_slack_webhook(store, config):
    responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=204)
    for h in (0, 1, 2):
        queue_alert(store, config, hours=h, level=("warn", "critical", "ok")[h])
    clock = FixedClock(at(3))
    assert flush(store, config, clock).sent == 6
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
