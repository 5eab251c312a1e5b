"""Helpers shared by the worked-example tests (tests/rules/test_worked_*.py).

Imported by module name like ``conftest`` (tests/rules is on sys.path under pytest's default import mode); the name
is unique so that it cannot resolve to another folder's module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pg import store_on

from sellerguard.cli import cli
from sellerguard.rules.packs import Pack, builtin_pack_dir, load_pack
from sellerguard.store import Store


def builtin_pack(marketplace: str) -> Pack:
    """The pack shipped in rules/packs/<marketplace>.toml."""
    return load_pack(builtin_pack_dir() / f"{marketplace}.toml")


def sqlite_store(prefix: str) -> Any:
    """A ``store`` fixture on SQLite only, to put in a test module (overrides the rules conftest's SQLite+PG one)."""

    @pytest.fixture(name="store")
    def _store(tmp_path: Path) -> Iterator[Store]:
        yield from store_on("sqlite", tmp_path, prefix)

    return _store


def threshold_metric(pack: Pack) -> Callable[..., Any]:
    """``metric(world, metric_id, **kw)`` for `pack` with ``horizon=0`` unless given: the threshold verdict alone,
    not hidden under sellerguard's forecast warning."""

    def metric(world: Any, metric_id: str, **kw: Any) -> Any:
        kw.setdefault("horizon", 0)
        return world.metric(metric_id, pack=pack, **kw)

    return metric


def cli_run(tmp_path: Path, rows: list[dict], as_of: str) -> tuple[int, dict]:
    """Import `rows` (one JSONL line each; the import must succeed) into a fresh SQLite file and run
    `status --json --as-of`: (exit code, the parsed JSON document)."""
    src = tmp_path / "shop.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "sg.toml").write_text("")
    base = ["--config", str(tmp_path / "sg.toml"), "--db", f"sqlite:///{tmp_path / 'sg.db'}"]
    run = CliRunner().invoke(cli, [*base, "import", str(src)])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(cli, [*base, "status", "--json", "--as-of", as_of])
    return run.exit_code, json.loads(run.output)


def cli_status(tmp_path: Path, rows: list[dict], as_of: str) -> tuple[int, dict]:
    """`cli_run` for a single account: (exit code, its metrics by id)."""
    code, doc = cli_run(tmp_path, rows, as_of)
    [acc] = doc["accounts"]
    return code, {m["id"]: m for m in acc["metrics"]}
