"""Fixtures for alert tests: webhook URLs in the environment and a config with two targets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_builders import HOOK_URL, SLACK_URL, make_config
from pg import store_on

from sellerguard.config import Config
from sellerguard.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Alert state, silences and the outbox are exercised on SQLite and, when reachable, PostgreSQL."""
    yield from store_on(request.param, tmp_path, "sg_alerts")


@pytest.fixture(autouse=True)
def _webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_SLACK", SLACK_URL)
    monkeypatch.setenv("SG_TEST_HOOK", HOOK_URL)


@pytest.fixture
def config() -> Config:
    return make_config()
