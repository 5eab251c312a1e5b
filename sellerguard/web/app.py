"""``sellerguard serve``: the dashboard as a Flask app; GET only, no write action anywhere.

Access: the server binds to loopback unless configured otherwise; bound elsewhere it needs a token, given once as
``?token=...`` (then kept in an HttpOnly cookie, and the address is cleaned of it) or as ``Authorization: Bearer``.
Without a token it answers only requests addressed to a loopback name (a DNS-rebinding guard).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, redirect, render_template, request
from werkzeug.serving import WSGIRequestHandler

from sellerguard.rules.report import StatusReport
from sellerguard.store import Store

COOKIE = "sellerguard_token"
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*", re.I)


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler whose access log masks ``?token=`` (a right or near-right token is a secret)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        super().log(type, message, *(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in args))


def is_loopback(host: str) -> bool:
    """``host`` (a name or an address, IPv6 with or without brackets) is this machine only."""
    import ipaddress

    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """A ``Host`` header without its port: ``[::1]:8765`` -> ``::1``, ``localhost:8765`` -> ``localhost``."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(f"//{host_header}").hostname or ""
    except ValueError:
        return ""


LEVEL_CLASS = {"ok": "ok", "warn": "warn", "critical": "critical", "unknown": "unknown"}


def create_app(store: Store, evaluate: Callable[[], StatusReport], *, token: str | None = None,
               history_days: int = 90, stale_after: dict[str, Any] | None = None) -> Flask:
    """The dashboard app: ``evaluate()`` gives the report each page load shows (the rules engine, read-only)."""
    from sellerguard.web.view import build_dashboard

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 0  # nothing is ever uploaded

    def _given() -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:]
        return request.args.get("token") or request.cookies.get(COOKIE)

    @app.before_request
    def _guard() -> Any:
        if request.method not in ("GET", "HEAD"):
            return Response("read-only dashboard\n", status=405, mimetype="text/plain")
        if token is None:
            # served without a token (loopback only): a page from elsewhere could point its own name at 127.0.0.1
            # (DNS rebinding) and read this one; only requests addressed to a loopback name are answered
            if not is_loopback(_host_name(request.host)):
                return Response("this dashboard answers to localhost or 127.0.0.1 only; to serve it under another "
                                "name, give it a token\n", status=403, mimetype="text/plain")
            return None
        given = _given()
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            return Response("a token is required: open the address with ?token=...\n", status=401,
                            mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
        if "token" in request.args:  # keep it out of the address bar and history: a cookie from now on
            response = redirect(request.path)
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure)
            return response
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        # no script at all; inline styles for matplotlib's SVG attributes
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self' 'unsafe-inline'; "
                                                       "img-src 'self' data:; frame-ancestors 'none'; "
                                                       "form-action 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def dashboard() -> str:
        view = build_dashboard(evaluate(), store, history_days=history_days, stale_after=stale_after)
        return render_template("dashboard.html", d=view, level_class=LEVEL_CLASS)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
