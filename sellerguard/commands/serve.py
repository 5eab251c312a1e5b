"""``sellerguard serve``: the read-only local dashboard (docs/dashboard.md)."""

from __future__ import annotations

import click

from sellerguard.cli import Ctx, handle_errors, pass_ctx


@click.command(name="serve")
@click.option("--host", help="Address to bind (default [dashboard] host, 127.0.0.1). Not loopback: a token is needed.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default [dashboard] port, 8765; 0 = a free one).")
@click.option("--token", envvar="SELLERGUARD_DASHBOARD_TOKEN", show_envvar=True,
              help="Require this token (also from [dashboard] token); required when not on loopback.")
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True, help="Days of trend per chart.")
@pass_ctx
@handle_errors
def command(ctx: Ctx, host: str | None, port: int | None, token: str | None, days: int) -> None:
    """Serve the dashboard: every account's level, a trend chart per metric with its threshold and forecast,
    headroom, drift, the deadline queue (overdue first) and each stream's freshness. Read-only; Ctrl-C stops.
    """
    import errno
    import os
    import socket

    from werkzeug.serving import make_server

    from sellerguard import keys
    from sellerguard.clock import SystemClock
    from sellerguard.errors import ConfigError
    from sellerguard.rules.engine import accounts_to_check
    from sellerguard.status import build_status
    from sellerguard.web.app import RequestHandler, create_app, is_loopback

    config = ctx.config
    host = host or config.dashboard.host
    port = config.dashboard.port if port is None else port
    if token is None and config.dashboard.token is not None:
        token = config.dashboard.token.reveal("[dashboard] token").get_secret_value()
    if not is_loopback(host) and not token:
        raise ConfigError(f"binding to {host} opens the dashboard to other machines: give a token (--token, "
                          "$SELLERGUARD_DASHBOARD_TOKEN or [dashboard] token)", where="serve --host")
    store = ctx.read_store
    keys.configure(store, key=config.store.key, config_path=config.source)  # stream states may be sealed
    stale = {ref.id: ref.stale_limit for ref in accounts_to_check(config, store)}
    app = create_app(store, lambda: build_status(config, store, SystemClock()), token=token or None,
                     history_days=days, stale_after=stale)
    # bound here, not by werkzeug: on a busy port it prints two lines and exits 1 (we give one line, exit 3)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family, backlog=128)
    except OSError as exc:
        busy = " (another program has it: --port or [dashboard] port)" if exc.errno == errno.EADDRINUSE else ""
        reason = os.strerror(exc.errno) if (exc.errno or 0) > 0 else str(exc.strerror).split(" (while")[0]
        raise ConfigError(f"cannot listen on {host}:{port}: {reason}{busy}", where="serve") from None
    with sock:
        server = make_server(host, port, app, threaded=True, request_handler=RequestHandler, fd=sock.fileno())
    shown = f"[{host.strip('[]')}]" if ":" in host else host  # --host [::1] or ::1
    click.echo(f"Dashboard on http://{shown}:{server.port}/ (read-only; Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
