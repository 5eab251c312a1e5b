"""Amazon quirks integrators report (issue 17 items 4, 7, 8, 9), each pinned with the right expected value.

Field cases (../shared/field-cases, copied to tests/fixtures/amazon): a German feedback report, a Japanese All
Orders report in cp932, All Orders sub-statuses. HTTP via `responses`; the clock is fixed.
"""

from __future__ import annotations

import json

import pytest
import responses
from test_amazon import CATALOG, ORDERS, TOKEN, FakeAmazon, _reports, account, load, tsv

from sellerguard.connectors import amazon_normalize, amazon_reports
from sellerguard.connectors.amazon_normalize import normalize_feedback_rows, normalize_order_rows
from sellerguard.errors import ConnectorError
from sellerguard.sync import sync_account

FEEDBACK = "GET_SELLER_FEEDBACK_DATA"
ALL_ORDERS = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"


def _rows(name: str, report_type: str):
    flat = amazon_reports.flat_file(tsv(name), report_type, "doc")
    return flat, list(flat.rows)


# -- item 7: reports in the seller's language ---------------------------------------------------------------


def test_german_feedback_report_is_read_with_day_first_dates():
    flat, rows = _rows("amazon_feedback_de.tsv", FEEDBACK)
    assert flat.language == "de" and flat.encoding == "utf-8-sig"
    ratings = normalize_feedback_rows("a", rows, "doc", day_first=flat.language != "en")
    assert [(r.order_ref, r.score, r.rated_at.date().isoformat(), r.negative) for r in ratings] == [
        ("302-0000001-0000001", "1", "2026-11-03", True), ("302-0000002-0000002", "2", "2026-11-20", True)]


def test_japanese_all_orders_report_in_cp932_is_decoded_and_mapped():
    flat, rows = _rows("amazon_all_orders_jp_cp932.tsv", ALL_ORDERS)
    assert flat.encoding == "cp932" and flat.language == "ja"
    (order,) = normalize_order_rows("a", rows, "doc", "A1VC38T7YXB528")
    assert order.external_id == "503-0000001-0000001" and order.status == "shipped"
    assert order.fulfilment == "seller" and order.currency == "JPY" and str(order.total) == "1500.0000"
    assert order.purchased_at.isoformat() == "2026-09-01T01:00:00+00:00"  # +09:00 -> UTC
    assert order.lines[0].quantity == 1 and order.item_count == 1


def test_a_bom_before_the_first_title_is_accepted():
    flat = amazon_reports.flat_file(b"\xef\xbb\xbf" + tsv("feedback_report.tsv"), FEEDBACK, "doc")
    assert flat.header[0] == "Date" and len(list(flat.rows)) == 3


@pytest.mark.parametrize(("document", "says"), [
    (b"", "empty"),
    (b"Fecha\tPuntuacion\tComentarios\n01/02/26\t1\tx\n", "Language for feed processing report"),
    (tsv("orders_report.tsv"), "not a GET_SELLER_FEEDBACK_DATA document"),  # item 9: the wrong report kind
    (b'{"performanceMetrics": []}', "not a GET_SELLER_FEEDBACK_DATA document"),
])
def test_a_document_that_is_not_the_report_is_a_payload_error_not_no_rows(document, says):
    with pytest.raises(ConnectorError) as err:
        list(amazon_reports.flat_file(document, FEEDBACK, "doc").rows)
    assert err.value.kind == "payload" and says in str(err.value)


def test_a_truncated_document_and_undecodable_bytes_are_payload_errors():
    cut = tsv("feedback_report.tsv").rsplit(b"\t", 3)[0]  # the last row lost its last columns
    with pytest.raises(ConnectorError, match="cut short"):
        list(amazon_reports.flat_file(cut, FEEDBACK, "doc").rows)
    bad_bytes = tsv("feedback_report.tsv") + b"11/01/26\t1\t\x81\xff\xfe\t\t113-1\tx\n"
    with pytest.raises(ConnectorError, match="not utf-8-sig text"):
        list(amazon_reports.flat_file(bad_bytes, FEEDBACK, "doc").rows)


