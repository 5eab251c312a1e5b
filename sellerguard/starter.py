"""``sellerguard init``: a commented starter config, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sellerguard.errors import ConfigError

STARTER = '''\
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

# One [[accounts]] block per marketplace account. Uncomment and fill in the ones you sell on.

# [[accounts]]
# id = "amazon-us"
# marketplace = "amazon"
# region = "na"                               # na | eu | fe
# display_name = "Acme (Amazon US)"
# sync_every = "30m"
# credentials = { client_id = "env:SP_LWA_CLIENT_ID", client_secret = "env:SP_LWA_CLIENT_SECRET", refresh_token = "env:SP_REFRESH_TOKEN" }
# [accounts.policy."amazon.late_shipment_rate_10d"]
# warn = 0.025                                # your own, earlier warning band

# [[accounts]]
# id = "ebay-us"
# marketplace = "ebay"
# region = "EBAY_US"
# credentials = { client_id = "env:EBAY_CLIENT_ID", client_secret = "env:EBAY_CLIENT_SECRET", refresh_token = "env:EBAY_REFRESH_TOKEN" }

# [[notify]]
# name = "team"
# type = "slack"                              # slack | webhook
# url = "env:SLACK_WEBHOOK_URL"
# min_level = "warn"
# quiet_hours = "22:00-07:00"
# timezone = "Europe/Amsterdam"
'''


def write_starter_config(path: Path, *, force: bool = False) -> None:
    if path.is_dir():
        raise ConfigError("is a folder, not a config file", where=str(path))
    if path.exists() and not force:
        raise ConfigError("already exists; pass --force to overwrite it", where=str(path))
    write_text_atomic(path, STARTER)


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
