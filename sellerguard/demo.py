"""``sellerguard demo``: the real connectors against the loopback sandbox, with no marketplace account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sellerguard import connectors
from sellerguard.config import Config, parse_config
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


def write_config_file(sandbox: Sandbox, path: Path) -> None:
    """Write the demo config as TOML (its credentials only open the loopback sandbox: not secrets)."""
    import tomli_w

    write_text_atomic(path, tomli_w.dumps({"accounts": demo_accounts(sandbox)}))
