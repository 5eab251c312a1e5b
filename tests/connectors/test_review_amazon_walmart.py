"""Review of the Amazon and Walmart connectors (issues 17/18): new cases of the same kinds, each with the right value.

HTTP via `responses`; the clock is fixed (conftest's ``clock``/``store``).
"""

from __future__ import annotations

import codecs
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from test_amazon import DOCS, ORDERS, REPORTS, FakeAmazon, _reports, account, load, tsv

from sellerguard.connectors import amazon_reports
from sellerguard.errors import ConnectorError
from sellerguard.sync import sync_account

FEEDBACK = "GET_SELLER_FEEDBACK_DATA"


# -- Amazon: token-expired wordings (issue 17 kind 4) --------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [
    (403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                       "details": "The access token you provided is revoked, malformed or invalid."}]}),
    (403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                       "details": "The security token included in the request is expired"}]}),
    (401, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied."}]}),
    (400, {"errors": [{"code": "InvalidInput", "message": "Invalid access token"}]}),
])
@responses.activate
def test_amazon_token_expired_wordings_refresh_once_and_the_sync_goes_on(store, clock, status, body):
    fake = FakeAmazon(responses.mock)
    original, seen = fake.search, {"n": 0}

    def expire_once(request):
        seen["n"] += 1
        return (status, {}, json.dumps(body)) if seen["n"] == 1 else original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=expire_once)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert fake.tokens == 2 and store.count("order", account="amz-1") == 5


@pytest.mark.parametrize("body", [
    {"error_description": "The request has an invalid grant parameter : refresh_token", "error": "invalid_grant"},
    {"error_description": "The refresh token has expired", "error": "invalid_grant"},
])
@responses.activate
def test_lwa_invalid_grant_says_reauthorize_and_names_the_account(store, clock, body):
    FakeAmazon(responses.mock)
    responses.mock.remove(responses.POST, "https://api.amazon.com/auth/o2/token")
    responses.mock.add(responses.POST, "https://api.amazon.com/auth/o2/token", json=body, status=400)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not outcome.ok and outcome.error_kind == "config"
    assert "re-authorize" in outcome.error and "amz-1" in outcome.error and "\n" not in outcome.error


# -- Amazon: reports ---------------------------------------------------------------------------------------


def test_a_utf16_feedback_report_is_decoded_not_called_another_language():
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        document = bom + tsv("feedback_report.tsv").decode().encode(enc)
        flat = amazon_reports.flat_file(document, FEEDBACK, "doc")
        rows = list(flat.rows)
        assert flat.encoding.startswith("utf-16") and len(rows) == 3 and rows[0]["Order ID"] == "113-1234567-7654321"


@pytest.mark.parametrize("title_row", [
    "Date\tÉvaluation\tCommentaires\tVotre réponse\tNuméro de commande",  # French
    "Data\tValutazione\tCommenti\tLa tua risposta\tNumero ordine",  # Italian
])
def test_an_unmapped_language_is_one_clear_payload_error_naming_the_setting(title_row):
    with pytest.raises(ConnectorError) as err:
        list(amazon_reports.flat_file((title_row + "\n01/02/26\t1\tx\t\t1\n").encode(), FEEDBACK, "doc").rows)
    assert err.value.kind == "payload" and "Language for feed processing report" in str(err.value)


@responses.activate
def test_a_done_report_without_a_document_is_forgotten_not_polled_forever(store, clock):
    calls = _reports(responses.mock, ["DONE"], tsv("feedback_report.tsv"))
    done = {k: v for k, v in load("report__done").items() if k != "reportDocumentId"}
    responses.mock.remove(responses.GET, f"{REPORTS}/50020019003")
    responses.mock.add(responses.GET, f"{REPORTS}/50020019003", json=done)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert not outcome.ok and outcome.error_kind == "payload" and "reportDocumentId" in outcome.error
    assert store.state("amz-1", f"report:{FEEDBACK}") is None  # the next sync asks for a new report
    assert calls["create"] == 1


