"""The CLI's own bad input (issue 18 kind 7): each is one line, exit 3, and nothing is created."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from sellerguard.cli import cli
from sellerguard.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "canonical-1000.jsonl"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_exit_3(result, starts: str = "Error: ") -> str:
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), result.output
    return lines[0]


def test_binary_secret_file(tmp_path):
    secret = tmp_path / "token.bin"
    secret.write_bytes(b"\xff\xfe\x00\x81binary\x00")
    cfg = tmp_path / "sg.toml"
    cfg.write_text(f'[[accounts]]\nid = "b"\nmarketplace = "bol"\n'
                   f'credentials = {{ client_id = "file:{secret}", client_secret = "file:{secret}" }}\n')
    line = one_line_exit_3(run("--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "sync"))
    assert f"secret file {secret} is not UTF-8 text" in line
    assert "\\xff" not in line and "\xff" not in line


@pytest.mark.parametrize("url", ["not a url", "ftp://x.example", "https://", "https://host/with space"])
def test_base_url_must_be_an_http_url(tmp_path, url):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(f'[[accounts]]\nid = "a"\nmarketplace = "amazon"\nbase_url = "{url}"\n')
    db = tmp_path / "x.db"
    line = one_line_exit_3(run("--config", str(cfg), "--db", f"sqlite:///{db}", "sync"))
    assert line.startswith(f"Error: {cfg}: accounts[a].base_url: expected an http:// or https:// URL with a host")
    assert not db.exists()


def test_bom_at_the_start_of_the_config(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_bytes(b"\xef\xbb\xbf[store]\n")
    db = tmp_path / "x.db"
    line = one_line_exit_3(run("--config", str(cfg), "--db", f"sqlite:///{db}", "sync"))
    assert line == f"Error: {cfg}: starts with a byte-order mark (BOM); save it as UTF-8 without BOM"
    assert not db.exists()


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_read_only_database_for_a_command_that_writes(tmp_path, monkeypatch, read_only):
    path = tmp_path / "sg.db"
    Store(f"sqlite:///{path}").close()
    blocked = path if read_only == "file" else path.parent
    real_access = os.access
    # tests may run as root, whom no file mode stops: let os.access answer as for an ordinary user
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == blocked and mode & os.W_OK
                        else real_access(p, mode))
    line = one_line_exit_3(run("--db", f"sqlite:///{path}", "import", str(EXAMPLE)))
    assert line == (f"Error: database {path} is read-only for this user; a command that writes needs write access "
                    "to it and its folder")


@pytest.mark.parametrize("command", [("status",), ("import", str(EXAMPLE)), ("migrate",)])
def test_newer_schema_database(tmp_path, command):
    path = tmp_path / "sg.db"
    store = Store(f"sqlite:///{path}")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    store.close()
    cfg = tmp_path / "sg.toml"
    cfg.write_text("")
    line = one_line_exit_3(run("--config", str(cfg), "--db", f"sqlite:///{path}", *command))
    assert "has schema 9999_from_the_future, newer than this sellerguard knows" in line
    assert line.endswith("; upgrade sellerguard")


@pytest.mark.parametrize("content", [b"garbage, not gzip", "cut"])
def test_corrupt_gz_import_creates_nothing(tmp_path, content):
    gz = tmp_path / "orders.jsonl.gz"
    if content == "cut":
        packed = gzip.compress(EXAMPLE.read_bytes())
        content = packed[: len(packed) // 2]
    gz.write_bytes(content)
    db = tmp_path / "new" / "sg.db"
    line = one_line_exit_3(run("--db", f"sqlite:///{db}", "import", str(gz)))
    assert line.startswith(f"Error: {gz}")
    assert not db.parent.exists()


def test_init_under_a_file(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    target = blocker / "sub" / "sg.toml"
    line = one_line_exit_3(run("--config", str(target), "init"))
    assert line == f"Error: {target}: cannot write: a file is in the way"
    assert blocker.read_text() == "x"


def test_init_into_a_missing_folder_is_refused_and_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "sg.toml"  # a mistyped --config: no stray folders (tests/test_init_folder.py)
    line = one_line_exit_3(run("--config", str(target), "init"))
    assert line.startswith(f"Error: {target}: folder {target.parent} does not exist")
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
@pytest.mark.parametrize("command", [("import", str(EXAMPLE)), ("migrate",), ("sync",)])
def test_in_memory_database_refused_for_commands_that_write(tmp_path, url, command):
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "a"\nmarketplace = "amazon"\n')
    line = one_line_exit_3(run("--config", str(cfg), "--db", url, *command))
    assert "is an in-memory database" in line


def test_database_file_and_folder_are_private(tmp_path):
    db = tmp_path / "state" / "sg.db"
    assert run("--db", f"sqlite:///{db}", "import", str(EXAMPLE)).exit_code == 0
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700
    for extra in db.parent.iterdir():  # -wal, -shm, lock files
        assert extra.stat().st_mode & 0o077 == 0, extra


def test_a_home_relative_sqlite_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = Store("sqlite:///~/sg/x.db")
    assert store.url == f"sqlite:///{tmp_path / 'sg' / 'x.db'}"
    store.close()
    assert (tmp_path / "sg" / "x.db").stat().st_mode & 0o777 == 0o600
