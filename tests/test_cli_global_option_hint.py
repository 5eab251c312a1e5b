"""A global option typed after the command (``sellerguard init --config X``, as newcomers type it) says where it
goes; any other unknown option keeps the plain "(see --help)"."""

from __future__ import annotations

from click.testing import CliRunner

from sellerguard.cli import cli


def test_a_global_option_after_the_command_is_explained():
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--config", "/nonexistent/x.toml"])
    assert result.exit_code == 3
    assert "--config is a global option: put it before the command, e.g. sellerguard --config ... init" in result.output
    other = runner.invoke(cli, ["init", "--bogus"])
    assert other.exit_code == 3 and "No such option '--bogus' (see --help)" in other.output
