"""Start-up stays light (issue 21): the CLI imports a database or HTTP library only for commands that use one.

Measured with ``python -X importtime`` in a subprocess (a fresh interpreter; pytest has loaded everything
already). These tests check WHICH modules load, never how long they take (no timed tests: the machine is shared).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Nothing a bare --version/--help needs; each costs tens to hundreds of milliseconds to import.
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "requests", "urllib3", "pydantic", "rich", "cryptography", "holidays",
         "sellerguard.connectors", "sellerguard.rules", "sellerguard.store", "sellerguard.config")
# A reading command needs the store and the rules, never an HTTP library or a connector (the package's
# __init__ may load: the CLI looks up connector module names in it without importing them).
NOT_FOR_STATUS = ("requests", "urllib3", "alembic", "sellerguard.sync", "rich",
                  "sqlalchemy.dialects.postgresql",  # ~0.3 s; a SQLite store never needs it (store/tables.py)
                  # ~0.1 s: all ~250 country modules of the holidays library. Loading the eBay pack checks its
                  # handling calendar (country US); a country's holidays load at its first business-day check,
                  # which an empty store never makes (rules/calendars.py supported_countries)
                  "holidays.countries",
                  "sellerguard.alerts",  # the alert tables: their redaction hook registers itself (redact.scrub_column)
                  "sellerguard.schema")  # the record models (~60 ms of pydantic builds): only writes load them


def imported(*args: str, cwd: Path | None = None) -> set[str]:
    """Every module the command imports, from ``-X importtime``'s stderr."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sellerguard", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, check=False)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    names.discard("package")  # the header line
    return names


def loaded(names: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted({r for r in roots for n in names if n == r or n.startswith(r + ".")})


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["status", "--help"]])
def test_version_and_help_import_no_database_or_http_library(args):
    names = imported(*args)
    assert "sellerguard.cli" in names  # the measurement itself works
    assert loaded(names, HEAVY) == []


def test_status_imports_only_what_it_reads(tmp_path):
    from db_templates import sqlite_copy  # a migrated empty store without running Alembic here

    cfg = tmp_path / "sg.toml"
    # an eBay account with options only the connector checks: status must not load connectors to check them
    cfg.write_text('[[accounts]]\nid = "eb"\nmarketplace = "ebay"\n\n[[accounts]]\nid = "amz"\n'
                   'marketplace = "amazon"\n')
    db = f"sqlite:///{sqlite_copy(tmp_path / 'sg.db')}"
    names = imported("--config", str(cfg), "--db", db, "status", "--json", "--as-of", "2026-11-23T12:00:00Z")
    assert "sellerguard.status" in names and "sqlalchemy" in names
    assert loaded(names, NOT_FOR_STATUS) == []
    assert sorted(n for n in names if n.startswith("sellerguard.connectors.")) == []


def test_the_country_check_lists_what_the_holidays_library_lists():
    """rules/calendars.py checks a calendar's country against the library's registry instead of
    ``list_supported_countries()`` (which imports every country module): the same codes, aliases included."""
    import holidays

    from sellerguard.rules.calendars import supported_countries

    assert supported_countries() == set(holidays.list_supported_countries())
    assert {"NL", "BE", "US", "UK", "GBR"} <= supported_countries()


def test_status_leaves_its_objects_to_the_os_at_exit(tmp_path):
    """``main()`` freezes the garbage collector after ``status`` (the interpreter's final collections were ~0.25 s of
    CPU of a status run), and only after a command that asked for it: ``--version`` does not."""
    from db_templates import sqlite_copy

    db = f"sqlite:///{sqlite_copy(tmp_path / 'sg.db')}"
    probe = ("import gc, sys\nfrom sellerguard.cli import main\nsys.argv = ['sellerguard', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit:\n    print('frozen', gc.get_freeze_count() > 0)\n")
    for args, frozen in ((["--db", db, "status", "--json"], True), (["--version"], False)):
        proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path,
                              timeout=120, check=False)
        assert proc.stdout.strip().splitlines()[-1] == f"frozen {frozen}", proc.stderr


def test_status_runs_with_fewer_collections_and_restores_the_collector(tmp_path, monkeypatch):
    """``status`` raises the collector's first threshold while it runs (``cli.fewer_collections``) and puts the
    caller's back, also when it exits with a Nagios code: tests and embedders run commands in process."""
    import gc

    from click.testing import CliRunner
    from db_templates import sqlite_copy

    import sellerguard.status
    from sellerguard.cli import cli

    seen = []
    real = sellerguard.status.build_status
    monkeypatch.setattr(sellerguard.status, "build_status", lambda *a, **k: seen.append(gc.get_threshold()) or
                        real(*a, **k))
    before = gc.get_threshold()
    db = f"sqlite:///{sqlite_copy(tmp_path / 'sg.db')}"
    result = CliRunner().invoke(cli, ["--db", db, "status", "--json"])
    assert result.exit_code == 3, result.output  # no accounts: unknown
    assert seen == [(10_000, 10, 10)]
    assert gc.get_threshold() == before