@responses.activate
def test_a_document_url_missing_forgets_the_report(store, clock):
    _reports(responses.mock, ["DONE"], tsv("feedback_report.tsv"))
    doc = f"{DOCS}/amzn1.spdoc.1.4.na.1f8c4a2e-0000-4000-8000-000000000001"
    responses.mock.remove(responses.GET, doc)
    responses.mock.add(responses.GET, doc, json={"reportDocumentId": "x"})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert not outcome.ok and outcome.error_kind == "payload"
    assert store.state("amz-1", f"report:{FEEDBACK}") is None


# -- Amazon: a saved page token Amazon no longer accepts (issue 18 kinds 4/5) --------------------------------


@responses.activate
def test_an_expired_saved_pagination_token_is_forgotten_and_the_window_restarts(store, clock):
    pages = [{"orders": load("search_orders__page1")["orders"][:1], "pagination": {"nextToken": "t1"}},
             {"orders": load("search_orders__page2")["orders"]}]
    fail = {"t1": (503, {"errors": [{"code": "ServiceUnavailable", "message": "down"}]})}
    seen: list[str | None] = []

    def search(request):
        token = parse_qs(urlsplit(request.url).query).get("paginationToken", [None])[0]
        seen.append(token)
        if token in fail:
            status, body = fail[token]
            return status, {}, json.dumps(body)
        return 200, {}, json.dumps(pages[0 if token is None else 1])

    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=search)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).error_kind == "wait"
    assert store.state("amz-1", "orders:resume") is not None
    fail["t1"] = (400, {"errors": [{"code": "InvalidInput", "message": "Invalid paginationToken. The token has"
                                    " expired or is invalid."}]})
    clock.advance(600)
    second = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not second.ok and store.state("amz-1", "orders:resume") is None  # never the same dead token again
    del fail["t1"]
    clock.advance(600)
    seen.clear()
    third = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert third.ok, third.error
    assert seen[0] is None and store.cursor("amz-1", "orders") is not None


# -- Walmart --------------------------------------------------------------------------------------------------

from test_walmart import ORDERS as WM_ORDERS  # noqa: E402
from test_walmart import TOKEN as WM_TOKEN  # noqa: E402
from test_walmart import add_token, config, fixture  # noqa: E402


@pytest.mark.parametrize(("status", "body"), [
    (401, {"errors": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API", "field": "UNAUTHORIZED",
                       "description": "Unauthorized", "info": "Unauthorized token or incorrect authorization header.",
                       "severity": "ERROR", "category": "DATA"}]}),
    (400, {"errors": [{"code": "INVALID_REQUEST_HEADER.GMP_GATEWAY_API", "field": "WM_SEC.ACCESS_TOKEN",
                       "description": "Access token is expired"}]}),
    (200, {"errors": [{"code": "UNAUTHORIZED.GMP_GATEWAY_API", "description": "Unauthorized"}]}),
])
@responses.activate
def test_walmart_token_expired_wordings_refresh_once(store, clock, status, body):
    add_token(responses)
    responses.add(responses.GET, WM_ORDERS, status=status, json=body)
    responses.add(responses.GET, WM_ORDERS, json=fixture("orders__wfs"))
    acc = config(ship_node_types=["WFSFulfilled"], performance=False).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert out.ok, out.error
    assert len([c for c in responses.calls if c.request.url == WM_TOKEN]) == 2
    assert store.count("order", account="wm") == 1


@responses.activate
def test_walmart_200_with_an_unknown_error_inside_is_a_payload_error_and_the_cursor_stays(store, clock):
    add_token(responses)
    responses.add(responses.GET, WM_ORDERS, json={"errors": [{"code": "INVALID_REQUEST_PARAM.GMP_ORDER_API",
                                                               "description": "bad shipNodeType"}]})
    acc = config(ship_node_types=["WFSFulfilled"]).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not out.ok and out.error_kind == "payload" and "\n" not in out.error
    assert store.cursor("wm", "orders") is None