@responses.activate
def test_german_feedback_report_syncs(store, clock):
    _reports(responses.mock, ["DONE"], tsv("amazon_feedback_de.tsv"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert outcome.ok, outcome.error
    assert store.count("rating", account="amz-1") == 2


@responses.activate
def test_a_report_in_an_unread_language_is_dropped_not_re_read_forever(store, clock):
    calls = _reports(responses.mock, ["DONE"], b"Fecha\tPuntuacion\n01/02/26\t1\n")
    failed = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert failed.error_kind == "payload" and "Language for feed processing report" in failed.error
    assert store.state("amz-1", f"report:{FEEDBACK}") is None  # dropped with the error
    sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert calls["create"] == 2  # the next sync asked for a new report instead of re-reading the document


@responses.activate
def test_japanese_backfill_stores_its_orders(store, clock):
    _reports(responses.mock, ["DONE"], tsv("amazon_all_orders_jp_cp932.tsv"))
    FakeAmazon(responses.mock, pages=[{"orders": []}])
    acc = account(backfill="report")
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.count("order", account="amz-1") == 1
    assert store.state("amz-1", f"report:{ALL_ORDERS}") is None


# -- item 8: order sub-statuses ---------------------------------------------------------------------------


def test_all_orders_sub_statuses_are_shipped_or_delivered_never_pending():
    _, rows = _rows("amazon_all_orders_statuses.tsv", ALL_ORDERS)
    orders = normalize_order_rows("a", rows, "doc", "ATVPDKIKX0DER")
    assert [o.status for o in orders] == ["delivered", "shipped", "shipped", "shipped", "shipped"]


def test_every_report_status_is_mapped_and_unknown_ones_are_kept_recognisable(caplog):
    row = dict(zip(amazon_reports.REQUIRED[ALL_ORDERS],
                   ["111-0000001-0000001", "2026-09-01T10:00:00+00:00", "", "Merchant", "1"], strict=True))
    for key in amazon_normalize.REPORT_STATUS:
        assert amazon_normalize.report_status(key) != "unknown"
    for value in ("Shipped - Delivered to Buyer", "Shipped - Lost in Transit", "Shipped - Returned to Seller",
                  "Shipped - Out for Delivery", "Shipped - Rejected by Buyer", "Shipped - Undeliverable",
                  "Shipped - Returning to Seller", "Shipped - Picked Up", "Pending", "Unshipped",
                  "PartiallyShipped", "Shipped", "Cancelled", "Canceled", "InvoiceUnconfirmed", "Unfulfillable",
                  "PendingAvailability"):
        (order,) = normalize_order_rows("a", [{**row, "order-status": value}], "doc")
        assert order.status != "unknown", value
    amazon_normalize._warned.clear()
    (weird,) = normalize_order_rows("a", [{**row, "order-status": "Teleported"}], "doc")
    (sub,) = normalize_order_rows("a", [{**row, "order-status": "Shipped - Eaten by Dog"}], "doc")
    normalize_order_rows("a", [{**row, "order-status": "Teleported"}], "doc")
    assert weird.status == "unknown" and sub.status == "shipped"
    assert sum("Teleported" in r.getMessage() for r in caplog.records) == 1


# -- item 4: access token expired, as Amazon words it ---------------------------------------------------------

EXPIRED_SHAPES = [
    (403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                       "details": "The access token you provided has expired."}]}),
    (403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                       "details": "The access token you provided is revoked, malformed or invalid."}]}),
    (403, {"errors": [{"code": "Unauthorized", "message": "The security token included in the request is expired"}]}),
    (403, {"errors": [{"code": "MissingAuthenticationToken", "message": "Access to requested resource is denied."}]}),
    (401, {"errors": [{"code": "Unauthorized", "message": "Unauthorized"}]}),
]


@pytest.mark.parametrize(("status", "body"), EXPIRED_SHAPES)
@responses.activate
def test_every_expired_token_shape_refreshes_once_and_retries(store, clock, status, body):
    fake = FakeAmazon(responses.mock)
    original, seen = fake.search, {"n": 0}

    def expire_first(request):
        seen["n"] += 1
        return (status, {}, json.dumps(body)) if seen["n"] == 1 else original(request)

    store.put_state("amz-1", "access_token", f"{int(clock.now().timestamp()) + 3000}:Atza|dead", now=clock.now())
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=expire_first)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert fake.tokens == 1 and "missing" not in (outcome.error or "")
    assert store.state("amz-1", "access_token").endswith("Atza|token-1")  # the dead token is gone


@responses.activate
def test_a_missing_role_is_not_refreshed_and_says_so(store, clock):
    fake = FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add(responses.GET, ORDERS, status=403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.", "details": ""}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "lacks a role" in outcome.error and fake.tokens == 1


@responses.activate
def test_a_revoked_refresh_token_says_reauthorize_names_the_account_and_keeps_no_dead_token(store, clock):
    responses.mock.add(responses.POST, TOKEN, status=400, json={
        "error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token."
                                                       " User may have revoked or didn't grant the permission."})
    responses.mock.add(responses.GET, ORDERS, status=403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.",
        "details": "The access token you provided has expired."}]})
    store.put_state("amz-1", "access_token", f"{int(clock.now().timestamp()) + 3000}:Atza|dead", now=clock.now())
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config"
    assert "re-authorize" in outcome.error and "'amz-1'" in outcome.error and "Atzr|" not in outcome.error
    assert store.state("amz-1", "access_token") is None


