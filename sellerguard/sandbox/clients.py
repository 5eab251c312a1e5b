"""The sandbox's app credentials for the marketplaces whose client id names the seller: ``sandbox-<account id>``
(Walmart, bol.com, Mercado Libre, Shopify), with one client secret, ``CLIENT_SECRET``.

Like the real token endpoints, a wrong or missing secret gets no token, whatever the client id: a connector or a
test that sends the wrong secret must see the marketplace's refusal, not a working token. The other marketplaces'
sandbox apps have fixed credentials of their own (amazon.CLIENT_ID/CLIENT_SECRET, ebay.CLIENT, etsy.API_KEY,
tiktok.APP_KEY/APP_SECRET), checked in their modules. These credentials open only the loopback sandbox.
"""

from __future__ import annotations

import base64
import binascii
import hmac

CLIENT_PREFIX = "sandbox-"
CLIENT_SECRET = "sandbox-secret"


def secret_ok(given: str | None) -> bool:
    """Whether ``given`` is the sandbox apps' client secret (compared in constant time, as a server would)."""
    return given is not None and hmac.compare_digest(given.encode(), CLIENT_SECRET.encode())


def basic_client(header: str | None) -> tuple[str, str | None]:
    """``(client id, secret)`` of an ``Authorization: Basic base64(id:secret)`` header; ``("", None)`` when the
    header is missing or not Basic base64, and the secret is None when there is no ``:``."""
    if not header or not header.startswith("Basic "):
        return "", None
    try:
        decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return "", None
    client_id, colon, secret = decoded.partition(":")
    return client_id, secret if colon else None
