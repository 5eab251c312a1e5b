"""`sellerguard status` as a monitoring check (issue 19): no data is never OK, every error is one line and exit 3,
the Nagios plugin format read by a real consumer's parser, a JSON document without float noise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.schema import Cancellation, Order
from sellerguard.store import Store
from sellerguard.store.tables import SyncRun

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = '[[accounts]]\nid = "amz"\nmarketplace = "amazon"\n\n[[accounts]]\nid = "eb"\nmarketplace = "ebay"\n'


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "sg.toml"
    path.write_text(CONFIG)
    return path


def fill(db: str, cancelled: int, account: str = "amz", synced: bool = True) -> None:
    store = Store(db)
    records = []
    for i in range(100):
        records.append(Order(account=account, external_id=f"o{i}", purchased_at=NOW - timedelta(days=2),
                             fulfilment="seller", status="shipped"))
        if i < cancelled:
            records.append(Cancellation(account=account, external_id=f"x{i}", order_ref=f"o{i}",
                                        cancelled_at=NOW - timedelta(days=1), initiated_by="seller"))
    store.write(records)
    if synced:
        store.record_sync(SyncRun(account=account, started_at=NOW - timedelta(minutes=10),
                                  finished_at=NOW - timedelta(minutes=9), ok=True))
    store.close()


# -- no data is never OK ---------------------------------------------------------------------------------------

def test_a_configured_account_never_synced_is_unknown_not_ok(tmp_path, cfg):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    Store(db).close()  # an existing but empty store (a monitoring user with another HOME, a fresh install)
    result = run("--config", str(cfg), "--db", db, "status", "--json", "--as-of", "2026-11-23T12:00Z")
    assert result.exit_code == 3, result.output
    doc = json.loads(result.output)
    assert doc["level"] == "unknown"
    for acc in doc["accounts"]:
        assert acc["level"] == "unknown"
        assert {m["reason"] for m in acc["metrics"]} == {"no data: never synced and nothing imported"}


def test_status_never_creates_a_database_or_its_folder(tmp_path, cfg):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = run("--config", str(cfg), "--db", f"sqlite:///{missing}", "status")
    assert result.exit_code == 3
    assert result.output.strip() == (f"Error: no database at {missing} (nothing was synced or imported there; "
                                     "check --db, $SELLERGUARD_DB or [store] url)")
    assert not (tmp_path / "nonexistent").exists()


@pytest.mark.parametrize("args", [("silence", "--list"), ("notify",), ("status", "--format", "nagios")])
def test_read_only_commands_never_create_a_database(tmp_path, args):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG + '[[notify]]\nname = "t"\ntype = "slack"\nurl = "env:X"\n')
    missing = tmp_path / "d" / "x.db"
    result = run("--config", str(cfg), "--db", f"sqlite:///{missing}", *args)
    assert result.exit_code == 3
    assert len(result.output.strip().splitlines()) == 1
    # nagios: the error is the plugin's status line on stdout (tests/test_ops_review.py)
    assert result.output.startswith("SELLERGUARD UNKNOWN - no database" if "nagios" in args else "Error: ")
    assert not missing.parent.exists()


def test_read_only_commands_never_migrate(tmp_path, cfg):
    path = tmp_path / "sg.db"
    db = f"sqlite:///{path}"
    store = Store(db)
    with store.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    store.close()
    before = path.read_bytes()
    result = run("--config", str(cfg), "--db", db, "status")
    assert result.exit_code == 3
    assert "has an older schema (0001); run `sellerguard migrate`" in result.output
    assert path.read_bytes() == before


def test_store_only_accounts_are_stale_checked(tmp_path, cfg):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    fill(db, 0, account="old-shop")  # synced once, then removed from the config (or a sandbox's account)
    store = Store(db)
    from sellerguard.schema import Account

    store.upsert_accounts([Account(id="old-shop", marketplace="amazon")])
    store.close()
    fresh = json.loads(run("--config", str(cfg), "--db", db, "status", "--json", "--account", "old-shop",
                           "--as-of", "2026-11-23T12:00Z").output)
    assert not any((m["reason"] or "").startswith("data stale") for m in fresh["accounts"][0]["metrics"])
    later = run("--config", str(cfg), "--db", db, "status", "--json", "--account", "old-shop",
                "--as-of", "2026-11-24T12:00Z")
    doc = json.loads(later.output)
    assert doc["accounts"][0]["level"] == "unknown" and later.exit_code == 3
    assert doc["accounts"][0]["metrics"][0]["reason"].startswith("data stale: last successful sync")


# -- exit codes: every error is one line and exit 3 ------------------------------------------------------------

@pytest.mark.parametrize("args", [("status", "--bogus"), ("status", "--horizon", "0"), ("nonsense",),
                                  ("status", "--format", "xml"), ("sync", "--account")])
def test_usage_errors_are_one_line_exit_3_not_2(args):
    result = run(*args)
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output


def test_usage_error_names_the_command_and_the_option():
    result = run("status", "--bogus")
    assert result.output.strip() == "Error: sellerguard status: No such option '--bogus' (see --help)"


def test_an_unexpected_exception_is_one_line_exit_3(tmp_path, cfg, monkeypatch):
    import sellerguard.status as status_mod

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(status_mod, "build_status", boom)
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    Store(db).close()
    result = run("--config", str(cfg), "--db", db, "status")
    assert result.exit_code == 3
    assert result.output.strip() == ("Error: internal error: ZeroDivisionError: division by zero "
                                     "(a bug; --log-level DEBUG shows the traceback)")


# -- Nagios plugin format --------------------------------------------------------------------------------------

def test_nagios_output_is_read_by_a_real_consumer_parser(tmp_path, cfg):
    from pynag.Utils import PerfData, PluginOutput

    db = f"sqlite:///{tmp_path / 'sg.db'}"
    fill(db, 3)  # amz: 3% pre-fulfilment cancel rate, over 2.5%: critical; eb never synced: unknown
    result = run("--config", str(cfg), "--db", db, "status", "--format", "nagios", "--as-of", "2026-11-23T12:00Z")
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    assert first.startswith("SELLERGUARD CRITICAL - 1 critical, 1 unknown of 2 accounts | ")
    parsed = PluginOutput(result.output)
    assert parsed.summary.strip() == "SELLERGUARD CRITICAL - 1 critical, 1 unknown of 2 accounts"
    assert "CRITICAL: amazon/amz" in parsed.long_output
    assert "amz/amazon.pre_fulfillment_cancel_rate = 3.00% (good if < 2.50%)" in parsed.long_output
    metrics = {m.label: m for m in PerfData(parsed.perfdata).metrics}
    assert metrics and all(m.is_valid() for m in metrics.values())
    pfcr = metrics["amz/amazon.pre_fulfillment_cancel_rate"]
    assert (pfcr.value, pfcr.uom, pfcr.warn, pfcr.crit, pfcr.min, pfcr.max) == ("3", "%", "2", "2.5", "0", "100")
    assert "eb/ebay.transaction_defect_rate" not in metrics  # no value: no sample, the long output says why


def test_nagios_ranges_alert_below_for_good_share_metrics():
    from nagiosplugin import Range

    from sellerguard.rules.report import AccountStatus, MetricStatus
    from sellerguard.status import perfdata

    m = MetricStatus(id="amazon.valid_tracking_rate", name="VTR", value=0.93, numerator=93, denominator=100,
                     window_days=30, threshold=0.95, comparator=">=", level="critical", source="https://e.org")
    acc = AccountStatus(marketplace="amazon", account="amz", level="critical", metrics=[m], deadlines=[])
    line = perfdata(acc, m)
    assert line == "'amz/amazon.valid_tracking_rate'=93%;;95:;0;100"
    crit = Range(line.split(";")[2])
    assert not crit.match(93) and crit.match(96)  # nagiosplugin: match = inside the OK range


def test_nagios_puts_a_warn_only_limit_in_the_warning_slot():
    """A limit whose crossing only warns (breach_level warn: bol's track & trace, eBay Top Rated) must not be painted
    critical by a grapher reading the perfdata; the warning band keeps its own edge (warn_comparator)."""
    from sellerguard.rules.report import AccountStatus, MetricStatus
    from sellerguard.status import perfdata

    m = MetricStatus(id="bol.missing_track_and_trace", name="T&T", value=0.0167, numerator=1, denominator=60,
                     window_days=7, threshold=0.0, comparator="<=", level="warn", breach_level="warn",
                     source="https://e.org")
    acc = AccountStatus(marketplace="bol", account="bol", level="warn", metrics=[m], deadlines=[])
    assert perfdata(acc, m) == "'bol/bol.missing_track_and_trace'=1.67%;0;;0;100"


def test_the_table_says_why_a_figure_past_its_limit_is_ok():
    """eBay: 1 of 2 orders defective is 50 %, over 2 %, but one unique buyer is under the gate of 5: OK, and the
    table's notes say why (the JSON always did)."""
    from sellerguard.rules.report import MetricStatus
    from sellerguard.status import _note

    m = MetricStatus(id="ebay.transaction_defect_rate", name="TDR", value=0.5, numerator=1, denominator=2,
                     window_days=90, threshold=0.02, comparator="<=", level="ok", confirmed=True,
                     reason="rate over the limit but only 1 unique buyer (gate 5): not a breach", source="https://e.org")
    assert _note(m) == f"ebay.transaction_defect_rate: {m.reason}"
    within = m.model_copy(update={"value": 0.01, "reason": None})
    assert _note(within) is None


def test_nagios_without_accounts_is_unknown(tmp_path):
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    Store(db).close()
    result = run("--config", str(cfg), "--db", db, "status", "--format", "nagios")
    assert result.exit_code == 3
    assert result.output.startswith("SELLERGUARD UNKNOWN - no accounts")


# -- JSON --------------------------------------------------------------------------------------------------------

def test_json_has_a_level_and_integer_counts_without_float_noise(tmp_path, cfg):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    fill(db, 3)
    result = run("--config", str(cfg), "--db", db, "status", "--json", "--as-of", "2026-11-23T12:00Z")
    assert result.exit_code == 2
    assert '"numerator": 3,' in result.output and '"denominator": 100,' in result.output
    doc = json.loads(result.output)
    assert list(doc)[:2] == ["as_of", "level"] and doc["level"] == "critical"
    pfcr = next(m for m in doc["accounts"][0]["metrics"] if m["id"] == "amazon.pre_fulfillment_cancel_rate")
    assert pfcr["value"] == 0.03 and isinstance(pfcr["numerator"], int)

    def floats(node):
        if isinstance(node, float):
            yield node
        elif isinstance(node, dict):
            for v in node.values():
                yield from floats(v)
        elif isinstance(node, list):
            for v in node:
                yield from floats(v)

    for value in floats(doc):
        assert value == float(f"{value:.12g}"), value  # at most 12 significant digits: 0.030000000000000002 is noise


def test_migrate_upgrades_what_status_refuses(tmp_path, cfg):
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    result = run("--db", db, "migrate")
    assert result.exit_code == 0 and "is at schema" in result.output
    assert run("--config", str(cfg), "--db", db, "status", "--json").exit_code == 3  # never synced: unknown


# -- the table where people read it ------------------------------------------------------------------------------

LONG_REF = "114-9876543-2109876-LONG-ORDER-REFERENCE"


def _with_deadlines(tmp_path, count: int = 30):
    cfg = tmp_path / "sg.toml"
    cfg.write_text(CONFIG)
    db = f"sqlite:///{tmp_path / 'sg.db'}"
    fill(db, 3)
    store = Store(db)
    store.write([Order(account="amz", external_id=f"{LONG_REF}-{i:02d}", purchased_at=NOW - timedelta(days=2),
                       ship_by=NOW + timedelta(hours=i - 2), fulfilment="seller", status="unshipped")
                 for i in range(count)])
    store.close()
    return cfg, db


@pytest.mark.parametrize("columns", ["80", "100"])
def test_narrow_terminal_gets_a_compact_layout_that_cuts_nothing(tmp_path, columns):
    cfg, db = _with_deadlines(tmp_path)
    result = run("--config", str(cfg), "--db", db, "status", "--as-of", "2026-11-23T12:00Z", "--all",
                 env={"COLUMNS": columns, "NO_COLOR": "1"})
    assert result.exit_code == 2
    out = result.output
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= int(columns)
    assert "amazon.pre_fulfillment_cancel_rate" in out and "amazon.late_shipment_rate_10d" in out
    for i in range(30):
        assert f"{LONG_REF}-{i:02d}" in out  # whole, on one line


def test_past_due_deadlines_say_overdue_in_text(tmp_path):
    cfg, db = _with_deadlines(tmp_path, count=5)
    for columns in ("80", "160"):
        out = run("--config", str(cfg), "--db", db, "status", "--as-of", "2026-11-23T12:00Z",
                  env={"COLUMNS": columns, "NO_COLOR": "1"}).output
        overdue = [line for line in out.splitlines() if "OVERDUE" in line]
        assert len(overdue) == 3, out  # due 10:00, 11:00 and 12:00 (due at as_of counts)
        assert "2026-11-23 13:00 OVERDUE" not in out


def test_deadline_queue_limit_and_all(tmp_path):
    cfg, db = _with_deadlines(tmp_path, count=30)
    base = ["--config", str(cfg), "--db", db, "status", "--as-of", "2026-11-23T12:00Z"]
    wide = {"COLUMNS": "160", "NO_COLOR": "1"}
    default = run(*base, env=wide).output
    assert f"{LONG_REF}-19" in default and f"{LONG_REF}-20" not in default
    assert "10 more: --all (or --limit N) shows them" in default
    five = run(*base, "--limit", "5", env=wide).output
    assert f"{LONG_REF}-04" in five and f"{LONG_REF}-05" not in five and "25 more" in five
    every = run(*base, "--all", env=wide).output
    assert f"{LONG_REF}-29" in every and "more:" not in every
    assert "…" not in every
