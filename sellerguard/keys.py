"""The store's secret: 32 random bytes created at first use, kept outside the records, split into subkeys.

Where the secret lives (``key_location``), first match wins:
1. ``[store] key`` in the config (``configure(store, key=...)``): ``"env:NAME"`` (64 hex characters in the
   environment variable; never created) or ``"file:PATH"`` (a key file, created at first use);
2. SQLite file database: the key file ``<database file>.key`` beside it (e.g. ``sellerguard.db.key``);
3. SQLite in memory: a random secret for the life of that Store object (nothing written);
4. any other database (PostgreSQL): the key file ``sellerguard.key`` beside the config file (or in the default
   config folder when there is none).

A key file holds one line of 64 hex characters, mode 0600; it is created atomically (two processes starting
at once agree on one secret) and nothing else in its folder is touched.

Purposes never share key material: ``subkey(secret, purpose)`` is HKDF-SHA-256 (RFC 5869) with ``purpose`` as
the info string, so the buyer-key subkey reveals nothing about the token-encryption one. Purposes in use:
``"buyer-key"`` (``sellerguard.pseudonym``, via ``buyer_secret``) and ``"token-encryption"`` (stored tokens).

The store keeps a fingerprint of the secret (HMAC of a fixed label, not the secret) in ``connector_state``
(account ``_store``, key ``key-fingerprint``), so a store is never written with two secrets' buyer keys mixed,
which would count one buyer twice:
- a key file that did not exist is created anew only while no token sealed with the old secret is stored
  (otherwise ``StoreError``: restore the file, or ``keys rotate --key-lost``), and the store's buyer keys made
  with the old secret are cleared in the same transaction: per-buyer counts restart;
- an existing key (file or environment variable) that is not the store's is refused with a ``StoreError``
  naming where it was read, and nothing is changed.

Errors: ``StoreError`` (one line, never the secret) when a key cannot be read, created or is malformed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import update

from sellerguard.errors import StoreError

log = logging.getLogger("sellerguard.keys")

SECRET_BYTES = 32
KEY_FILE_NAME = "sellerguard.key"  # beside the config, for databases that are not a local file
STATE_ACCOUNT = "_store"  # never an account id (those start with a letter or digit)
STATE_FINGERPRINT = "key-fingerprint"
BUYER_KEY = "buyer-key"
TOKEN_ENCRYPTION = "token-encryption"
PURPOSES = (BUYER_KEY, TOKEN_ENCRYPTION)


@dataclass(frozen=True)
class _Settings:
    key: str | None = None  # "env:NAME" | "file:PATH" from [store] key
    config_path: Path | None = None


_SETTINGS: weakref.WeakKeyDictionary[Any, _Settings] = weakref.WeakKeyDictionary()
_MEMORY: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
_CHECKED: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()  # secrets already fingerprinted
_LOCK = threading.Lock()


def configure(store: Any, *, key: str | None = None, config_path: Path | str | None = None) -> None:
    """Say where ``store``'s secret lives: the config's ``[store] key`` and the config file's path."""
    if key is not None and not key.startswith(("env:", "file:")):
        raise StoreError("the store key must be 'env:NAME' or 'file:PATH' (never the key itself)",
                         where="[store] key")
    _SETTINGS[store] = _Settings(key, Path(config_path).expanduser() if config_path else None)


def key_location(store: Any) -> str:
    """Where ``store``'s secret is read from, for messages and docs: a path, ``env:NAME`` or ``memory``."""
    kind, where = _location(store)
    return where if kind == "file" else f"{kind}:{where}" if kind == "env" else "memory"


