"""``sellerguard check [ACCOUNT]``: will each account sync? One line per finding, problems with what to do."""

from __future__ import annotations

import sys
from typing import Any

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx

_MARK = {"ok": "ok     ", "warn": "WARN   ", "problem": "PROBLEM"}


def run_checks(ctx: Ctx, accounts: list[Any], *, stream_pages: bool = True) -> int:
    """Check ``accounts`` and print the findings; returns the exit code (0 ok, 1 warnings, 2 problems)."""
    from sellerguard.clock import SystemClock
    from sellerguard.preflight import check_account

    clock = SystemClock()
    worst = 0
    for acc in accounts:
        findings = check_account(acc, ctx.store, clock, pages=stream_pages)
        problems = sum(f.level == "problem" for f in findings)
        warns = sum(f.level == "warn" for f in findings)
        verdict = "problems: the next sync will fail where marked" if problems else \
            "ready, with warnings" if warns else "ready to sync"
        click.echo(f"{acc.id} ({acc.marketplace}): {verdict}")
        for f in findings:
            click.echo(f"  {_MARK[f.level]} {f.topic}: {f.text}")
        worst = max(worst, 2 if problems else 1 if warns else 0)
    return worst


@click.command()
@click.argument("account_id", required=False, metavar="[ACCOUNT]")
@pass_ctx
@handle_errors
def command(ctx: Ctx, account_id: str | None) -> None:
    """Check each account before it syncs: credentials, token, scopes per stream, clock skew, one page per
    stream, and how long the credentials last.

    Exit code: 0 ready, 1 warnings (e.g. a refresh token expiring within 30 days), 2 problems (the next sync
    fails), 3 error.
    """
    from sellerguard.consent import did_you_mean
    from sellerguard.errors import ConfigError

    config = ctx.config
    accounts = [a for a in config.accounts if a.enabled]
    if account_id is not None:
        accounts = [a for a in config.accounts if a.id == account_id]
        if not accounts:
            from sellerguard.alerts.silences import known_accounts

            # an account known only from `import` has no credentials to check: say so, not "no account"
            if account_id in known_accounts(config, ctx.db_url):
                raise ConfigError(f"account '{account_id}' exists only through `import` (no marketplace connection "
                                  "in the config): nothing to check; `sellerguard init --marketplace NAME` connects it",
                                  where="check")
            raise ConfigError(f"no account '{account_id}' in the config"
                              f"{did_you_mean(account_id, [a.id for a in config.accounts])}", where="check")
    if not accounts:
        raise ConfigError("no accounts configured (run `sellerguard init --marketplace NAME`)",
                          where=str(config.source or "config"))
    sys.exit(run_checks(ctx, accounts))
