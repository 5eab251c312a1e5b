"""Reviewer's cases for Mercado Libre: offset paging over a window whose orders move while it is paged."""

from __future__ import annotations

import json

import responses

# small_pages (page size 2) is the fixture of test_mercadolibre
from test_mercadolibre import (
    API,
    SELLER,
    Tokens,
    account,
    load,
    orders_callback,
    query,
    small_pages,  # noqa: F401  (pytest fixture)
)

from sellerguard.sync import sync_account


def _moving_window(script: list[tuple[int, list[int], int]], seen: list[tuple[int, int]]):
    """Replies to /orders/search from ``script``: (offset, indexes of the fixture orders, paging.total), in order
    of the calls; the fixture holds three orders (two on page 1, one on page 2)."""
    orders = load("orders_search_page1.json")["results"] + load("orders_search_page2.json")["results"]
    calls = iter(script)

    def reply(request):
        offset = int(query(request).get("offset", "0"))
        want, picked, total = next(calls)
        assert offset == want, (offset, want)
        seen.append((offset, total))
        body = {"results": [orders[i] for i in picked], "paging": {"total": total, "offset": offset, "limit": 2}}
        return 200, {}, json.dumps(body)

    return reply


def _mock(script, seen):
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add_callback(responses.GET, f"{API}/orders/search", callback=_moving_window(script, seen))
    responses.add(responses.GET, f"{API}/shipments/41000000001", json=load("shipment.json"))


@responses.activate
def test_an_order_updated_while_the_window_is_paged_does_not_hide_the_next_one(store, clock, small_pages):  # noqa: F811
    # order 0 is updated between the two pages: it leaves the window, order 2 shifts to offset 1 and page 2 is
    # empty (total 3 -> 2). Before: sync OK with 2 of 3 orders and the cursor past order 2 for good.
    seen: list[tuple[int, int]] = []
    _mock([(0, [0, 1], 3), (2, [], 2), (0, [1, 2], 2)], seen)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert seen == [(0, 3), (2, 2), (0, 2)]  # the window was read again from its start
    assert store.count("order", account="ml-br") == 3


@responses.activate
def test_a_window_that_keeps_moving_is_a_wait_and_the_cursor_stays(store, clock, small_pages):  # noqa: F811
    seen: list[tuple[int, int]] = []
    _mock([(0, [0, 1], 3), (2, [], 2), (0, [0, 1], 3), (2, [], 2)], seen)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not outcome.ok and "paging.total fell" in (outcome.error or "")
    assert store.cursor("ml-br", "orders") is None
    assert store.count("order", account="ml-br") == 2  # what was read is kept; the window is read again next time


def _msg(i: int, from_buyer: bool) -> dict:
    at = f"2026-11-2{i // 40}T{(i % 40) // 2 + 1:02d}:{'00' if i % 2 == 0 else '30'}:00.000-03:00"
    return {"id": f"m{i:04d}", "from": {"user_id": 909090 if from_buyer else int(SELLER)},
            "message_date": {"created": at}}


@responses.activate
def test_a_long_pack_conversation_is_read_to_its_last_page(store, clock):
    # 50 messages (buyer, seller, buyer, seller ...) on page 1, then one more buyer message on page 2 that is
    # still unanswered: reading only the first page (limit 50) hid it
    responses.add_callback(responses.POST, f"{API}/oauth/token", callback=Tokens())
    responses.add_callback(responses.GET, f"{API}/orders/search",
                           callback=orders_callback([load("orders_search_page1.json")], []))
    first = [_msg(i, i % 2 == 0) for i in range(50)]
    pages = {"0": {"paging": {"limit": 50, "offset": 0, "total": 51}, "messages": first},
             "50": {"paging": {"limit": 50, "offset": 50, "total": 51}, "messages": [_msg(50, True)]}}
    responses.add_callback(responses.GET, f"{API}/messages/packs/2000003508419013/sellers/{SELLER}",
                           callback=lambda r: (200, {}, json.dumps(pages[query(r).get("offset", "0")])))
    responses.add(responses.GET, f"{API}/messages/packs/2000004000000001/sellers/{SELLER}",
                  json={"paging": {"limit": 50, "offset": 0, "total": 0}, "messages": []})
    outcome = sync_account(account(options={"questions": False}), store, clock=clock, sleep=clock.sleep,
                           streams=["messages"])
    assert outcome.ok, outcome.error
    assert store.count("message", account="ml-br") == 26  # 25 answered waits + the unanswered one on page 2