def subkey(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """HKDF-SHA-256 of ``secret`` with ``purpose`` as info: ``length`` bytes (at most 255*32), one per purpose."""
    if not purpose:
        raise ValueError("a subkey needs a purpose")
    return hkdf_sha256(secret, salt=b"sellerguard store key", info=purpose.encode(), length=length)


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 extract-then-expand with HMAC-SHA-256."""
    if length > 255 * 32:
        raise ValueError("HKDF-SHA-256 gives at most 8160 bytes")
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def fingerprint(secret: bytes) -> str:
    """16 hex characters that identify a secret without revealing it (kept in the store, shown in errors)."""
    return hmac.new(secret, b"sellerguard key fingerprint", hashlib.sha256).hexdigest()[:16]


def store_secret(store: Any, *, allow_new: bool = False) -> bytes:
    """The store's 32-byte secret, created at first use and checked against the store's fingerprint.

    A missing key file is created only while the database holds no token sealed with an earlier key (or with
    ``allow_new``, for ``sellerguard keys rotate``): a new key would make those tokens unreadable for good, and some
    refresh tokens are single-use (Mercado Libre), so the account would be locked out. ``StoreError`` otherwise.
    """
    with _LOCK:
        if not allow_new:
            _refuse_lost_key(store)
        secret, created = _read_secret(store)
        if _CHECKED.get(store) != secret:
            _check_fingerprint(store, secret, created=created, where=key_location(store))
            _CHECKED[store] = secret
        return secret


def adopt(store: Any) -> str:
    """Make the key now configured the store's own, on purpose (an ``env:`` key changed to rotate it).

    Buyer keys made with the previous key are cleared (per-buyer counts restart) and the fingerprint replaced;
    returns the new fingerprint. Tokens sealed with the previous key can no longer be read (re-authorize).
    """
    with _LOCK:
        secret, _ = _read_secret(store)
        _check_fingerprint(store, secret, created=True, where=key_location(store))
        _CHECKED[store] = secret
        return fingerprint(secret)


def _refuse_lost_key(store: Any) -> None:
    """Raise when the key file is gone but the database holds tokens sealed with the key it had."""
    kind, where = _location(store)
    if kind != "file" or store in _CHECKED or Path(where).exists():
        return
    known = store.state(STATE_ACCOUNT, STATE_FINGERPRINT)
    if known is None:
        return
    from sqlalchemy import func, select
    from sqlmodel import Session

    from sellerguard.store.sealed import PREFIX
    from sellerguard.store.tables import ConnectorState

    with Session(store.engine) as session:
        sealed = session.execute(select(func.count()).select_from(ConnectorState)
                                 .where(ConnectorState.value.like(PREFIX + "%"))).scalar_one()  # type: ignore[union-attr]
    if sealed:
        raise StoreError(f"the store key file {where} is missing, but this database holds {sealed} token(s) sealed "
                         f"with its key (fingerprint {known}): restore the file from your backup; if it is lost for "
                         "good, `sellerguard keys rotate --key-lost` starts a new key and drops those tokens "
                         "(reconnect the accounts)")


def _read_secret(store: Any) -> tuple[bytes, bool]:
    kind, where = _location(store)
    if kind == "memory":
        return _MEMORY.setdefault(store, secrets.token_bytes(SECRET_BYTES)), False
    if kind == "env":
        return _parse(os.environ.get(where), f"environment variable {where}"), False
    return _file_secret(Path(where))


def store_subkey(store: Any, purpose: str) -> bytes:
    """``subkey(store_secret(store), purpose)``: e.g. ``store_subkey(store, "token-encryption")``."""
    return subkey(store_secret(store), purpose)


def buyer_secret(store: Any) -> bytes:
    """The HMAC key for buyer keys (``SyncContext.buyer_secret``, ``pseudonym.buyer_key``)."""
    return store_subkey(store, BUYER_KEY)


# -- where and how ------------------------------------------------------------------------------------


def _location(store: Any) -> tuple[str, str]:
    settings = _SETTINGS.get(store, _Settings())
    if settings.key:
        kind, _, rest = settings.key.partition(":")
        if kind == "env":
            return "env", rest
        path = Path(rest).expanduser()
        if not path.is_absolute() and settings.config_path is not None:
            path = settings.config_path.parent / path  # relative to the config file, like a person reads it
        return "file", str(path)
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return "memory", ""
        db = Path(database).expanduser()
        return "file", str(db.with_name(db.name + ".key"))
    folder = (settings.config_path.parent if settings.config_path is not None
              else Path(platformdirs.user_config_dir("sellerguard", appauthor=False)))
    return "file", str(folder / KEY_FILE_NAME)


def _parse(text: str | None, where: str) -> bytes:
    if not text or not text.strip():
        raise StoreError(f"{where} is empty" if text is not None else f"{where} is not set")
    value = text.strip()
    if len(value) != SECRET_BYTES * 2 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise StoreError(f"{where} is not a store key ({SECRET_BYTES * 2} hex characters expected)")
    return bytes.fromhex(value)


def _file_secret(path: Path) -> tuple[bytes, bool]:
    """(secret, created): read the key file, or create it atomically (0600) when it does not exist."""
    try:
        return _parse(path.read_text(encoding="ascii"), f"key file {path}"), False
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not ASCII text"
        raise StoreError(f"cannot read the store key file {path}: {reason}") from None
    secret = secrets.token_bytes(SECRET_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the config folder may not exist yet
    except OSError as exc:
        raise StoreError(f"cannot create the folder of the store key file {path}: {exc.strerror}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secret.hex() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs wins
        except FileExistsError:
            return _parse(path.read_text(encoding="ascii"), f"key file {path}"), False
    except OSError as exc:
        raise StoreError(f"cannot create the store key file {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created the store key file %s (back it up with the database)", path)
    return secret, True


def _check_fingerprint(store: Any, secret: bytes, *, created: bool, where: str) -> None:
    from sqlmodel import Session

    from sellerguard.store.tables import ConnectorState, OrderRow

    mine = fingerprint(secret)
    known = store.state(STATE_ACCOUNT, STATE_FINGERPRINT)
    if known == mine:
        return
    if known is not None and not created:
        raise StoreError(f"the store key at {where} (fingerprint {mine}) is not the key this database's buyer keys "
                         f"were made with (fingerprint {known}): use the right key file or setting, or move "
                         f"the key away to start new buyer keys (docs/schema.md, 'Buyer keys')")
    with Session(store.engine) as session, session.begin():
        if known is not None:  # the old key is gone: its buyer keys can never be matched again
            session.execute(update(OrderRow).where(OrderRow.buyer_key.is_not(None)).values(buyer_key=None))
            log.warning("new store key at %s: buyer keys made with the previous key were cleared "
                        "(per-buyer counts restart)", where)
        store._put(session, ConnectorState, {"account": STATE_ACCOUNT, "key": STATE_FINGERPRINT, "value": mine},
                   ("account", "key"))
