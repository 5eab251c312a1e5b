"""Pseudonymous buyer keys: a keyed hash of the marketplace's buyer id, never the id itself.

``buyer_key(secret, marketplace, raw_id)`` is HMAC-SHA-256 over ``"<marketplace>:<raw_id>"`` with the store's
secret, as 64 lower-case hex characters. The same buyer gets the same key within one store, so per-buyer rules
(eBay's "defects from unique buyers") can count distinct buyers; without the secret the key cannot be turned back
into the id or matched against another store's. The secret is created at first use and kept outside the records
(see docs/schema.md, "Buyer keys").
"""

from __future__ import annotations

import hashlib
import hmac
import re

_GARBLED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def buyer_key(secret: bytes, marketplace: str, raw_id: str | None) -> str | None:
    """64 hex chars, or None when the marketplace gave no buyer id (blank ids are None, never a shared key).

    Raises ValueError for an id holding a control character or a lone surrogate (a garbled payload)."""
    if raw_id is None:
        return None
    raw = str(raw_id).strip()
    if not raw:
        return None
    if _GARBLED.search(raw):  # a lone surrogate cannot even be encoded: a garbled payload, not a buyer
        raise ValueError(f"not a buyer id: {raw[:40]!r} holds a control character or a lone surrogate")
    return hmac.new(secret, f"{marketplace}:{raw}".encode(), hashlib.sha256).hexdigest()
