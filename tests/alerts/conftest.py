"""Fixtures for alert tests: webhook URLs in the environment and a config with two targets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_builders import HOOK_URL, SLACK_URL, make_config
from sqlalchemy import create_engine, text

from sellerguard.config import Config
from sellerguard.store import Store

PG_URL = os.environ.get("SELLERGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_store() -> Iterator[Store]:
    """A fresh schema per test on the shared server, dropped afterwards; skipped when no server answers."""
    try:
        admin = create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # the server is optional on a developer laptop
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    schema = f"sg_alerts_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    store = Store(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Alert state, silences and the outbox are exercised on SQLite and, when reachable, PostgreSQL."""
    if request.param == "postgres":
        yield from _postgres_store()
        return
    s = Store(f"sqlite:///{tmp_path / 'test.db'}")
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SG_TEST_SLACK", SLACK_URL)
    monkeypatch.setenv("SG_TEST_HOOK", HOOK_URL)


@pytest.fixture
def config() -> Config:
    return make_config()
