"""Operators can see what happened (issue 19 item 7): one INFO line per account sync; sync and status take
--log-level/--log-format like run."""

from __future__ import annotations

import json
import logging
import tomllib

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli


@pytest.fixture(autouse=True)
def restore_logging():
    logger = logging.getLogger("sellerguard")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@pytest.mark.slow
def test_sync_logs_one_info_line_per_account(tmp_path):
    from sellerguard.demo import write_config_file
    from sellerguard.sandbox import Sandbox

    cfg = tmp_path / "sandbox.toml"
    with Sandbox(scale=0.05) as box:
        write_config_file(box, cfg)
        only = next(a["id"] for a in tomllib.loads(cfg.read_text())["accounts"] if a["marketplace"] == "etsy")
        result = CliRunner().invoke(cli, ["--config", str(cfg), "sync", "--account", only, "--log-format", "json",
                                          "--log-level", "INFO"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    synced = [rec for rec in lines if rec["msg"].startswith(f"{only}: synced ")]
    assert len(synced) == 1 and synced[0]["level"] == "info" and synced[0]["logger"] == "sellerguard.sync"
    assert " new or changed) in " in synced[0]["msg"] and synced[0]["msg"].endswith("streams failed: 0 (-)")


def test_status_takes_log_options(tmp_path):
    from sellerguard.store import Store

    cfg = tmp_path / "sg.toml"
    cfg.write_text("")
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    Store(db).close()
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", db, "status", "--log-level", "DEBUG",
                                      "--log-format", "human"], catch_exceptions=False)
    assert result.exit_code == 3 and "No accounts" in result.output
    assert logging.getLogger("sellerguard").level == logging.DEBUG
    bad = CliRunner().invoke(cli, ["status", "--log-level", "LOUD"])
    assert bad.exit_code == 3 and len(bad.output.strip().splitlines()) == 1
