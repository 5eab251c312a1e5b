"""``sellerguard init``: a commented starter config, written atomically."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from sellerguard.errors import ConfigError

_STARTER = '''\
# sellerguard config. Every key is documented in docs/config.md.
# Credentials are references: "env:NAME" reads an environment variable, "file:PATH" a file's first line.
# Never paste a token here.

[store]
# url = "sqlite:////var/lib/sellerguard/sellerguard.db"     # default: the per-user data directory
# url = "postgresql+psycopg://sellerguard@db.internal/sellerguard"

[daemon]
repeat_interval = "24h"      # re-send an alert that is still firing after this long
# digest_at = "08:00"        # daily digest, in each target's time zone
horizon_days = 14            # how far ahead forecasts and deadlines look

# One [[accounts]] block per marketplace account: uncomment the ones you sell on, or add one with
# `sellerguard init --marketplace NAME`. Then `sellerguard connect ID` (consent in the browser; the token is kept
# in a 0600 file beside this config), `sellerguard check ID`, `sellerguard sync`.

{accounts}
# [[notify]]
# name = "team"
# type = "slack"                              # slack | webhook | email (sender, to, smtp: docs/alerts.md)
# url = "env:SLACK_WEBHOOK_URL"
# min_level = "warn"
# quiet_hours = "22:00-07:00"
# timezone = "Europe/Amsterdam"
'''


DEFAULTS: dict[str, dict[str, Any]] = {  # the example account of each marketplace's starter block
    "amazon": {"id": "amazon-us", "region": "na"},
    "ebay": {"id": "ebay-us", "region": "EBAY_US"},
    "walmart": {"id": "walmart-us", "region": "US"},
    "etsy": {"id": "etsy-shop"},
    "tiktok": {"id": "tiktok-us", "region": "US"},
    "mercadolibre": {"id": "mercadolibre-br", "region": "MLB"},
    "bol": {"id": "bol-nl", "region": "NL"},
    "shopify": {"id": "shopify-store", "options": {"shop": "my-store"}},
}


_EBAY_SCOPE = "https://api.ebay.com/oauth/api_scope/"


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def account_block(marketplace: str, *, account_id: str | None = None, region: str | None = None,
                  credentials: dict[str, str] | None = None, options: dict[str, Any] | None = None,
                  base_url: str | None = None, commented: bool = True) -> str:
    """One marketplace's ``[[accounts]]`` block with comments: the fields, where to get them, the scopes.

    ``commented`` puts the TOML itself behind ``# `` (the starter); ``init --marketplace`` writes it live.
    """
    from sellerguard.consent import provider

    p = provider(marketplace)
    d = DEFAULTS[marketplace]
    creds = credentials if credentials is not None else dict(p.example_credentials)
    region = region if region is not None else d.get("region")
    options = options if options is not None else d.get("options")
    scopes = sorted(set(p.all_scopes))
    how = (f"`sellerguard connect <id>` runs the consent{' (with PKCE)' if p.pkce else ''} and stores the"
           f" {p.produces.replace('_', ' ')}" if p.grant == "code" else
           "client credentials: no consent; `sellerguard check <id>` verifies them")
    notes = [f"Where: {p.where}.", f"How: {how}. Docs: {p.docs}"]
    if scopes:
        label = "roles" if marketplace == "amazon" else "scopes"
        notes.append(f"Needs {label}: " + ", ".join(s.removeprefix("role:").removeprefix(_EBAY_SCOPE)
                                                    for s in scopes)
                     + (f" (each prefixed {_EBAY_SCOPE})" if marketplace == "ebay" else ""))
    head = [f"# --- {p.name} " + "-" * max(3, 100 - len(p.name))]
    for note in notes:
        head += textwrap.wrap(note, 116, initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False,
                              break_long_words=False)
    body = ["[[accounts]]", f'id = "{account_id or d["id"]}"', f'marketplace = "{marketplace}"']
    if region:
        body.append(f"region = {_toml(region)}".ljust(44) + f"# {p.region_note}")
    if base_url:
        body.append(f"base_url = {_toml(base_url)}")
    body.append(f"credentials = {_toml(creds)}")
    if options:
        body.append(f"options = {_toml(options)}")
    if commented and marketplace == "amazon":
        body += ['display_name = "Acme (Amazon US)"', 'sync_every = "30m"',
                 '[accounts.policy."amazon.late_shipment_rate_10d"]',
                 "warn = 0.025".ljust(44) + "# your own, earlier warning band"]
    prefix = "# " if commented else ""
    return "\n".join(head + [prefix + line for line in body]) + "\n"


STARTER = _STARTER.replace("{accounts}", "\n".join(account_block(m) for m in DEFAULTS))


def user_config_dir() -> Path:
    """The per-user config folder the default config lives in (``~/.config/sellerguard`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("sellerguard", appauthor=False))


def check_config_folder(path: Path) -> None:
    """A new config goes into an existing folder, except the per-user default one, which is created (0700).

    A path the user gave (``--config``, ``$SELLERGUARD_CONFIG``) whose folder is missing is refused with one line
    naming the folder: a mistyped path must not leave a stray folder tree and a config the next command cannot find.
    A file in the way of the folder is left to ``write_text_atomic`` ("a file is in the way")."""
    import shlex

    folder = path.parent
    if folder.is_dir() or any(p.exists() and not p.is_dir() for p in (folder, *folder.parents)):
        return
    if folder.expanduser().absolute() == user_config_dir().expanduser().absolute():
        return
    raise ConfigError(f"folder {folder} does not exist: create it first (mkdir -p {shlex.quote(str(folder))}) or"
                      " give another --config; only the default config folder is created for you", where=str(path))


def write_starter_config(path: Path, *, force: bool = False) -> None:
    """Write the commented starter config to ``path`` (0600). ConfigError: ``path`` is a folder, exists (without
    ``force``), or its folder is missing and is not the default one (``check_config_folder``)."""
    if path.is_dir():
        raise ConfigError("is a folder, not a config file", where=str(path))
    if path.exists() and not force:
        raise ConfigError("already exists; pass --force to overwrite it", where=str(path))
    check_config_folder(path)
    write_text_atomic(path, STARTER)


def add_account(path: Path, block: str) -> None:
    """Append an uncommented account block to the config at ``path`` (written first from the starter when it
    does not exist); the whole result is validated before anything is written, comments are kept."""
    import tomllib

    from sellerguard.config import parse_config

    if not path.exists():
        check_config_folder(path)  # written from the starter: the same rule as `init`
    text = path.read_text(encoding="utf-8") if path.exists() else STARTER
    if text.startswith("\ufeff"):  # the same line as load_config gives, not tomllib's "invalid statement"
        raise ConfigError("starts with a byte-order mark (BOM); save it as UTF-8 without BOM", where=str(path))
    text = text.rstrip("\n") + "\n\n" + block
    try:
        config = parse_config(tomllib.loads(text), where=str(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config would not be valid TOML: {exc}", where=str(path)) from None
    from sellerguard.sync import check_accounts

    # the new account's connector options and region, as every sync checks them: an unknown option or region is
    # refused now, never written into a config that every later command would refuse
    check_accounts(config.model_copy(update={"accounts": [config.accounts[-1]], "source": path}))
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    write_text_atomic(path, text, mode=mode)


def write_text_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write through a temp file and rename: a crash never leaves half a file behind.

    Missing folders are created owner-only (0700). Any OS error (a file where a folder should be, no
    permission, a full disk) is one ConfigError naming the path, and nothing is left behind.
    """
    created: list[Path] = []
    try:
        for folder in reversed([path.parent, *path.parent.parents]):
            if not folder.exists():
                folder.mkdir(mode=0o700)
                created.append(folder)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sellerguard-", suffix=".tmp")
    except OSError as exc:
        for folder in reversed(created):
            folder.rmdir()
        reason = "a file is in the way" if isinstance(exc, FileExistsError | NotADirectoryError) else exc.strerror
        raise ConfigError(f"cannot write: {reason}", where=str(path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write: {exc.strerror}", where=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
