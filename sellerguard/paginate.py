"""The few ways marketplaces page, as small generators. A connector picks one explicitly; nothing guesses.

Each takes a ``fetch_page`` callable that performs one request and returns (items, next-state), and yields
one page of items at a time, so callers stream pages instead of holding the whole result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def by_token(fetch_page: Callable[[str | None], tuple[Sequence[T], str | None]]) -> Iterator[Sequence[T]]:
    """Next-token / cursor paging: stop when the marketplace returns no token (Amazon, Walmart, Shopify, TikTok)."""
    token: str | None = None
    seen: set[str] = set()
    while True:
        items, token = fetch_page(token)
        yield items
        if not token:
            return
        if token in seen:  # a marketplace bug would otherwise loop forever
            raise RuntimeError(f"the marketplace returned page token {token[:12]}... twice")
        seen.add(token)


def by_offset(
    fetch_page: Callable[[int, int], tuple[Sequence[T], int | None]], limit: int, *, max_offset: int | None = None
) -> Iterator[Sequence[T]]:
    """Offset/limit paging: stop on a short page or when the reported total is reached (eBay, Etsy, ML).

    ``fetch_page(offset, limit)`` returns (items, total or None). ``max_offset`` guards APIs that refuse
    deep offsets (Mercado Libre stops at 10,000): the caller must then narrow its date range.
    """
    offset = 0
    while True:
        items, total = fetch_page(offset, limit)
        yield items
        offset += len(items)
        if len(items) < limit or (total is not None and offset >= total):
            return
        if max_offset is not None and offset >= max_offset:
            return


def by_page(fetch_page: Callable[[int], tuple[Sequence[T], bool]], first: int = 1) -> Iterator[Sequence[T]]:
    """Page-number paging (bol.com): ``fetch_page(n)`` returns (items, has_more)."""
    page = first
    while True:
        items, more = fetch_page(page)
        yield items
        if not more or not items:
            return
        page += 1


def dig(payload: Any, *path: str | int, default: Any = None) -> Any:
    """payload[a][b][c] or ``default`` when any step is missing: for optional nested fields."""
    node = payload
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return default
        if node is None:
            return default
    return node
