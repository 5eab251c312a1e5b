"""Connector state encrypted at rest: access and refresh tokens never sit readable in the database.

Every ``connector_state`` value written through ``Store.put_state`` is sealed with Fernet (AES-128-CBC +
HMAC-SHA-256, from the ``cryptography`` package) under the store's ``"token-encryption"`` subkey
(``sellerguard.keys``: a key file beside the SQLite database, ``[store] key``, or beside the config for
PostgreSQL), so a copy of the database alone holds no usable token. Sealed values start with ``PREFIX``.

- Values written before this existed (plain text) are still read, and sealed at their next write or by
  ``seal_all`` (``sellerguard keys seal``).
- A missing key file is not replaced while sealed values exist (``sellerguard.keys``: restore it, or
  ``rotate(key_lost=True)``). A value that the current key still cannot open reads as missing: the connector
  fetches a new access token with the configured refresh token; a warning names the account and key, never the
  value.
- Rows of ``keys.STATE_ACCOUNT`` (the key fingerprint) stay plain: opening a value needs them.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

log = logging.getLogger("sellerguard.store")

PREFIX = "sealed:v1:"


def _fernet(store: Any) -> Any:
    from cryptography.fernet import Fernet

    from sellerguard import keys

    cached = getattr(store, "_fernet", None)
    if cached is None:
        cached = Fernet(base64.urlsafe_b64encode(keys.store_subkey(store, keys.TOKEN_ENCRYPTION)))
        store._fernet = cached
    return cached


def _plain_account(account: str) -> bool:
    from sellerguard.keys import STATE_ACCOUNT

    return account == STATE_ACCOUNT


def seal(store: Any, account: str, value: str) -> str:
    if _plain_account(account) or value.startswith(PREFIX):
        return value
    return PREFIX + _fernet(store).encrypt(value.encode("utf-8")).decode("ascii")


def unseal(store: Any, account: str, key: str, value: str | None) -> str | None:
    if value is None or not value.startswith(PREFIX):
        return value
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(store).decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        from sellerguard.keys import key_location

        log.warning("%s: stored state '%s' cannot be opened with the store key at %s (was the key file "
                    "replaced?); it is treated as missing", account, key, key_location(store))
        return None


def seal_all(store: Any) -> int:
    """Seal every plain connector-state value (older databases); returns how many were sealed."""
    from sellerguard.store.tables import ConnectorState

    count = 0
    with Session(store.engine) as session, session.begin():
        rows = session.execute(select(ConnectorState.account, ConnectorState.key, ConnectorState.value)).all()
        for account, key, value in rows:
            if value is None or value.startswith(PREFIX) or _plain_account(account):
                continue
            session.execute(update(ConnectorState)
                            .where(ConnectorState.account == account, ConnectorState.key == key)  # type: ignore[arg-type]
                            .values(value=seal(store, account, value)))
            count += 1
    return count


def rotate(store: Any, *, key_lost: bool = False) -> tuple[int, str]:
    """Replace the store's key file with a new key and re-seal every value under it; returns (count, backup).

    Only for a key file (``[store] key = "env:..."`` is rotated by whoever sets the variable). The old file is
    kept as ``<key file>.old`` until the operator deletes it. Buyer keys made with the old key are cleared by
    ``sellerguard.keys`` (per-buyer counts restart). The caller makes sure no daemon runs on the store.

    ``key_lost``: the key file is gone for good; a new key is made and the values sealed with the lost one, which
    nothing can open any more, are deleted (returns (deleted count, "")); the accounts must be reconnected.
    """
    if key_lost:
        return _start_new_key(store)
    import os
    from pathlib import Path

    from sellerguard import keys
    from sellerguard.errors import StoreError
    from sellerguard.store.tables import ConnectorState

    location = keys.key_location(store)
    if location.startswith("env:") or location == "memory":
        raise StoreError(f"the store key comes from {location}: rotate it where that is set (docs/deploy.md)")
    with Session(store.engine) as session:
        rows = session.execute(select(ConnectorState.account, ConnectorState.key, ConnectorState.value)).all()
    opened = [(a, k, unseal(store, a, k, v)) for a, k, v in rows if v is not None and not _plain_account(a)]
    path = Path(location)
    backup = path.with_name(path.name + ".old")
    os.replace(path, backup)
    store._fernet = None
    keys._CHECKED.pop(store, None)  # the next use creates and fingerprints the new key
    keys.store_secret(store, allow_new=True)
    count = 0
    with Session(store.engine) as session, session.begin():
        for account, key, value in opened:
            if value is None:
                continue
            session.execute(update(ConnectorState)
                            .where(ConnectorState.account == account, ConnectorState.key == key)  # type: ignore[arg-type]
                            .values(value=seal(store, account, value)))
            count += 1
    return count, str(backup)


def _start_new_key(store: Any) -> tuple[int, str]:
    from pathlib import Path

    from sqlalchemy import delete

    from sellerguard import keys
    from sellerguard.errors import StoreError
    from sellerguard.store.tables import ConnectorState

    location = keys.key_location(store)
    if location.startswith("env:") or location == "memory":
        raise StoreError(f"the store key comes from {location}: rotate it where that is set (docs/deploy.md)")
    if Path(location).exists():
        raise StoreError(f"the store key file {location} exists: use `sellerguard keys rotate` without --key-lost")
    store._fernet = None
    keys._CHECKED.pop(store, None)
    keys.store_secret(store, allow_new=True)
    with Session(store.engine) as session, session.begin():
        gone = session.execute(delete(ConnectorState).where(ConnectorState.value.like(PREFIX + "%")))  # type: ignore[union-attr]
    return gone.rowcount or 0, ""
