"""Mercado Libre's own account status: ``GET /users/{id}`` ``status`` block -> ``mercadolibre.account_status``.

The same answer the ``reputation`` stream reads (``mercadolibre_normalize.normalize_reputation``) carries, for the
seller's own token, ``status {site_status, sell {allow, codes[]}, list {allow, codes[]}, ...}``: whether the user is
active on the site and whether it may sell and list, with Mercado Libre's restriction codes
(``rejected_by_regulations`` ...). One row per part, the worst decides and the reason names its scope:

- scope ``site``: ``site_status`` upper-cased (``ACTIVE``; ``DEACTIVE`` and any other word are not ok);
- scope ``sell`` / ``list`` (with up to 50 characters of the codes: ``list: rejected_by_regulations``): ``ALLOWED``
  or ``BLOCKED``.

Pure function: no HTTP, no clock, no store. An answer without ``status`` is "not reported", never ok.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error
from sellerguard.schema import ReportedMetric, payload_hash

ACCOUNT_STATUS = "mercadolibre.account_status"
_EP = "/users/{id}"
_log = logging.getLogger("sellerguard.connectors.mercadolibre")


def normalize_status(account: str, user: Any, as_of: datetime) -> list[ReportedMetric]:
    """The user's ``status`` block -> one ReportedMetric per part (site, sell, list); see the module docstring.

    A malformed ``status`` block is logged (naming the field) and stored as not reported: the same answer carries
    the seller's reputation, which must not be lost with it. Raises a payload ``ConnectorError`` only for an
    answer that is not an object.
    """
    if not isinstance(user, dict):
        raise payload_error("mercadolibre", _EP, "(root)", "not an object")
    status = user.get("status")
    day = f"{as_of:%Y-%m-%d}"
    if status is not None:
        try:
            return _parts(account, status, day, as_of)
        except ConnectorError as exc:
            _log.warning("%s (account status stored as not reported)", exc)
    return _unknown(account, day, as_of)


def _unknown(account: str, day: str, as_of: datetime) -> list[ReportedMetric]:
    """Each part not reported, with the ids a good answer has (so nothing looks dropped): unknown, never ok."""
    return [ReportedMetric(account=account, external_id=f"{ACCOUNT_STATUS}:{part}:{day}", metric_id=ACCOUNT_STATUS,
                           scope=part, as_of=as_of, status="NOT_REPORTED") for part in ("site", "sell", "list")]


def _parts(account: str, status: Any, day: str, as_of: datetime) -> list[ReportedMetric]:
    if not isinstance(status, dict):
        raise payload_error("mercadolibre", _EP, "status", "not an object")
    out: list[ReportedMetric] = []
    site = status.get("site_status")
    if site is not None:
        if not isinstance(site, str) or not site.strip():
            raise payload_error("mercadolibre", _EP, "status.site_status", f"not a status: {str(site)[:30]!r}")
        out.append(ReportedMetric(account=account, external_id=f"{ACCOUNT_STATUS}:site:{day}",
                                  metric_id=ACCOUNT_STATUS, scope="site", status=site.strip().upper()[:50],
                                  as_of=as_of, raw_hash=payload_hash(site)))
    for part in ("sell", "list"):
        block = status.get(part)
        if block is None:
            continue
        if not isinstance(block, dict) or not isinstance(block.get("allow"), bool):
            raise payload_error("mercadolibre", _EP, f"status.{part}.allow", "missing or not true/false")
        codes = block.get("codes") or []
        if not isinstance(codes, list):
            raise payload_error("mercadolibre", _EP, f"status.{part}.codes", "not a list")
        named = ", ".join(str(c) for c in codes if isinstance(c, str | int))
        scope = f"{part}: {named}"[:50] if named and not block["allow"] else part
        out.append(ReportedMetric(account=account, external_id=f"{ACCOUNT_STATUS}:{part}:{day}",
                                  metric_id=ACCOUNT_STATUS, scope=scope,
                                  status="ALLOWED" if block["allow"] else "BLOCKED", as_of=as_of,
                                  raw_hash=payload_hash(block)))
    return out or _unknown(account, day, as_of)
