"""``sellerguard connect ACCOUNT``: the marketplace's consent in the browser, the tokens kept by reference."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx

if TYPE_CHECKING:
    from sellerguard.config import AccountConfig, Config


def _params(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        out[key] = value
    return out


@click.command()
@click.argument("account_id", metavar="ACCOUNT")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Loopback port of the redirect listener (0: any free port, for test hosts).")
@click.option("--redirect-uri", help="A registered https redirect URL instead of the loopback listener: paste the "
                                     "address the browser lands on.")
@click.option("--no-browser", is_flag=True, help="Print the consent URL instead of opening a browser.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=300, show_default=True,
              help="Seconds to wait for the consent.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Extra authorize parameter (e.g. Amazon draft apps: version=beta).")
@pass_ctx
@handle_errors
def command(ctx: Ctx, account_id: str, port: int, redirect_uri: str | None, no_browser: bool, timeout: float,
            params: tuple[str, ...]) -> None:
    """Authorize sellerguard for ACCOUNT in the browser and keep the credential by reference.

    Runs the marketplace's authorization-code consent (with PKCE where the marketplace takes it) through a
    listener on 127.0.0.1, checks the state, stores the refresh token (Shopify: the offline access token) in a
    0600 file beside the config, and points the account's credentials at it. Walmart and bol.com use client
    credentials: connect says so and verifies them. Prints scopes and expiry, never a token.
    """
    import webbrowser

    from sellerguard import authflow
    from sellerguard.clock import SystemClock
    from sellerguard.consent import provider
    from sellerguard.errors import ConfigError

    config = ctx.config
    acc = _account(config, account_id)
    p = provider(acc.marketplace)
    if p.grant == "client_credentials":
        click.echo(f"{acc.id}: {p.name} uses client credentials (client id and secret): there is no consent to "
                   "give. Verifying them:")
        from sellerguard.commands.check import run_checks

        sys.exit(run_checks(ctx, [acc], stream_pages=False))
    if config.source is None:
        raise ConfigError("connect edits the config file: give --config or write one with `sellerguard init`",
                          where="connect")
    clock = SystemClock()

    def show(url: str) -> None:
        click.echo(f"Open this address to authorize sellerguard on {p.name}:\n  {url}", err=True)
        if not no_browser:
            webbrowser.open(url)

    def paste() -> str:
        return click.prompt("Paste the address the browser was redirected to", err=True)

    if redirect_uri is None and port:
        click.echo(f"Waiting for the redirect on http://localhost:{port}/callback (register this URL with the app).",
                   err=True)
    _, credential, grant = authflow.run(acc, port=port, open_browser=show, now=clock.now, timeout_s=timeout,
                                        extra=_params(params), paste=paste if redirect_uri else None,
                                        redirect_uri=redirect_uri)
    path = authflow.save(config.source, ctx.store, acc, credential, grant, clock.now())
    scopes = ", ".join(grant.scopes) or "-"
    click.echo(f"{acc.id}: connected to {p.name}" + (f" as seller {grant.seller}" if grant.seller else "") + ".")
    click.echo(f"  scopes: {scopes}")
    if grant.access_expires_at is not None:
        click.echo(f"  access token: expires {grant.access_expires_at:%Y-%m-%d %H:%M} UTC (renewed at each sync)")
    what = "refresh token" if p.produces == "refresh_token" else "access token"
    when = f"expires {grant.expires_at:%Y-%m-%d} (re-run connect before then)" if grant.expires_at else \
        "does not expire"
    click.echo(f"  {what}: stored in {path} (0600), {when}")
    click.echo(f"  config: accounts[{acc.id}].credentials.{p.produces} = \"file:{path}\"")
    click.echo(f"Next: `sellerguard check {acc.id}`, then `sellerguard sync`.")


def _account(config: Config, account_id: str) -> AccountConfig:
    from sellerguard.consent import did_you_mean
    from sellerguard.errors import ConfigError

    ids = [a.id for a in config.accounts]
    for acc in config.accounts:
        if acc.id == account_id:
            return acc
    raise ConfigError(f"no account '{account_id}' in the config{did_you_mean(account_id, ids)}"
                      " (add one with `sellerguard init --marketplace NAME`)", where="connect")
