"""Issue 18 (review, fuzz seed 777): a TikTok search whose pages hold fewer records than its ``total_count`` is a
payload error and the cursor stays. An order (or review) gone from a page was read as a finished scan; the cursor
moved past it and a clean sync never brought it back. Also: an order whose line_items list is empty."""

from __future__ import annotations

import pytest
import responses
from test_tiktok import FakeTikTok, envelope, load, orders, run

from sellerguard.connectors.tiktok_normalize import normalize_order
from sellerguard.errors import ConnectorError


@responses.activate
def test_fewer_orders_than_total_count_is_a_payload_error_and_the_cursor_stays(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    short = (200, {}, envelope({"orders": orders(3, now - 3600)[:2], "total_count": 3, "next_page_token": ""}))
    fake.faults["/order/202309/orders/search"] = [short]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "2 records in all pages, fewer than data.total_count 3" in outcome.error
    assert store.cursor("tts-1", "orders") is None
    assert run(store, clock, streams=["orders"]).ok and store.count("order", account="tts-1") == 3


@responses.activate
def test_fewer_reviews_than_total_count_is_a_payload_error(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, reviews=[load("review")])
    fake.faults["/review_rating/202605/product_reviews/search"] = [
        (200, {}, envelope({"reviews": [], "total_count": "1", "next_page_token": ""}))]
    outcome = run(store, clock, streams=["reviews"])
    assert outcome.error_kind == "payload" and "data.reviews" in outcome.error
    assert store.cursor("tts-1", "reviews") is None


@responses.activate
def test_as_many_or_more_than_total_count_is_fine(store, clock):
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    more = (200, {}, envelope({"orders": orders(3, now - 3600), "total_count": 2, "next_page_token": ""}))
    fake.faults["/order/202309/orders/search"] = [more]
    assert run(store, clock, streams=["orders"]).ok


@pytest.mark.parametrize("lines", [[], None])
def test_an_order_without_line_items_is_a_payload_error_not_an_order_without_its_packages(lines):
    # fuzz seed 31337: the only line item dropped; the order was stored without its package, the cursor moved on
    order = {**load("order__delivered"), "line_items": lines}
    with pytest.raises(ConnectorError) as exc:
        normalize_order("tts-1", order, "POST /orders/search", "data.orders[0]")
    assert exc.value.kind == "payload" and "data.orders[0].line_items" in str(exc.value)


@pytest.mark.parametrize("total", [-1, True, 2.5, "3 orders", 10**12])
@responses.activate
def test_a_garbled_total_count_is_one_payload_error_naming_it_and_the_cursor_stays(store, clock, total):
    # payload.count: a negative, boolean, fractional, textual or absurd count was ignored (or compared as is)
    now = int(clock.now().timestamp())
    fake = FakeTikTok(responses.mock, now, orders=orders(3, now - 3600))
    fake.faults["/order/202309/orders/search"] = [
        (200, {}, envelope({"orders": orders(3, now - 3600), "total_count": total, "next_page_token": ""}))]
    outcome = run(store, clock, streams=["orders"])
    assert outcome.error_kind == "payload" and "data.total_count" in outcome.error
    assert store.cursor("tts-1", "orders") is None
