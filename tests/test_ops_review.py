"""Findings of a newcomer/ops review of issue 19 and issue 18 kind 7, each as a regression test."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from rich.console import Console

from sellerguard.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_exit_3(result) -> str:
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize("args, where", [([], "sellerguard"), (["account"], "sellerguard account"),
                                         (["keys"], "sellerguard keys")])
def test_a_group_without_its_command_is_one_line_exit_3(args, where):
    # click >= 8.2 raises NoArgsIsHelpError, whose message is the whole help text: it was squeezed into one
    # 1,000-character "Error:" line. A monitoring check that forgot `status` must still not read OK.
    line = one_line_exit_3(run(*args))
    assert line.startswith(f"Error: {where}: missing command (")
    assert line.endswith("; see --help)") and len(line) < 300  # the command names, not the whole help
    assert "Usage:" not in line


def test_a_bare_path_as_db_says_how_to_write_the_url(tmp_path):
    path = tmp_path / "typo.db"
    line = one_line_exit_3(run("--db", str(path), "status"))
    assert line == f"Error: cannot use database '{path}': not a database URL; for a SQLite file give sqlite:///{path}"
    assert "unparseable" not in line and not path.exists()


def test_a_url_like_db_that_may_hold_a_password_is_never_echoed(tmp_path):
    line = one_line_exit_3(run("--db", "admin:hunter2@dbhost/sg", "status"))
    assert "hunter2" not in line


def _report_with_a_long_line():
    from sellerguard.rules.report import AccountStatus, MetricStatus, StatusReport

    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    metric = MetricStatus(id="amazon.pre_fulfillment_cancel_rate", name="Pre-fulfilment Cancel Rate", value=0.0319,
                          numerator=6, denominator=188, window_days=7, window_start=now - timedelta(days=7),
                          window_end=now, threshold=0.025, warn=0.02, comparator="<", level="critical",
                          reason="threshold crossed and a reason long enough to wrap on an 80-column terminal too",
                          headroom=-53, source="https://example.com/policy")
    acc = AccountStatus(marketplace="amazon", account="amz", level="critical", last_sync=now, metrics=[metric],
                        deadlines=[])
    return StatusReport(as_of=now, accounts=[acc])


def test_compact_layout_wraps_under_its_metric_not_at_column_0():
    from sellerguard.status import render_status

    console = Console(width=60, record=True, color_system=None, file=io.StringIO())
    console.print(render_status(_report_with_a_long_line(), width=60))
    lines = console.export_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "amazon.pre_fulfillment_cancel_rate" in line)
    below = [line for line in lines[first + 1:] if line.strip()]
    assert len(below) >= 3  # the figures and the reason wrap at 60 columns
    assert all(line.startswith(" " * 11) for line in below), lines


@pytest.mark.parametrize("extra, what", [([], "no database at"), (["--as-of", "nope"], "--as-of: not a date")])
def test_nagios_format_reports_errors_as_an_unknown_status_line_on_stdout(tmp_path, extra, what):
    # Nagios 4 and Checkmk's MRPE read only stdout: an "Error:" line on stderr left the check with no output.
    db, cfg = tmp_path / "nope.db", tmp_path / "sg.toml"
    cfg.write_text("")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "--db", f"sqlite:///{db}",
                                      "status", "--format", "nagios", *extra], catch_exceptions=False)
    assert result.exit_code == 3
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("SELLERGUARD UNKNOWN - ") and what in lines[0], lines
    assert "|" not in lines[0] and not db.exists()


def test_sandbox_config_named_dot_db_never_uses_itself_as_the_store(tmp_path):
    # `sandbox --write-config conf.db` pointed [store] url at conf.db, the TOML file itself
    from sellerguard.demo import sandbox_config_data
    from sellerguard.sandbox import Sandbox

    path = tmp_path / "conf.db"
    with Sandbox() as box:
        data = sandbox_config_data(box, path)
    assert data["store"]["url"] == f"sqlite:///{tmp_path.resolve() / 'conf.sandbox.db'}"


def test_a_wal_database_in_a_read_only_folder_says_why_status_cannot_read_it(tmp_path, monkeypatch):
    # A WAL database cannot be read where the reader may not create <db>-shm (SQLite's rule): the bare driver
    # message was "attempt to write a readonly database" for a command that only reads. Root may write anywhere,
    # so the driver's refusal and the folder's permission are simulated here.
    import os

    from sqlalchemy.exc import OperationalError

    from sellerguard.store import Store

    path = tmp_path / "sg.db"
    Store(f"sqlite:///{path}").engine.dispose()

    def refuse(self):
        raise OperationalError("PRAGMA journal_mode=WAL", {}, Exception("attempt to write a readonly database"))

    real_access = os.access
    monkeypatch.setattr("sellerguard.store.db.Store.schema_version", refuse)
    monkeypatch.setattr("sellerguard.store.db.os.access",
                        lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    line = one_line_exit_3(run("--db", f"sqlite:///{path}", "status"))
    assert f"SQLite needs write access to the folder {tmp_path} even to read" in line


def test_a_never_synced_account_has_no_perfdata_sample(tmp_path):
    # eBay's transaction count evaluated to 0 over no data at all and was graphed as a real 0
    from sellerguard.store import Store

    cfg, db = tmp_path / "sg.toml", tmp_path / "sg.db"
    cfg.write_text('[[accounts]]\nid = "never"\nmarketplace = "ebay"\n')
    Store(f"sqlite:///{db}").engine.dispose()
    result = run("--config", str(cfg), "--db", f"sqlite:///{db}", "status", "--format", "nagios")
    assert result.exit_code == 3
    first = result.output.splitlines()[0]
    assert first == "SELLERGUARD UNKNOWN - 1 unknown of 1 accounts", first
    assert "UNKNOWN: never/ebay.top_rated_min_transactions" in result.output


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "1e9"])
def test_sandbox_scale_must_be_a_sane_positive_number(value):
    # --scale nan was an internal error (NaN passes range checks); -1 served a world with negative volume
    line = one_line_exit_3(run("sandbox", "--scale", value))
    assert line.startswith("Error: sellerguard sandbox: Invalid value for '--scale'")


def test_every_folder_created_for_a_new_database_is_0700(tmp_path):
    # only the innermost folder was 0700; the ones above it got the umask's 0755
    import os

    old = os.umask(0o022)
    try:
        result = run("--db", f"sqlite:///{tmp_path / 'a' / 'b' / 'sg.db'}", "migrate")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert [oct((tmp_path / p).stat().st_mode & 0o777) for p in ("a", "a/b")] == ["0o700", "0o700"]
    assert oct((tmp_path / "a" / "b" / "sg.db").stat().st_mode & 0o777) == "0o600"
