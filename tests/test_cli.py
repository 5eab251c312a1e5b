"""The CLI contract: exact one-line errors and exit codes (monitoring scripts rely on them)."""

from pathlib import Path

from click.testing import CliRunner

from sellerguard import __version__
from sellerguard.cli import cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "canonical-1000.jsonl"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version():
    assert run("--version").output.strip() == f"sellerguard, version {__version__}"


def test_every_command_has_help():
    for command in cli.commands:
        result = run(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage:" in result.output


def test_init_writes_a_loadable_config_and_refuses_to_overwrite(tmp_path):
    cfg = tmp_path / "sg.toml"
    assert run("--config", str(cfg), "init").exit_code == 0
    assert cfg.stat().st_mode & 0o077 == 0  # it may hold account ids: owner-only
    again = run("--config", str(cfg), "init")
    assert again.exit_code == 3
    assert again.output.strip() == f"Error: {cfg}: already exists; pass --force to overwrite it"


def test_import_twice_then_bad_file(tmp_path):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    first = run("--db", db, "import", str(EXAMPLE))
    assert first.exit_code == 0
    assert "Imported 1000 records from 1 file(s): 1000 new or changed, 0 unchanged." in first.output
    second = run("--db", db, "import", str(EXAMPLE))
    assert "0 new or changed, 1000 unchanged" in second.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "order"}\n')
    result = run("--db", db, "import", str(bad))
    assert result.exit_code == 3
    assert result.output.strip().startswith(f"Error: {bad}:1: ")


def test_broken_config_is_one_line_exit_3(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "a"\nmarketplace = "amazon"\nregoin = "na"\n')
    result = run("--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "sync")
    assert result.exit_code == 3
    assert result.output.strip() == f"Error: {cfg}: accounts[a].regoin: Extra inputs are not permitted"


def test_sync_without_accounts_says_what_to_do(tmp_path):
    cfg = tmp_path / "sg.toml"
    cfg.write_text("")
    result = run("--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "sync")
    assert result.exit_code == 3
    assert "no accounts configured" in result.output


def test_run_once_exits_3_when_a_channel_failed(tmp_path, monkeypatch):
    monkeypatch.delenv("SG_NOPE", raising=False)
    cfg = tmp_path / "sg.toml"
    cfg.write_text('[[accounts]]\nid = "wm"\nmarketplace = "walmart"\n'
                   'credentials = { client_id = "env:SG_NOPE", client_secret = "env:SG_NOPE" }\n')
    result = run("--config", str(cfg), "--db", f"sqlite:///{tmp_path / 'x.db'}", "run", "--once")
    assert result.exit_code == 3
    assert "Error: sync:wm: " in result.output and "environment variable SG_NOPE is not set" in result.output


def test_unknown_marketplace_and_bad_options_fail_at_load_naming_the_file(tmp_path):
    cfg = tmp_path / "sg.toml"
    db = f"sqlite:///{tmp_path / 'x.db'}"
    cfg.write_text('[[accounts]]\nid = "a"\nmarketplace = "amazn"\n')
    result = run("--config", str(cfg), "--db", db, "status")
    assert result.exit_code == 3
    assert result.output.startswith(f"Error: {cfg}: accounts[a].marketplace: unknown marketplace 'amazn' (known: ")
    cfg.write_text('[[accounts]]\nid = "b"\nmarketplace = "bol"\noptions = { nonsense = 1 }\n')
    result = run("--config", str(cfg), "--db", db, "sync")
    assert result.exit_code == 3
    assert result.output.strip() == f"Error: {cfg}: accounts[b].options: nonsense: Extra inputs are not permitted"
