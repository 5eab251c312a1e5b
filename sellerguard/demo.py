"""``sellerguard demo``: the real connectors against the loopback sandbox, with no marketplace account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sellerguard import connectors
from sellerguard.config import Config, parse_config
from sellerguard.errors import ConfigError
from sellerguard.sandbox import Sandbox
from sellerguard.starter import write_text_atomic


def demo_accounts(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Config entries pointing the real connectors at the running sandbox.

    Only marketplaces with both a connector and sandbox routes appear, so a half-built one never fakes output.
    """
    known = connectors.registry()
    accounts = []
    for acc in sandbox.world.accounts.values():
        module = known.get(acc.marketplace)
        if module is None or acc.marketplace not in sandbox.marketplaces:
            continue
        entry = module.sandbox_account(sandbox.base_url(acc.marketplace), acc.id)
        entry.setdefault("id", acc.id)
        entry.setdefault("marketplace", acc.marketplace)
        entry.setdefault("display_name", acc.display_name)
        entry.setdefault("sync_every", "5m")
        accounts.append(entry)
    return accounts


def demo_config(sandbox: Sandbox, *, extra: dict[str, Any] | None = None) -> Config:
    return parse_config({"accounts": demo_accounts(sandbox), **(extra or {})}, where="demo config")


def invoked_as(argv0: str | None = None) -> str:
    """How to type this program again: ``sellerguard`` when that is on PATH (or not run by its script), else the
    path as typed: the README runs ``.venv/bin/sellerguard demo`` without activating the venv."""
    import os
    import shlex
    import shutil
    import sys

    argv0 = sys.argv[0] if argv0 is None else argv0
    if Path(argv0).name != "sellerguard" or os.sep not in argv0:  # python -m, a test runner, or found on PATH
        return "sellerguard"
    found = shutil.which("sellerguard")
    if found and Path(found).resolve() == Path(argv0).resolve():
        return "sellerguard"
    return shlex.quote(argv0)


def dashboard_hint(db_url: str, *, kept: bool, program: str | None = None) -> str:
    """The demo's last lines: how to open the dashboard (``sellerguard serve``) on the demo store, with the
    program named as the user can type it (``invoked_as``)."""
    sg = program or invoked_as()
    if kept:
        return (f"Open the dashboard on this store: {sg} --db {db_url} serve, then http://127.0.0.1:8765/\n"
                f"(a trend per metric: {sg} --db {db_url} history backfill --days 30 first)")
    return (f"See it in the dashboard: {sg} demo --keep, then {sg} --db "
            "sqlite:///$PWD/sellerguard-demo.db serve and open http://127.0.0.1:8765/")


SANDBOX_PREFIX = "sandbox-"  # config ids of sandbox accounts: never those of a real config (amazon-us, ...)


def sandbox_config_data(sandbox: Sandbox, path: Path) -> dict[str, Any]:
    """The config ``sandbox --write-config`` writes: its own SQLite store beside the file, prefixed account ids.

    The store keeps the sandbox's fake accounts out of the seller's real (default) database; the ids cannot
    collide with a real config's. Credentials only open the loopback sandbox: they are not secrets.
    """
    accounts = []
    for entry in demo_accounts(sandbox):
        accounts.append({**entry, "id": SANDBOX_PREFIX + entry["id"]})
    store = path.resolve().with_suffix(".db")
    if store == path.resolve():  # the config itself is named *.db: never point the store at the TOML file
        store = store.with_suffix(".sandbox.db")
    return {"store": {"url": f"sqlite:///{store}"}, "accounts": accounts}


def check_writable(path: Path, *, force: bool) -> None:
    """Refuse to overwrite an existing file (or to write under a file) before anything starts."""
    if path.exists() and not force:
        raise ConfigError("already exists; pass --force to overwrite it", where=str(path))
    if path.is_dir():
        raise ConfigError("is a folder", where=str(path))
    from sellerguard.starter import check_config_folder

    check_config_folder(path)  # a config at a path you give goes into an existing folder, as `init` (one line)
    for parent in path.resolve().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"cannot write here: {parent} is a file, not a folder", where=str(path))
            break


def write_config_file(sandbox: Sandbox, path: Path, *, force: bool = False) -> None:
    """Write the sandbox config as TOML (see ``sandbox_config_data``); never overwrites without ``force``."""
    import tomli_w

    check_writable(path, force=force)
    write_text_atomic(path, tomli_w.dumps(sandbox_config_data(sandbox, path)))
