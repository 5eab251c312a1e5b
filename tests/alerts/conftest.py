"""Fixtures for alert tests: webhook URLs in the environment and a config with two targets."""

from __future__ import annotations

import pytest
from alert_builders import HOOK_URL, SLACK_URL, make_config

from sellerguard.config import Config


@pytest.fixture(autouse=True)
def _webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_SLACK", SLACK_URL)
    monkeypatch.setenv("SG_TEST_HOOK", HOOK_URL)


@pytest.fixture
def config() -> Config:
    return make_config()
