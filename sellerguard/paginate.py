"""The few ways marketplaces page, over one guarded loop. A connector picks one explicitly; nothing guesses.

Every loop ends (``walk``), and none ends quietly with records left unread:
- a next-state (token, offset, page number) the marketplace already sent is a payload error, not a loop;
- a page identical to the one before it (a marketplace that ignores the offset, full pages forever) is too;
- at most ``max_pages`` pages per run: then kind "wait", naming where it stopped. Connectors write their cursor
  per page (one Batch per page), so the next sync resumes there instead of starting over;
- offset paging (``offset_walk``) goes on past a short page while the reported total says more remain, and a
  marketplace's deepest offset reached with records beyond it is ``DeepOffset`` (naming offset and total), never a
  quiet end.

Each helper takes a ``fetch_page`` callable that performs one request and yields one page of items at a time,
so callers stream pages instead of holding the whole result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sellerguard.errors import ConnectorError
from sellerguard.payload import payload_error, show

T = TypeVar("T")
S = TypeVar("S", bound=Hashable)
MAX_PAGES = 500  # per stream and run: a full backfill continues on the next run from the stored cursor


@dataclass(frozen=True)
class Page(Generic[T, S]):
    items: Sequence[T]
    state: S | None  # what fetched this page (token, offset, page number)
    next: S | None  # what fetches the next page; None: this was the last
    number: int  # 1-based, within this run


def _fingerprint(items: Sequence[Any]) -> str:
    try:
        text = json.dumps(list(items), sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(list(items))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _same(items: Sequence[Any], previous: Sequence[Any]) -> bool:
    try:
        equal = len(items) == len(previous) and list(items) == list(previous)
    except Exception:  # an item type whose == fails: the fingerprints decide
        equal = True
    return equal and _fingerprint(items) == _fingerprint(previous)


def walk(
    fetch_page: Callable[[S | None], tuple[Sequence[T], S | None]],
    start: S | None = None,
    *,
    marketplace: str = "marketplace",
    where: str = "paging",
    max_pages: int = MAX_PAGES,
    on_cap: str = "raise",
) -> Iterator[Page[T, S]]:
    """``fetch_page(state) -> (items, next_state or None)`` until None; guarded (see the module docstring).

    ``on_cap="raise"``: reaching ``max_pages`` raises kind "wait" after yielding the last page; ``"stop"``: the
    walk just ends (the last Page's ``next`` says where), for callers that report it themselves.
    """
    seen: set[Any] = {start} if start is not None else set()
    previous: Sequence[T] | None = None
    state = start
    number = 0
    while True:
        items, nxt = fetch_page(state)
        number += 1
        if items:
            # item for item as canonical JSON; compared with == first, which every page that differs from the one
            # before fails at once (decoded JSON: != implies different JSON), so only an equal page is encoded
            # (encoding every page was ~3 % of an eBay backfill's CPU, issue 21)
            if nxt is not None and previous is not None and _same(items, previous):
                raise payload_error(marketplace, where, "page",
                                    f"page {number} repeats page {number - 1} item for item (at {show(state)}):"
                                    " the marketplace ignores the paging parameter")
            previous = items
        if nxt is not None and nxt in seen:
            raise payload_error(marketplace, where, "next page", f"{show(nxt, 24)} was returned twice: paging loops")
        yield Page(items, state, nxt, number)
        if nxt is None:
            return
        if number >= max_pages:
            if on_cap == "stop":
                return
            raise ConnectorError(
                f"stopped after {number} pages (the per-run page cap) at {show(nxt, 40)};"
                " the next sync resumes from the stored cursor", kind="wait", where=f"{marketplace}: {where}")
        seen.add(nxt)
        state = nxt


def by_token(fetch_page: Callable[[str | None], tuple[Sequence[T], str | None]], *, marketplace: str = "marketplace",
             where: str = "paging", max_pages: int = MAX_PAGES) -> Iterator[Sequence[T]]:
    """Next-token / cursor paging: stop when the marketplace returns no (or an empty) token."""

    def page(token: str | None) -> tuple[Sequence[T], str | None]:
        items, nxt = fetch_page(token)
        return items, (nxt or None)

    for p in walk(page, None, marketplace=marketplace, where=where, max_pages=max_pages):
        yield p.items


class DeepOffset(ConnectorError):
    """Records remain beyond the deepest offset the marketplace serves (``offset_walk``'s ``max_offset``).

    Raised after the last page it could reach was yielded, so a caller that writes its cursor only once a query is
    complete never moves it past the unread records. ``offset`` is where paging stopped; ``total`` the reported
    total (None: unknown, the last page was full). Kind "payload" unless the caller re-raises it with advice.
    """

    def __init__(self, message: str, *, where: str, offset: int, total: int | None) -> None:
        super().__init__(message, kind="payload", where=where)
        self.offset, self.total = offset, total


def offset_walk(
    fetch_page: Callable[[int, int], tuple[Sequence[T], int | None]], limit: int, *, max_offset: int | None = None,
    start: int = 0, marketplace: str = "marketplace", where: str = "paging", max_pages: int = MAX_PAGES,
) -> Iterator[Page[T, int]]:
    """Offset/limit paging over ``walk``: ``fetch_page(offset, limit)`` returns (items, total or None).

    It ends when the reported total is reached, or, with no total, on a short page. A short page while the total
    says more remain is not the end (a marketplace may serve fewer than ``limit``): paging goes on from the next
    offset; an empty page below the total is a payload error (the rest would be lost). ``max_offset`` is the
    deepest offset the marketplace serves (Mercado Libre's order search: 10,000): when records remain beyond it,
    ``DeepOffset`` names the offset and the total; callers that can narrow their query (a shorter date window)
    do so before they get there. Full pages forever without a total end at the repeated-page guard or the cap.
    """

    totals: dict[int, int | None] = {}  # offset -> the total its page reported

    def page(offset: int | None) -> tuple[Sequence[T], int | None]:
        at = offset or 0
        items, total = fetch_page(at, limit)
        totals[at] = total
        nxt = at + len(items)
        if total is not None:
            if nxt >= total:
                return items, None
            if not items:
                raise payload_error(marketplace, where, "page",
                                    f"empty at offset {at:,} while the total is {total:,}: the rest would be lost")
        elif len(items) < limit:
            return items, None
        return items, nxt

    for p in walk(page, start, marketplace=marketplace, where=where, max_pages=max_pages):
        yield p
        if max_offset is not None and p.next is not None and p.next >= max_offset:
            total = totals.get(p.state or 0)
            left = (f"{total:,} in total, {total - p.next:,} not read" if total is not None
                    else "the last page was full, more may remain")
            raise DeepOffset(f"stopped at offset {p.next:,}, the deepest {marketplace} pages: {left}",
                             where=f"{marketplace}: {where}", offset=p.next, total=total)


def by_offset(
    fetch_page: Callable[[int, int], tuple[Sequence[T], int | None]], limit: int, *, max_offset: int | None = None,
    start: int = 0, marketplace: str = "marketplace", where: str = "paging", max_pages: int = MAX_PAGES,
) -> Iterator[Sequence[T]]:
    """``offset_walk``'s pages as item lists (eBay, Etsy, Mercado Libre)."""
    for p in offset_walk(fetch_page, limit, max_offset=max_offset, start=start, marketplace=marketplace,
                         where=where, max_pages=max_pages):
        yield p.items


def by_page(fetch_page: Callable[[int], tuple[Sequence[T], bool]], first: int = 1, *,
            marketplace: str = "marketplace", where: str = "paging",
            max_pages: int = MAX_PAGES) -> Iterator[Sequence[T]]:
    """Page-number paging (bol.com): ``fetch_page(n)`` returns (items, has_more)."""

    def page(n: int | None) -> tuple[Sequence[T], int | None]:
        at = first if n is None else n
        items, more = fetch_page(at)
        return items, (at + 1 if more and items else None)

    for p in walk(page, None, marketplace=marketplace, where=where, max_pages=max_pages):
        yield p.items


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
