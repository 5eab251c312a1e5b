"""Product categories of ordered ASINs (Catalog Items API 2022-04-01), for Amazon's per-category metrics.

Amazon judges valid tracking per product category, but no Orders API version names an item's category. The
Catalog Items API does: ``GET /catalog/2022-04-01/items?identifiersType=ASIN&identifiers=<up to 20>
&includedData=summaries,productTypes`` (searchCatalogItems; rate 2/s, burst 2; role Product Listing):
``items[].productTypes[].productType`` (e.g. ``TOY_FIGURE``) and ``items[].summaries[].websiteDisplayGroupName``
(e.g. "Toys").

Calls only where they pay: only the ASINs of seller-fulfilled orders (the per-category metric is MFN-only), only
ASINs not looked up in the last ``CACHE_DAYS`` (each answer is kept in the account state as
``catalog:<marketplace>:<asin>``), 20 ASINs per call. A first sync of N seller-fulfilled orders with A distinct
ASINs costs ceil(A / 20) calls; an incremental sync costs one call per 20 ASINs never seen before.
A seller who did not grant the Product Listing role gets lines without a category (logged once per sync, saved
as ``catalog:off`` for a day): the metric then says the category is unknown, the orders still sync.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from sellerguard.connectors.contract import SyncContext
from sellerguard.errors import ConnectorError
from sellerguard.http import HttpClient
from sellerguard.payload import object_list, require_list
from sellerguard.schema import Id

ITEMS = "/catalog/2022-04-01/items"
RATE, BURST, PER_CALL = 2.0, 2, 20
CACHE_DAYS = 90  # product types and display groups rarely change
_log = logging.getLogger("sellerguard.connectors.amazon")

Category = tuple[str | None, str | None]  # (product type, website display group name)


def _key(marketplace: str, asin: str) -> str:
    return f"catalog:{marketplace}:{asin}"


def _valid_asin(asin: object) -> bool:
    return isinstance(asin, str) and 1 <= len(asin) <= 20 and asin.isalnum() and asin.isascii()


_ID = TypeAdapter(Id)


def _category_id(value: object) -> str | None:
    """A product type the schema takes as an order line's ``category_id``, else None: 'nan', 'null' or control
    characters from a garbled answer (issue 18's fuzz, seed 777) were cached for CACHE_DAYS and failed every sync."""
    text = _text(value, 100)
    if text is None:
        return None
    try:
        return _ID.validate_python(text)
    except ValidationError:
        return None


def _cached(ctx: SyncContext, marketplace: str, asin: str, now: datetime) -> Category | None:
    saved = ctx.state.get(_key(marketplace, asin))
    if not saved:
        return None
    try:
        product_type, group, at = json.loads(saved)
        fresh = now - datetime.fromisoformat(at) < timedelta(days=CACHE_DAYS)
        ok = all(v is None or (isinstance(v, str) and len(v) <= 200) for v in (product_type, group)) and \
            (product_type is None or _category_id(product_type) == product_type)  # kept by an older version
    except (ValueError, TypeError):
        fresh = ok = False
    if not ok:
        ctx.state.put(_key(marketplace, asin), None)  # garbled: looked up again
        return None
    return (product_type, group) if fresh else None


def _off(ctx: SyncContext, now: datetime) -> bool:
    """True while a refused lookup (no Product Listing role) waits out its day; a garbled mark is dropped."""
    saved = ctx.state.get("catalog:off")
    if not saved:
        return False
    try:
        until = datetime.fromisoformat(saved)
        return until.tzinfo is not None and now < until <= now + timedelta(days=1)
    except ValueError:
        ctx.state.put("catalog:off", None)
        return False


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] if value and value.isprintable() else None


def categories(ctx: SyncContext, http: HttpClient, marketplace: str, asins: Iterable[str]) -> dict[str, Category]:
    """ASIN -> (product type, display group) for ``asins``: from the state cache, else 20 per call."""
    now = ctx.now()
    wanted = sorted({a for a in asins if _valid_asin(a)})
    found: dict[str, Category] = {}
    garbled: set[str] = set()
    missing = []
    for asin in wanted:
        cached = _cached(ctx, marketplace, asin, now)
        if cached is not None:
            found[asin] = cached
        else:
            missing.append(asin)
    if not missing or _off(ctx, now):
        return found
    if "searchCatalogItems" not in http.limits:
        http.limit("searchCatalogItems", RATE, BURST)
    for start in range(0, len(missing), PER_CALL):
        chunk = missing[start:start + PER_CALL]
        try:
            body = http.get_json(ITEMS, bucket="searchCatalogItems", params={
                "marketplaceIds": marketplace, "identifiersType": "ASIN", "identifiers": ",".join(chunk),
                "includedData": "summaries,productTypes", "pageSize": PER_CALL})
        except ConnectorError as exc:
            if exc.kind != "config":
                raise
            # no Product Listing role: categories stay unknown, orders still sync; asked again in a day
            _log.warning("amazon %s: product categories unavailable (%s): per-category metrics stay unknown",
                         ctx.account.id, exc.message)
            ctx.state.put("catalog:off", (now + timedelta(days=1)).isoformat())
            return found
        where = f"GET {ITEMS}"
        items = object_list(require_list(body, "items", "amazon", where), "amazon", where, "items")
        for n, item in enumerate(items):
            asin = item.get("asin")
            if not isinstance(asin, str) or asin not in chunk:
                continue
            types = object_list(item.get("productTypes"), "amazon", where, f"items[{n}].productTypes")
            sums = object_list(item.get("summaries"), "amazon", where, f"items[{n}].summaries")
            sent = next((t.get("productType") for t in types
                         if t.get("marketplaceId") is None or t.get("marketplaceId") == marketplace), None)
            product_type = _category_id(sent)
            if product_type is None and sent is not None:
                garbled.add(asin)  # unknown for this sync, asked again next sync: not remembered for CACHE_DAYS
            group = next((_text(s.get("websiteDisplayGroupName"), 200) for s in sums
                          if s.get("marketplaceId") is None or s.get("marketplaceId") == marketplace), None)
            found[asin] = (product_type, group)
        for asin in chunk:  # an ASIN Amazon did not return is remembered as "no category", not asked again
            value = found.setdefault(asin, (None, None))
            if asin in garbled:
                continue
            ctx.state.put(_key(marketplace, asin), json.dumps([*value, now.isoformat()]))
    return found
