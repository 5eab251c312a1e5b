"""Bad input to the commands added in issue 21-25 (chart, backtest, history, rollups, worker, status options):
one line ``Error: <where>: <what>``, exit 3, no traceback, nothing created. One small store for all cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sellerguard.cli import cli
from sellerguard.schema import Account, Order


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from sellerguard.store import Store

    folder = tmp_path_factory.mktemp("bad-input")
    url = f"sqlite:///{folder / 'sg.db'}"
    store = Store(url)
    store.upsert_accounts([Account(id="shop", marketplace="ebay")])
    store.write([Order(account="shop", external_id="o1", purchased_at=datetime.now(UTC) - timedelta(days=3),
                       fulfilment="seller", status="shipped")])
    store.close()
    (folder / "empty.toml").write_text("")
    (folder / "typo.toml").write_text('[[acounts]]\nid = "x"\n')
    return folder, url


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("sg.db"))


CASES = [
    (["chart", "shop", "m", "--days", "0"], "Error: sellerguard chart: Invalid value for '--days'"),
    (["chart", "shop", "m", "--days", "-1"], "Error: sellerguard chart: Invalid value for '--days'"),
    (["chart", "shop", "m", "--days", str(10**9)], "Error: sellerguard chart: Invalid value for '--days'"),
    (["chart", "shop", "m", "--days", "nan"], "Error: sellerguard chart: Invalid value for '--days'"),
    (["chart", "shop", "m", "-o", "x.pdf"], "Error: x.pdf: the picture must end in .png or .svg"),
    (["chart", "shpo", "m"], "Error: chart: no history for shpo / m"),
    (["backtest", "--from", "2026-13-01"], "Error: --from: not a date (YYYY-MM-DD): '2026-13-01'"),
    (["backtest", "--from", "2026-11-01T00:00"], "Error: --from: not a date"),
    (["backtest", "--from", "2026-11-20", "--to", "2026-11-01"], "Error: --from: --from 2026-11-20 is after --to"),
    (["backtest", "--from", "0001-01-01", "--to", "0001-01-20"], "Error: --from: --from 0001-01-01 is before 1970"),
    (["backtest", "--to", "9999-12-31"], "Error: --to: --to 9999-12-31 is after today"),
    (["backtest", "--horizon", "nan"], "Error: sellerguard backtest: Invalid value for '--horizon'"),
    (["backtest", "--account", "shpo"], "Error: --account: no account shpo in the config or the store"),
    (["history", "backfill", "--days", "0"], "Error: sellerguard history backfill: Invalid value for '--days'"),
    (["history", "backfill", "--account", "shpo"], "(did you mean 'shop'?)"),
    (["rollups", "rebuild", "--account", "shpo"], "Error: --account: no account shpo in the store (did you mean "
                                                  "'shop'?)"),
    (["status", "--since", "yesterday"], "Error: --since: expected a duration"),
    (["status", "--since", "2026-11-01T00:00"], "Error: --since: expected a duration"),
    (["status", "--format", "xml"], "Error: sellerguard status: Invalid value for '--format'"),
    (["serve", "--port", "99999"], "Error: sellerguard serve: Invalid value for '--port'"),
    (["serve", "--host", "0.0.0.0"], "Error: serve --host: binding to 0.0.0.0 opens the dashboard"),
    (["worker"], "Error: --db: workers need a PostgreSQL store (this one is sqlite)"),
]


@pytest.mark.parametrize(("args", "line"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_line_exit_3(db: tuple[Path, str], args: list[str], line: str) -> None:
    folder, url = db
    before = _files(folder)
    result = CliRunner().invoke(cli, ["--config", str(folder / "empty.toml"), "--db", url, *args])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 3 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert line in lines[0]
    assert "Traceback" not in result.output
    assert _files(folder) == before  # nothing written beside the store (its lock and WAL files aside)


@pytest.mark.parametrize("args", [["chart", "a", "m"], ["backtest"], ["history", "backfill"], ["history", "prune"],
                                  ["rollups", "rebuild"], ["serve"], ["worker"], ["check"]])
def test_missing_database_or_bad_config_is_one_line(db: tuple[Path, str], tmp_path: Path, args: list[str]) -> None:
    folder, _ = db
    for prefix, expected in (
            (["--config", str(folder / "typo.toml")],
             "typo.toml: acounts: Extra inputs are not permitted (did you mean 'accounts'?)"),
            (["--config", str(folder / "empty.toml"), "--db", f"sqlite:///{tmp_path / 'no.db'}"], "")):
        result = CliRunner().invoke(cli, [*prefix, *args])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 3 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert expected in lines[0]
    assert not (tmp_path / "no.db").exists()


@pytest.mark.parametrize(("toml", "line"), [
    ('[[acounts]]\nid = "x"\n', "acounts: Extra inputs are not permitted (did you mean 'accounts'?)"),
    ('[[notify]]\nname = "m"\ntype = "email"\nsender = "a@x.org"\nto = ["b@y.org"]\nsmtp = { hots = "h" }\n',
     "notify[m].smtp.hots: Extra inputs are not permitted (did you mean 'host'?)"),
])
def test_a_misspelt_config_key_names_the_closest_one(toml: str, line: str) -> None:
    import tomllib

    from sellerguard.config import parse_config
    from sellerguard.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(toml), "c.toml")
    assert str(caught.value).startswith(f"c.toml: {line}")


def test_a_locked_database_is_one_line_not_a_bug(db: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def locked(*_: object) -> int:  # what SQLite raises after busy_timeout (10 s) behind another writer
        raise OperationalError("DELETE FROM metric_history", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr("sellerguard.history.record.prune_older_than", locked)
    folder, url = db
    result = CliRunner().invoke(cli, ["--config", str(folder / "empty.toml"), "--db", url, "history", "prune"])
    assert result.exit_code == 3, result.output
    assert result.output.startswith("Error: database: locked by another process") and "bug" not in result.output
    assert len(result.output.strip().splitlines()) == 1
