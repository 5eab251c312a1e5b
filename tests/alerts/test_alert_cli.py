"""The silence, notify and run commands: exact output lines and exit codes."""

from __future__ import annotations

import logging

import pytest
import responses
from alert_builders import HOOK_URL, SLACK_URL
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.daemon import LOCK_NAME
from sellerguard.store import Store

CONFIG = """
[[accounts]]
id = "acme-us"
marketplace = "amazon"

[[notify]]
name = "ops"
type = "slack"
url = "env:SG_TEST_SLACK"

[[notify]]
name = "hook"
type = "webhook"
url = "env:SG_TEST_HOOK"
"""


@pytest.fixture
def env(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG)
    Store(f"sqlite:///{tmp_path / 'sg.db'}").close()  # read-only commands never create one (issue 19)
    return ["--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'sg.db'}"]


@pytest.fixture(autouse=True)
def restore_logging():
    logger = logging.getLogger("sellerguard")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_silence_add_list_expire(env):
    added = run(*env, "silence", "acme-us/amazon.odr", "--for", "2d", "--reason", "appeal filed")
    assert added.exit_code == 0
    assert added.output.startswith("Silence 1: acme-us/amazon.odr muted until ")
    listed = run(*env, "silence", "--list")
    assert listed.output.startswith("1\tacme-us/amazon.odr\tuntil ") and "\tactive\t" in listed.output
    assert listed.output.rstrip().endswith(": appeal filed")
    assert run(*env, "silence", "--expire", "1").output == "Silence 1 (acme-us/amazon.odr) ended.\n"
    assert run(*env, "silence").output == "No active silences.\n"
    assert "\texpired\t" in run(*env, "silence", "--list", "--all").output


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["nope/amazon.odr", "--reason", "x"], "Error: silence: no account 'nope' in the config or the database"),
        (["acme-us/amazon.odr"], "Error: silence --reason: give a reason, so others know why alerts are muted"),
        (["acme-us", "--for", "soon", "--reason", "x"],
         "Error: silence --for: expected a duration such as '15m', '24h' or '2d', got 'soon'"),
        (["--expire", "42"], "Error: silence --expire: no silence with id 42"),
    ],
)
def test_silence_errors(env, args, line):
    result = run(*env, "silence", *args)
    assert (result.exit_code, result.output.strip()) == (3, line)


@responses.activate
def test_notify_test_reports_each_target(env, monkeypatch):
    monkeypatch.setenv("SG_TEST_SLACK", SLACK_URL)
    monkeypatch.setenv("SG_TEST_HOOK", HOOK_URL)
    responses.post(SLACK_URL, body="ok")
    responses.post(HOOK_URL, status=500, body="oops")
    result = run(*env, "notify", "--test")
    assert result.exit_code == 3
    assert result.output.splitlines() == [
        "ops (slack): sent",
        "hook (webhook): failed (HTTP 500: oops)",
        "Error: 1 of 2 target(s) did not accept the test message",
    ]
    assert "SECRET" not in result.output


def test_notify_shows_the_outbox_and_needs_targets(env, tmp_path):
    assert run(*env, "notify").output == "pending: 0, sent: 0, failed: 0\n"
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = run("--config", str(empty), "--db", env[3], "notify")
    assert (result.exit_code, result.output.strip()) == (
        3, f"Error: {empty}: no [[notify]] targets in the config (see docs/alerts.md)")


def test_run_once_and_a_second_daemon_refuses(env, tmp_path, monkeypatch):
    monkeypatch.setenv("SG_TEST_SLACK", SLACK_URL)
    monkeypatch.setenv("SG_TEST_HOOK", HOOK_URL)
    empty = tmp_path / "noaccounts.toml"
    empty.write_text("")
    assert run("--config", str(empty), "--db", env[3], "run", "--once").exit_code == 0
    release = Store(env[3]).try_lock(LOCK_NAME)  # another daemon holds the store
    try:
        result = run("--config", str(empty), "--db", env[3], "run", "--once")
    finally:
        release()
    assert (result.exit_code, result.output.strip()) == (
        3, "Error: another sellerguard daemon is already running on this database; stop it first, "
           "or give this one its own database with --db")