@responses.activate
def test_walmart_a_repeated_next_cursor_ends_paging_and_moves_no_cursor(store, clock):
    add_token(responses)
    page1 = fixture("orders__page1")
    cursor = page1["list"]["meta"]["nextCursor"]
    page2 = fixture("orders__page2")
    page2["list"]["meta"]["nextCursor"] = cursor  # Walmart hands the same position back
    responses.add(responses.GET, WM_ORDERS + cursor, json=page2,
                  match=[responses.matchers.query_string_matcher(cursor[1:])])
    responses.add(responses.GET, WM_ORDERS, json=page1)
    acc = config(ship_node_types=["SellerFulfilled"]).accounts[0]
    out = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not out.ok and out.error_kind == "payload" and "\n" not in out.error
    assert store.cursor("wm", "orders") is None
    assert len([c for c in responses.calls if c.request.method == "GET"]) <= 3


@pytest.mark.parametrize("amount", ["1,234.56", "138,80", "$138.80"])
def test_walmart_an_amount_with_commas_is_never_read_as_another_number(amount):
    from sellerguard.connectors.walmart_normalize import normalize_order as wm_order

    order = fixture("orders__page1")["list"]["elements"]["order"][0]
    order["orderLines"]["orderLine"][0]["charges"]["charge"][0]["chargeAmount"]["amount"] = amount
    try:
        records = wm_order("wm", order, "/v3/orders", "order[0]")
    except ConnectorError as exc:
        assert exc.kind == "payload" and "amount" in str(exc)
        return
    (o,) = [r for r in records if r.kind == "order"]
    assert str(o.total).startswith("1234.56") or str(o.total).startswith("138.8")


@responses.activate
def test_a_page_token_that_expires_mid_run_is_not_saved_for_the_next_sync(store, clock):
    pages = [{"orders": load("search_orders__page1")["orders"][:1], "pagination": {"nextToken": "t1"}}]

    def search(request):
        token = parse_qs(urlsplit(request.url).query).get("paginationToken", [None])[0]
        if token:
            return 400, {}, json.dumps({"errors": [{"code": "InvalidInput", "message": "Invalid paginationToken"}]})
        return 200, {}, json.dumps(pages[0])

    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=search)
    out = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not out.ok and out.error_kind == "wait" and "first page" in out.error
    assert store.state("amz-1", "orders:resume") is None and store.cursor("amz-1", "orders") is None


@responses.activate
def test_a_fatal_report_is_forgotten_and_says_the_next_sync_asks_again(store, clock):
    calls = _reports(responses.mock, ["DONE"])
    fatal = {**load("report__done"), "processingStatus": "FATAL"}
    responses.mock.remove(responses.GET, f"{REPORTS}/50020019003")
    responses.mock.add(responses.GET, f"{REPORTS}/50020019003", json=fatal)
    out = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert not out.ok and out.error_kind == "wait" and "FATAL" in out.error
    assert store.state("amz-1", f"report:{FEEDBACK}") is None and calls["doc"] == 0
    assert store.count("rating", account="amz-1") == 0


def _all_orders_row(**over: str) -> dict[str, str]:
    row = {"amazon-order-id": "113-0000001-0000001", "purchase-date": "2026-11-01T10:00:00+00:00",
           "last-updated-date": "2026-11-02T10:00:00+00:00", "order-status": "Shipped",
           "fulfillment-channel": "Merchant", "quantity": "1", "currency": "USD", "item-price": "12.50", "sku": "S"}
    return {**row, **over}


@pytest.mark.parametrize("price", ["1,234.56", "12,50"])
def test_an_amazon_amount_with_a_comma_is_a_payload_error_naming_the_field_never_another_number(price):
    from sellerguard.connectors.amazon_normalize import normalize_order_rows

    with pytest.raises(ConnectorError) as err:
        normalize_order_rows("a", [_all_orders_row(**{"item-price": price})], "doc")
    assert err.value.kind == "payload" and "item-price" in str(err.value) and price in str(err.value)


def test_an_amazon_report_date_without_offset_is_read_as_utc():
    from sellerguard.connectors.amazon_normalize import normalize_order_rows

    (order,) = normalize_order_rows("a", [_all_orders_row(**{"purchase-date": "2026-11-01T10:00:00"})], "doc")
    assert order.purchased_at.isoformat() == "2026-11-01T10:00:00+00:00"
