"""Per-site policy: limits that differ by a marketplace's site (Mercado Libre's MLB, MLM, MCO, ...), as data.

``rules/sites/<marketplace>.toml`` holds one table per site id with the metric limits that replace the pack's
(each table names its source). The engine merges them under the account's own overrides, so the order of
precedence is: the account's ``[accounts.policy]`` > its site's row > the pack.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sellerguard.config import PolicyOverride
from sellerguard.errors import ConfigError

_ABOUT = {"country", "source", "note"}

# Marketplaces where an account sells on exactly one site, which its orders name (Mercado Libre: a user id belongs
# to one country site, MLB/MLM/...): an account without a configured region is judged on that site's limits.
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


@cache
def site_table(marketplace: str) -> dict[str, dict[str, PolicyOverride]]:
    """{site id: {metric id: override}} for a marketplace; empty when it has no per-site data."""
    found = site_file(f"{marketplace}.toml")
    if found is None:
        return {}
    path, data = found
    out: dict[str, dict[str, PolicyOverride]] = {}
    for site, row in data.items():
        if not isinstance(row, dict) or not isinstance(row.get("source"), str):
            raise ConfigError("each site needs a table with a source URL", where=f"{path}:{site}")
        out[site] = {}
        for metric_id, values in row.items():
            if metric_id in _ABOUT:
                continue
            try:
                out[site][metric_id] = PolicyOverride.model_validate(values)
            except ValidationError as exc:
                err = exc.errors(include_url=False)[0]
                key = ".".join(str(p) for p in err["loc"])
                raise ConfigError(err["msg"], where=f"{path}:{site}.{metric_id}.{key}") from None
    return out


def site_policy(marketplace: str, site: str | None) -> dict[str, PolicyOverride]:
    """The overrides of one site (``{}`` when the site or the marketplace has no row)."""
    if not site:
        return {}
    return dict(site_table(marketplace).get(site.upper(), {}))


def with_site_policy(marketplace: str, site: str | None,
                     policy: dict[str, PolicyOverride]) -> dict[str, PolicyOverride]:
    """The account's overrides laid over its site's, field by field (a seller's own threshold keeps the
    site's warning band unless it sets one too)."""
    merged = site_policy(marketplace, site)
    for metric_id, own in policy.items():
        base = merged.get(metric_id)
        if base is None:
            merged[metric_id] = own
            continue
        fields = {**base.model_dump(exclude_unset=True), **own.model_dump(exclude_unset=True)}
        merged[metric_id] = PolicyOverride.model_validate(fields)
    return merged
