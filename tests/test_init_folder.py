"""``init`` creates only the per-user default config folder; a path the user gave must be in an existing folder.

A mistyped ``--config`` (or ``$SELLERGUARD_CONFIG``) used to create the whole missing tree silently, leaving a config
no later command finds. Now: one line naming the folder, exit 3, nothing created. The default folder
(``~/.config/sellerguard`` on a new machine) is still created, 0700 (docs/cli.md, docs/getting-started.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sellerguard import starter
from sellerguard.cli import cli


def _run(args: list[str], env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The per-user config folder of this test: missing, two levels deep."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))  # platformdirs reads it (Linux)
    monkeypatch.delenv("SELLERGUARD_CONFIG", raising=False)
    folder = starter.user_config_dir()
    assert folder == tmp_path / "home" / ".config" / "sellerguard"  # never the real home
    return folder


@pytest.mark.parametrize("how", ["--config", "env", "--marketplace"])
def test_a_given_path_in_a_missing_folder_is_one_line_and_exit_3(tmp_path, how):
    target = tmp_path / "confg" / "sellerguard.toml"  # a typo of an existing folder's name
    (tmp_path / "config").mkdir()
    args, env = (["--config", str(target), "init"], None) if how == "--config" else (["init"], None)
    if how == "env":
        env = {"SELLERGUARD_CONFIG": str(target)}
    if how == "--marketplace":
        args = ["--config", str(target), "init", "--marketplace", "bol"]
    result = _run(args, env)
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert lines == [f"Error: {target}: folder {target.parent} does not exist: create it first (mkdir -p "
                     f"{target.parent}) or give another --config; only the default config folder is created for you"]
    assert not target.parent.exists()


def test_the_default_folder_is_created_owner_only(_home):
    result = _run(["init"])
    assert result.exit_code == 0, result.output
    written = _home / "sellerguard.toml"
    assert result.output.startswith(f"Wrote {written}.") and written.is_file()
    assert _home.stat().st_mode & 0o777 == 0o700 and _home.parent.stat().st_mode & 0o077 == 0


def test_an_existing_folder_and_a_file_in_the_way_are_unchanged(tmp_path):
    assert _run(["--config", str(tmp_path / "sg.toml"), "init"]).exit_code == 0
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = _run(["--config", str(blocker / "sub" / "sg.toml"), "init"])
    assert result.exit_code == 3 and "cannot write: a file is in the way" in result.output


def test_sandbox_write_config_follows_the_same_rule(tmp_path):
    target = tmp_path / "missing" / "sandbox.toml"
    result = _run(["sandbox", "--write-config", str(target)])
    assert result.exit_code == 3 and f"folder {target.parent} does not exist" in result.output
    assert not target.parent.exists()
