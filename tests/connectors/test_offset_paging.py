"""Offset paging never stops quietly with records left unread (issue 18.5, ``paginate.offset_walk``).

Before: ``by_offset`` ended on any short page even when ``total`` said more remained, and at ``max_offset`` it just
stopped, so Mercado Libre questions beyond the 1,000th were lost and the messages cursor moved on. Etsy's own
offset loop did the same with ``count``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from sellerguard.config import AccountConfig
from sellerguard.errors import ConnectorError
from sellerguard.paginate import DeepOffset, by_offset
from sellerguard.sync import sync_account

NOW_ISO = "2026-11-23T12:00:00+00:00"


def served(rows: list[dict], cap: int, *, total: bool = True):
    """A marketplace that serves at most ``cap`` items per page whatever the limit, with or without a total."""
    calls: list[tuple[int, int]] = []

    def page(offset: int, limit: int):
        calls.append((offset, limit))
        return rows[offset:offset + min(limit, cap)], (len(rows) if total else None)

    return page, calls


# -- the helper ------------------------------------------------------------------------------------------


def test_a_short_page_is_not_the_end_while_the_total_says_more_remain():
    rows = [{"id": i} for i in range(120)]
    page, calls = served(rows, cap=40)  # asked for 50, served 40
    assert [r for p in by_offset(page, 50) for r in p] == rows
    assert [o for o, _ in calls] == [0, 40, 80]


def test_without_a_total_a_short_page_is_the_end():
    page, calls = served([{"id": i} for i in range(70)], cap=50, total=False)
    assert sum(len(p) for p in by_offset(page, 50)) == 70 and len(calls) == 2


def test_an_empty_page_below_the_total_is_a_payload_error_naming_offset_and_total():
    def page(offset, limit):
        return ([{"id": i} for i in range(30)] if offset == 0 else []), 75

    with pytest.raises(ConnectorError) as exc:
        list(by_offset(page, 50, marketplace="mercadolibre", where="GET /claims"))
    assert exc.value.kind == "payload"
    assert "empty at offset 30 while the total is 75" in str(exc.value)


def test_the_deepest_offset_with_records_beyond_it_is_an_error_after_the_pages_it_reached():
    page, _ = served([{"id": i} for i in range(1234)], cap=50)
    got = []
    with pytest.raises(DeepOffset) as exc:
        for p in by_offset(page, 50, max_offset=1000, marketplace="mercadolibre", where="GET /questions/search"):
            got.extend(p)
    assert len(got) == 1000 and (exc.value.offset, exc.value.total) == (1000, 1234)
    assert str(exc.value) == ("mercadolibre: GET /questions/search: stopped at offset 1,000, the deepest mercadolibre"
                              " pages: 1,234 in total, 234 not read")


def test_full_pages_up_to_the_deepest_offset_without_a_total_may_hide_more():
    page, _ = served([{"id": i} for i in range(5000)], cap=50, total=False)
    with pytest.raises(DeepOffset, match="the last page was full, more may remain"):
        list(by_offset(page, 50, max_offset=1000))


def test_exactly_the_deepest_offset_and_nothing_beyond_is_fine():
    page, _ = served([{"id": i} for i in range(1000)], cap=50)
    assert sum(len(p) for p in by_offset(page, 50, max_offset=1000)) == 1000


# -- Mercado Libre: questions beyond the 1,000th, a short page of claims --------------------------------------

ML = "https://api.mercadolibre.com"
SELLER = "202020"


def ml_account(**options) -> AccountConfig:
    return AccountConfig.model_validate({
        "id": "ml-br", "marketplace": "mercadolibre", "region": "MLB", "seller_id": SELLER,
        "credentials": {"client_id": "123456", "client_secret": "s3cret", "refresh_token": "TG-first"},
        "options": options})


def ml_token() -> None:
    responses.add(responses.POST, f"{ML}/oauth/token", json={
        "access_token": "APP_USR-1", "token_type": "Bearer", "expires_in": 21600, "scope": "offline_access read",
        "user_id": int(SELLER), "refresh_token": "TG-second"})


def questions(n: int, clock) -> list[dict]:
    """``n`` unanswered questions, newest first, one a minute: all inside the 14-day message window."""
    return [{"id": 13_000_000_000 + i, "seller_id": int(SELLER), "item_id": "MLB1234567890", "status": "UNANSWERED",
             "text": "Tem em azul?", "answer": None, "from": {"id": 909099}, "hold": False,
             "date_created": (clock.now() - timedelta(minutes=i + 1)).isoformat()} for i in range(n)]


def serve_questions(rows: list[dict], cap: int = 50) -> list[int]:
    offsets: list[int] = []

    def reply(request):
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        offset, limit = int(q["offset"]), min(int(q["limit"]), cap)
        offsets.append(offset)
        return 200, {}, json.dumps({"total": len(rows), "limit": limit, "questions": rows[offset:offset + limit]})

    responses.add_callback(responses.GET, f"{ML}/questions/search", callback=reply)
    responses.add(responses.GET, f"{ML}/orders/search",
                  json={"results": [], "paging": {"total": 0, "offset": 0, "limit": 50}})
    return offsets


@responses.activate
def test_ml_questions_beyond_the_1000th_fail_the_stream_by_name_and_keep_the_cursor(store, clock):
    ml_token()
    offsets = serve_questions(questions(1100, clock))
    outcome = sync_account(ml_account(), store, clock=clock, sleep=clock.sleep, streams=["messages"])
    assert not outcome.ok and outcome.error_kind == "config"
    assert "stopped at offset 1,000" in outcome.error and "1,100 in total" in outcome.error
    assert "options.message_days" in outcome.error
    assert max(offsets) == 950  # never asked deeper than the API serves
    assert store.count("message", account="ml-br") == 1000  # what was read is kept ...
    assert store.cursor("ml-br", "messages") is None  # ... and the stream's cursor did not move past the rest


@responses.activate
def test_ml_questions_on_short_pages_are_all_read(store, clock):
    ml_token()
    offsets = serve_questions(questions(120, clock), cap=40)  # asked for 50, served 40
    outcome = sync_account(ml_account(), store, clock=clock, sleep=clock.sleep, streams=["messages"])
    assert outcome.ok, outcome.error
    assert offsets == [0, 40, 80] and store.count("message", account="ml-br") == 120
    assert store.cursor("ml-br", "messages") == NOW_ISO


@responses.activate
def test_ml_orders_empty_pages_while_the_total_says_more_fail_and_keep_the_cursor(store, clock):
    ml_token()
    asked: list[int] = []

    def reply(request):  # 10,050 orders in every window, however narrow, and never one of them on the page
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        asked.append(int(q["offset"]))
        return 200, {}, json.dumps({"results": [], "paging": {"total": 10_050, "offset": int(q["offset"]),
                                                               "limit": 50}})

    responses.add_callback(responses.GET, f"{ML}/orders/search", callback=reply)
    outcome = sync_account(ml_account(backfill_days=1, slice_days=1), store, clock=clock, sleep=clock.sleep,
                           streams=["orders"])
    # the window is halved down to a minute (too deep), then an empty page while the total says 10,050 is not "none"
    assert not outcome.ok and set(asked) == {0} and outcome.error_kind == "payload"
    assert "while the total is 10,050" in outcome.error
    assert store.cursor("ml-br", "orders") is None


# -- Etsy: a short page while count says more ---------------------------------------------------------------


@responses.activate
def test_etsy_receipts_on_short_pages_are_all_read(store, clock):
    from sellerguard.connectors import etsy

    rows = [{"receipt_id": i} for i in range(250)]
    asked: list[int] = []

    def reply(request):
        q = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        offset = int(q["offset"])
        asked.append(offset)
        return 200, {}, json.dumps({"count": len(rows), "results": rows[offset:offset + 60]})  # 60 of 100

    responses.add_callback(responses.GET, "https://etsy.test/v3/application/shops/1/receipts", callback=reply)
    from sellerguard.http import HttpClient

    http = HttpClient(base_url="https://etsy.test/v3/application", marketplace="etsy", clock=clock,
                      sleep=clock.sleep)
    pages = list(etsy._pages(http, "/shops/1/receipts", {}))
    assert [offset for _, offset in pages] == [0, 60, 120, 180, 240] == asked
    assert sum(len(results) for results, _ in pages) == 250
