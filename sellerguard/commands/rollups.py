"""``sellerguard rollups``: the day rollups status reads (issue 21), rebuilt from the records on demand."""

from __future__ import annotations

import click

from sellerguard.cli import Ctx, err_console, handle_errors, pass_ctx


@click.group()
def command() -> None:
    """Day rollups of the metric populations (kept at every sync and import; see docs/performance.md)."""


@command.command("rebuild")
@click.option("--account", "accounts", multiple=True, metavar="ID", help="Only this account (repeatable).")
@pass_ctx
@handle_errors
def rebuild(ctx: Ctx, accounts: tuple[str, ...]) -> None:
    """Recompute the rollups from the stored records, one transaction per account.

    Needed only after records were written outside sellerguard (plain SQL) or to drop rollups of metrics a
    pack no longer has; status is exact without it (days not rolled up are read from the records).
    """
    from sellerguard.consent import did_you_mean
    from sellerguard.errors import ConfigError
    from sellerguard.rules import rollup

    store = ctx.existing_store
    if accounts:
        from sqlalchemy import select

        from sellerguard.store.tables import AccountRow

        with store.session() as session:
            known = {a for a, in session.execute(select(AccountRow.id))}
        if missing := sorted(set(accounts) - known):
            raise ConfigError(f"no account {', '.join(missing)} in the store"
                              f"{did_you_mean(missing[0], sorted(known))}", where="--account")
    done = rollup.rebuild(store, list(accounts) or None)
    for account, days in done.items():
        err_console.print(f"{account}: {days} day rows", markup=False, highlight=False)
    err_console.print(f"rebuilt the rollups of {len(done)} account(s)", markup=False, highlight=False)
