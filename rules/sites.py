"""Per-site data files and which marketplaces sell on one site per account.

Per-site LIMITS are rows of the pack (``[sites.<label>]``, ``Pack.for_site``: eBay's programs, TikTok's regions,
Mercado Libre's countries). ``rules/sites/<name>`` holds other per-site data, read with ``site_file``: Mercado
Libre's thermometer colour limits (``mercadolibre-colours.toml``, rules/colour.py).
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from sellerguard.errors import ConfigError

# Marketplaces where an account sells on exactly one site, which its orders name (Mercado Libre: a user id belongs
# to one country site, MLB/MLM/...): an account without a configured region is judged on that site's limits
# (the pack's [sites.<site>] row) and colours.
# Not eBay or TikTok, whose accounts sell across sites (an order's site is the buyer's, not the account's).
SITE_FROM_ORDERS = frozenset({"mercadolibre"})


def site_file(name: str) -> tuple[Path, dict[str, Any]] | None:
    """``rules/sites/<name>`` parsed, with its path for error messages; None when there is no such file.

    Raises ConfigError naming the file when it is not valid TOML."""
    path = Path(str(resources.files("sellerguard.rules") / "sites")) / name
    if not path.is_file():
        return None
    try:
        return path, tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
