"""TikTok Shop request signing (HMAC-SHA256) as a requests auth hook.

What is signed, exactly (Partner API 202309+):
    app_secret + path + key1value1key2value2... + body + app_secret
with every query parameter except ``sign`` and ``access_token``, sorted by key, joined without separators or
URL-encoding; ``path`` is the API path without host or query; ``body`` is the request body byte for byte
(left out for multipart/form-data). ``sign`` is the lowercase hex HMAC-SHA256 of that string keyed with
``app_secret``.

The hook runs on the prepared request, after requests has serialised the body, so the signature always covers
the exact bytes that go on the wire, and every retry is signed again with a fresh ``timestamp``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from sellerguard.clock import Clock

UNSIGNED = ("sign", "access_token")


def sign(app_secret: str, path: str, params: Mapping[str, str], body: bytes = b"") -> str:
    """The ``sign`` value for one request."""
    joined = "".join(f"{k}{params[k]}" for k in sorted(params) if k not in UNSIGNED)
    message = app_secret.encode() + path.encode() + joined.encode() + body + app_secret.encode()
    return hmac.new(app_secret.encode(), message, hashlib.sha256).hexdigest()


class SignedRequest(requests.auth.AuthBase):
    """Adds app_key, timestamp, shop_cipher and sign to the query and the access token header.

    ``base_path`` is the path part of the configured base URL (``/tiktok`` behind the loopback sandbox): it is
    not part of the API path TikTok signs.
    """

    def __init__(self, app_key: str, app_secret: str, clock: Clock, *, base_path: str = "",
                 access_token: Callable[[], str] | None = None, shop_cipher: str | None = None) -> None:
        self.app_key = app_key
        self._secret = app_secret
        self.clock = clock
        self.base_path = base_path.rstrip("/")
        self.access_token = access_token
        self.shop_cipher = shop_cipher

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        params = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)
                  if k not in ("sign", "timestamp", "app_key", "shop_cipher")}
        params["app_key"] = self.app_key
        params["timestamp"] = str(int(self.clock.now().timestamp()))
        if self.shop_cipher:
            params["shop_cipher"] = self.shop_cipher
        path = parts.path
        if self.base_path and path.startswith(self.base_path + "/"):
            path = path[len(self.base_path):]
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        content_type = request.headers.get("Content-Type", "")
        signed_body = b"" if content_type.startswith("multipart/form-data") else body
        params["sign"] = sign(self._secret, path, params, signed_body)
        request.url = urlunsplit(parts._replace(query=urlencode(params)))
        if self.access_token is not None:
            request.headers["x-tts-access-token"] = self.access_token()
        return request
