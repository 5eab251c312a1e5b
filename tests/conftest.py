"""Shared fixtures: a fresh store per test, a fixed clock, and the spec folder when it is present."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from db_templates import sqlite_copy

from sellerguard.clock import FixedClock
from sellerguard.store import Store

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(os.environ.get("SELLERGUARD_SPECS", REPO.parent / "shared" / "specs"))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Give every pytest run its own temp root: concurrent runs on one machine otherwise prune each other's."""
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="sellerguard-pytest-")
        config._sellerguard_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, "_sellerguard_basetemp", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def store(tmp_path: Path):
    """An empty SQLite store at the head revision (a copy of one migrated per process: tests/db_templates.py)."""
    s = Store(f"sqlite:///{sqlite_copy(tmp_path / 'test.db')}")
    yield s
    s.close()


@pytest.fixture
def specs() -> Path:
    if not SPECS.is_dir():
        pytest.skip(f"official specs not found at {SPECS} (set SELLERGUARD_SPECS to the shared/specs folder)")
    return SPECS


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real per-user config or database from a test."""
    monkeypatch.delenv("SELLERGUARD_CONFIG", raising=False)
    monkeypatch.delenv("SELLERGUARD_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