def test_a_garbled_cached_token_is_dropped(store, clock):
    from sellerguard.connectors import amazon
    from sellerguard.connectors.contract import SyncContext

    class State(dict):
        def put(self, key, value):
            self[key] = value

    state = State({"access_token": "99999999999:Atza|with space\x00"})
    ctx = SyncContext(account=account(), state=state, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert amazon.cached_token(ctx) is None and state["access_token"] is None


@responses.activate
def test_a_bom_in_a_downloaded_report_is_fine(store, clock):
    _reports(responses.mock, ["DONE"], b"\xef\xbb\xbf" + tsv("feedback_report.tsv"))
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert outcome.ok, outcome.error
    assert store.count("rating", account="amz-1") == 3


# -- issue 16: facts, and the calls they cost ---------------------------------------------------------------


@responses.activate
def test_order_lines_carry_the_catalog_category_and_each_asin_is_asked_once(store, clock):
    fake = FakeAmazon(responses.mock)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    # two pages, one distinct seller-fulfilled ASIN: one catalog call, then cached in the account state
    assert len(fake.catalog) == 1 and fake.catalog[0]["identifiers"] == "B08N5WRWNW"
    assert fake.catalog[0]["includedData"] == "summaries,productTypes"
    clock.advance(3600)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert len(fake.catalog) == 1  # incremental sync: no ASIN is new, no catalog call
    from sellerguard.connectors.amazon_normalize import normalize_order as norm

    order = norm("a", load("search_orders__page1")["orders"][0], "GET", "o",
                 {"B08N5WRWNW": ("TOY_FIGURE", "Toys")})[0]
    assert [(ln.quantity, ln.category_id, ln.category_name) for ln in order.lines] == [(2, "TOY_FIGURE", "Toys")]
    assert order.items_subtotal == order.total and order.buyer_key is None and order.paid_at is None


@responses.activate
def test_without_the_product_listing_role_orders_still_sync_without_categories(store, clock):
    fake = FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, CATALOG)
    responses.mock.add(responses.GET, CATALOG, status=403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.", "details": ""}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.count("order", account="amz-1") == 5 and fake.tokens == 1
    assert store.state("amz-1", "catalog:off") is not None  # not asked again for a day


def test_calls_per_first_sync_are_pages_plus_one_catalog_call_per_20_new_asins(clock):
    from sellerguard.connectors import amazon_catalog
    from sellerguard.connectors.contract import SyncContext
    from sellerguard.http import HttpClient

    class State(dict):
        def put(self, key, value):
            self[key] = value

    asked: list[int] = []

    class Http(HttpClient):
        def get_json(self, path, **kw):
            ids = kw["params"]["identifiers"].split(",")
            asked.append(len(ids))
            return {"items": [{"asin": a, "productTypes": [{"productType": "X"}]} for a in ids]}

    http = Http(base_url="x", marketplace="amazon", clock=clock, sleep=clock.sleep)
    ctx = SyncContext(account=account(), state=State(), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    asins = [f"B{i:09d}" for i in range(45)]
    found = amazon_catalog.categories(ctx, http, "ATVPDKIKX0DER", asins)
    assert asked == [20, 20, 5] and found["B000000044"] == ("X", None)
    amazon_catalog.categories(ctx, http, "ATVPDKIKX0DER", [*asins, "B999999999"])
    assert asked == [20, 20, 5, 1]  # only the new ASIN
    ctx.state["catalog:ATVPDKIKX0DER:B000000001"] = "{garbled"
    amazon_catalog.categories(ctx, http, "ATVPDKIKX0DER", asins)
    assert asked == [20, 20, 5, 1, 1]  # a garbled cache entry is dropped and asked once more


# -- issue 18: what the fuzz harness found, pinned --------------------------------------------------------------


def test_a_gzip_document_corrupt_inside_its_deflate_stream_is_a_payload_error():
    import gzip
    import io

    raw = gzip.compress(tsv("feedback_report.tsv") * 50)
    broken = raw[:10] + bytes(b ^ 0x5A for b in raw[10:40]) + raw[40:]  # zlib.error, not OSError
    document = amazon_reports._Document(io.BytesIO(broken), "/doc", gzipped=True)
    with pytest.raises(ConnectorError, match="GZIP report document is corrupt"):
        list(amazon_reports.flat_file(document, FEEDBACK, "doc").rows)


@pytest.mark.parametrize("body", ["123", [], {"payload": None}, {"payload": "x"}, {"errors": []}])
@responses.activate
def test_a_participations_answer_without_its_list_is_a_payload_error(store, clock, body):
    FakeAmazon(responses.mock)
    responses.mock.add(responses.GET, "https://sellingpartnerapi-na.amazon.com/sellers/v1/marketplaceParticipations",
                       json=body)
    acc = account()
    acc.options.pop("marketplace_ids")
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "payload" and "payload" in outcome.error
    assert store.state("amz-1", "marketplace_ids") is None


@responses.activate
def test_an_interrupted_window_resumes_from_its_page_token_not_from_the_first_page(store, clock):
    """Issue 18 kind 5: a stopped sync goes on where it stopped (pages stored before are not read again)."""
    pages = [{"orders": load("search_orders__page1")["orders"][:1], "pagination": {"nextToken": "t1"}},
             {"orders": load("search_orders__page1")["orders"][1:2], "pagination": {"nextToken": "t2"}},
             {"orders": load("search_orders__page2")["orders"]}]
    seen: list[str | None] = []
    fail = {"on": "t2"}

    def search(request):
        from urllib.parse import parse_qs, urlsplit

        token = parse_qs(urlsplit(request.url).query).get("paginationToken", [None])[0]
        seen.append(token)
        if token == fail["on"]:
            return 503, {}, json.dumps({"errors": [{"code": "ServiceUnavailable", "message": "down"}]})
        return 200, {}, json.dumps(pages[0 if token is None else int(token[1:])])

    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=search)
    first = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert first.error_kind == "wait" and store.cursor("amz-1", "orders") is None
    assert store.count("order", account="amz-1") == 2  # pages 1 and 2 are stored
    fail["on"] = None
    seen.clear()
    clock.advance(600)
    second = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert second.ok, second.error
    assert seen == ["t2"]  # straight to the page it had not stored
    assert store.count("order", account="amz-1") == 4 and store.cursor("amz-1", "orders") is not None
    assert store.state("amz-1", "orders:resume") is None


@pytest.mark.parametrize(("path", "value"), [
    (("fulfillment", "fulfilledBy"), ["MERCHANT"]), (("fulfillment", "fulfilledBy"), "SOMEBODY"),
    (("packages", 0, "packageStatus", "status"), ["DELIVERED"]),
    (("orderItems", 0, "quantityOrdered"), 2**64 + 7), (("orderItems", 0, "quantityOrdered"), -1),
    (("orderItems", 0, "product", "price", "unitPrice", "amount"), "NaN"),
    (("orderItems", 0, "product", "price", "unitPrice", "amount"), "-50"),
])
def test_bad_order_values_are_one_payload_error_never_a_guess(path, value):
    """Fuzz findings: an unhashable or unknown fulfilledBy/status crashed or guessed the channel."""
    from sellerguard.connectors.amazon_normalize import normalize_order as norm

    order = load("search_orders__page1")["orders"][0]
    node = order
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConnectorError) as err:
        norm("a", order, "GET", "o")
    assert err.value.kind == "payload"


