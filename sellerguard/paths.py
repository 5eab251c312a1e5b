"""Default locations, without the config model: the CLI's ``--help`` shows them before anything heavy loads."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CONFIG = "SELLERGUARD_CONFIG"


def default_config_path() -> Path:
    """``$SELLERGUARD_CONFIG`` if set, else ``sellerguard.toml`` in the per-user config directory."""
    if path := os.environ.get(ENV_CONFIG):
        return Path(path)
    import platformdirs

    return Path(platformdirs.user_config_dir("sellerguard", appauthor=False)) / "sellerguard.toml"
