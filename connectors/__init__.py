"""Connector registry: every flat module in this package that defines MARKETPLACE is a connector.

Discovered with pkgutil, so adding ``connectors/<name>.py`` is all it takes; no hand-kept list.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from sellerguard.errors import ConfigError

_NOT_CONNECTORS = {"contract"}


@cache
def registry() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_CONNECTORS or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "MARKETPLACE", None), str):
            found[module.MARKETPLACE] = module
    return found


def get(marketplace: str) -> ModuleType:
    connectors = registry()
    if marketplace not in connectors:
        known = ", ".join(sorted(connectors)) or "none"
        raise ConfigError(f"unknown marketplace '{marketplace}' (known: {known})")
    return connectors[marketplace]