@pytest.mark.parametrize("body", [{"items": 5}, {"items": [{"asin": "B08N5WRWNW", "summaries": 7}]},
                                  {"items": [{"asin": ["B08N5WRWNW"], "productTypes": [[1]]}]}, {}])
@responses.activate
def test_a_garbled_catalog_answer_is_a_payload_error_and_the_page_is_read_again(store, clock, body):
    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, CATALOG)
    responses.mock.add(responses.GET, CATALOG, json=body)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    if isinstance(body.get("items"), list) and isinstance(body["items"][0].get("asin"), list):
        assert outcome.error_kind == "payload" or outcome.ok  # an item for another ASIN is ignored
    else:
        assert outcome.error_kind == "payload" and store.cursor("amz-1", "orders") is None


@responses.activate
def test_a_refusal_that_may_be_the_token_drops_the_saved_token(store, clock):
    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add(responses.GET, ORDERS, status=403, json={"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.", "details": ""}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and store.state("amz-1", "access_token") is None


@responses.activate
def test_a_200_with_an_internal_failure_inside_is_retried(store, clock):
    fake = FakeAmazon(responses.mock)
    original, seen = fake.search, {"n": 0}

    def inside(request):
        seen["n"] += 1
        if seen["n"] == 1:
            return 200, {}, json.dumps({"errors": [{"code": "InternalFailure", "message": "We encountered an"
                                                    " internal error. Please try again."}]})
        return original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=inside)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert store.count("order", account="amz-1") == 5
