"""Amazon SP-API connector: spec-shaped fixtures replayed with `responses` (no network), clock fixed, sleep recorded."""

from __future__ import annotations

import copy
import gzip
import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from sellerguard.config import parse_config
from sellerguard.connectors import amazon_reports
from sellerguard.connectors.amazon_normalize import normalize_feedback_rows, normalize_order, normalize_performance
from sellerguard.errors import ConnectorError
from sellerguard.schema import Cancellation, Order, ReportedMetric, Shipment
from sellerguard.sync import sync_account

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
API = "https://sellingpartnerapi-na.amazon.com"
ORDERS = f"{API}/orders/2026-01-01/orders"
CATALOG = f"{API}/catalog/2022-04-01/items"
REPORTS = f"{API}/reports/2021-06-30/reports"
DOCS = f"{API}/reports/2021-06-30/documents"
TOKEN = "https://api.amazon.com/auth/o2/token"
S3 = "https://tortuga-prod-na.s3-external-1.amazonaws.com/example-document"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def tsv(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def account(**options):
    return parse_config({"accounts": [{
        "id": "amz-1", "marketplace": "amazon", "region": "na",
        "credentials": {"client_id": "amzn1.application-oa2-client.x", "client_secret": "s3cr3t-value",
                        "refresh_token": "Atzr|refresh-value"},
        "options": {"marketplace_ids": ["ATVPDKIKX0DER"], "backfill": "pages", **options},
    }]}).accounts[0]


def query(request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}


class FakeAmazon:
    """searchOrders paged by token, the LWA token endpoint and the Reports API; records every call."""

    def __init__(self, rsps: responses.RequestsMock, pages: list[dict] | None = None):
        self.pages = pages if pages is not None else [load("search_orders__page1"), load("search_orders__page2")]
        self.calls: list[dict[str, str]] = []
        self.tokens = 0
        self.headers: list[str] = []
        self.catalog: list[dict[str, str]] = []
        rsps.add_callback(responses.POST, TOKEN, callback=self.token)
        rsps.add_callback(responses.GET, ORDERS, callback=self.search)
        rsps.add_callback(responses.GET, CATALOG, callback=self.items)

    def items(self, request):
        q = query(request)
        self.catalog.append(q)
        wanted = set(q["identifiers"].split(","))
        body = load("catalog_items")
        body["items"] = [i for i in body["items"] if i["asin"] in wanted]
        return 200, {}, json.dumps(body)

    def token(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        assert form == {"grant_type": "refresh_token", "refresh_token": "Atzr|refresh-value",
                        "client_id": "amzn1.application-oa2-client.x", "client_secret": "s3cr3t-value"}
        self.tokens += 1
        return 200, {}, json.dumps({**load("token"), "access_token": f"Atza|token-{self.tokens}"})

    def search(self, request):
        q = query(request)
        self.calls.append(q)
        self.headers.append(request.headers["x-amz-access-token"])
        token = q.get("paginationToken")
        index = 1 if token and token == self.pages[0].get("pagination", {}).get("nextToken") else 0
        return 200, {"x-amzn-RateLimit-Limit": "0.0056"}, json.dumps(self.pages[index])


def test_fixtures_match_the_amazon_specs(specs):
    import jsonschema
    from spec_check import load_spec, response_schema, validate

    orders = load_spec(specs / "amazon" / "orders_2026-01-01.json")
    for name in ("search_orders__page1", "search_orders__page2"):
        validate(orders, response_schema(orders, "/orders/2026-01-01/orders", "get"), load(name))
    rep = load_spec(specs / "amazon" / "reports_2021-06-30.json")
    validate(rep, response_schema(rep, "/reports/2021-06-30/reports", "post", "202"), load("create_report"))
    for name in ("report__in_progress", "report__done", "report__cancelled"):
        validate(rep, response_schema(rep, "/reports/2021-06-30/reports/{reportId}", "get"), load(name))
    validate(rep, response_schema(rep, "/reports/2021-06-30/documents/{reportDocumentId}", "get"),
             load("report_document"))
    sellers = load_spec(specs / "amazon" / "sellers.json")
    validate(sellers, response_schema(sellers, "/sellers/v1/marketplaceParticipations", "get"),
             load("marketplace_participations"))
    ahr = json.loads((specs / "amazon" / "accountHealthReport-2020-11-18.json").read_text())
    jsonschema.Draft7Validator(ahr).validate(load("performance_report"))
    # Amazon's own example does not fit its schema (specs/NOTES.md): the parser must read it anyway
    assert list(jsonschema.Draft7Validator(ahr).iter_errors(load("performance_report__example_spelling")))


def test_an_order_becomes_order_packages_and_cancellation():
    page1, page2 = load("search_orders__page1")["orders"], load("search_orders__page2")["orders"]
    order, shipment = normalize_order("a", page1[0], "GET orders", "orders[0]")
    assert isinstance(order, Order) and order.fulfilment == "seller" and order.status == "delivered"
    assert order.ship_by.isoformat() == "2026-11-12T07:59:59+00:00"
    assert order.deliver_by.isoformat() == "2026-11-18T07:59:59+00:00"
    assert str(order.total) == "39.9800" and order.currency == "USD" and order.item_count == 2
    assert order.site == "ATVPDKIKX0DER"
    assert isinstance(shipment, Shipment) and shipment.carrier == "UPS" and shipment.tracking_number == \
        "1Z999AA10123456784"
    assert shipment.shipped_at.isoformat() == "2026-11-11T15:00:00+00:00"
    assert shipment.confirmed_at.isoformat() == "2026-11-11T16:20:00+00:00"
    assert shipment.tracking_validated is True and shipment.delivered_at == order.updated_at

    (afn,) = normalize_order("a", page1[1], "GET orders", "orders[1]")
    assert afn.fulfilment == "marketplace" and afn.ship_by is None  # Amazon-fulfilled: kept out of MFN metrics

    order, cancel = normalize_order("a", page1[2], "GET orders", "orders[2]")
    assert order.status == "cancelled"
    assert isinstance(cancel, Cancellation) and cancel.initiated_by == "seller" and cancel.buyer_requested
    assert cancel.cancelled_at == order.updated_at  # the API has no cancellation time

    _, cancel = normalize_order("a", page2[0], "GET orders", "orders[0]")
    assert cancel.initiated_by == "seller" and not cancel.buyer_requested and cancel.reason == "OUT_OF_STOCK"
    assert cancel.item_count == 3
    (unshipped,) = normalize_order("a", page2[1], "GET orders", "orders[1]")
    assert unshipped.status == "unshipped"


def test_malformed_order_names_endpoint_and_field():
    broken = load("search_orders__page1")["orders"][0]
    broken["fulfillment"]["fulfillmentStatus"] = None
    with pytest.raises(ConnectorError) as err:
        normalize_order("a", broken, "GET /orders/2026-01-01/orders", "page 2.orders[7]")
    assert err.value.kind == "payload"
    assert str(err.value) == ("amazon: GET /orders/2026-01-01/orders: bad payload: "
                              "page 2.orders[7].fulfillment.fulfillmentStatus: missing")


def test_every_fulfillment_status_of_the_spec_is_mapped_and_an_unknown_one_stays_recognisable(specs, caplog):
    from sellerguard.connectors import amazon_normalize

    spec = json.loads((specs / "amazon" / "orders_2026-01-01.json").read_text())
    enum = spec["definitions"]["FulfillmentStatus"]["enum"]
    assert set(enum) == set(amazon_normalize.STATUS)
    packages = spec["definitions"]["PackageStatus"]["properties"]["status"]
    assert set(packages.get("enum") or amazon_normalize.PACKAGE_STATUSES) == amazon_normalize.PACKAGE_STATUSES
    order = load("search_orders__page1")["orders"][0]
    for value in enum:
        order["fulfillment"]["fulfillmentStatus"] = value
        assert normalize_order("a", order, "GET", "o")[0].status in ("pending", "unshipped", "shipped",
                                                                      "delivered", "cancelled", "partially_shipped")
    amazon_normalize._warned.clear()
    order["fulfillment"]["fulfillmentStatus"] = "TELEPORTED"
    for _ in range(3):
        assert normalize_order("a", order, "GET", "o")[0].status == "unknown"  # never a plausible wrong state
    warnings = [r for r in caplog.records if "TELEPORTED" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"


def _by_id(metrics: list[ReportedMetric]) -> dict[tuple[str, str | None], ReportedMetric]:
    return {(m.metric_id, m.scope): m for m in metrics}


def test_performance_report_both_spellings_and_missing_blocks(clock):
    schema = _by_id(normalize_performance("a", load("performance_report"), "ATVPDKIKX0DER", clock.now(), "doc"))
    example = _by_id(normalize_performance("a", load("performance_report__example_spelling"), "ATVPDKIKX0DER",
                                           clock.now(), "doc"))
    for got in (schema, example):
        cancel = got[("amazon.pre_fulfillment_cancel_rate", None)]
        assert cancel.value == 0.005 and cancel.numerator == 551 and cancel.denominator == 17197
        assert cancel.window_start.isoformat() == "2026-11-12T00:00:00+00:00"
        odr = got[("amazon.odr", "mfn")]
        assert odr.value == 0.009 and odr.numerator == 1078 and odr.denominator == 539000
        assert odr.window_end.isoformat() == "2026-11-04T23:59:00+00:00"  # each metric keeps its own range
        claims = got[("amazon.atoz_claim_rate", "mfn")]
        assert claims.numerator == 442 and claims.value == pytest.approx(442 / 539000)
        assert got[("amazon.late_shipment_rate", None)].value == pytest.approx(0.03203973037)
    assert schema[("amazon.odr", "afn")].value == 0.004
    assert schema[("amazon.account_health_rating", None)].status == "GREAT"
    assert example[("amazon.account_health_rating", None)].status == "WARNED"
    # a block Amazon left out is "not reported", never zero
    missing = example[("amazon.on_time_delivery_rate", None)]
    assert missing.value is None and missing.status == "NOT_REPORTED"
    assert schema[("amazon.on_time_delivery_rate", None)].value == 0.9529


def test_feedback_report_rows_become_ratings_without_comments_or_emails():
    rows = list(amazon_reports.tsv_rows(tsv("feedback_report.tsv")))
    ratings = normalize_feedback_rows("a", rows, "feedback")
    assert [(r.order_ref, r.score, r.negative) for r in ratings] == [
        ("113-1234567-7654321", "1", True), ("113-2222222-3333333", "3", False), ("113-4444444-5555555", "2", True)]
    assert ratings[0].rated_at.isoformat() == "2026-11-20T00:00:00+00:00"
    assert "marketplace.amazon.com" not in json.dumps([r.model_dump(mode="json") for r in ratings])


def test_backfill_plan_for_10k_and_100k_orders():
    small, large = amazon_reports.plan(10_000), amazon_reports.plan(100_000)
    assert (small.page_by_page_calls, round(small.page_by_page_hours, 1)) == (100, 4.0)
    assert (large.page_by_page_calls, round(large.page_by_page_hours, 1)) == (1000, 48.6)
    assert (small.paged_orders, small.page_calls, small.hours) == (2528, 26, pytest.approx(6 / 0.0056 / 3600))
    assert (large.page_calls, round(large.hours, 1)) == (253, 11.6)
    assert small.report_calls == large.report_calls == 7


@responses.activate
def test_sync_pages_to_the_end_and_keeps_the_cursor_two_minutes_behind(store, clock):
    fake = FakeAmazon(responses.mock)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    first, second = fake.calls
    assert first["includedData"] == "FULFILLMENT,PACKAGES,CANCELLATION" and first["maxResultsPerPage"] == "100"
    # calls: pages only; items, packages and cancellations come inside each order (amazon.md, Calls)
    assert not [c for c in responses.calls if re.search(r"/orders/[^/?]+/orders/[^/?]+", c.request.url)]
    assert first["lastUpdatedAfter"] == "2026-08-25T12:00:00Z"  # backfill_days = 90
    assert first["lastUpdatedBefore"] == "2026-11-23T11:57:00Z"  # never closer than 2 minutes to now
    assert "createdAfter" not in first and "paginationToken" not in first
    # the token goes back with the same filters, URL-encoded
    assert second["paginationToken"] == "AAAAAAAAAABsZWFzdFVwZGF0ZWQ+Ly9wYWdlMg=="
    assert {k: v for k, v in second.items() if k != "paginationToken"} == first
    assert store.count("order", account="amz-1") == 5 and store.count("shipment", account="amz-1") == 1
    assert store.count("cancellation", account="amz-1") == 2
    assert store.cursor("amz-1", "orders") == "2026-11-23T11:57:00Z"
    assert fake.headers == ["Atza|token-1", "Atza|token-1"] and fake.tokens == 1


@responses.activate
def test_rerun_reads_only_the_window_since_the_cursor(store, clock):
    fake = FakeAmazon(responses.mock)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    clock.advance(600)
    fake.calls.clear()
    fake.pages[:] = [{"orders": [], "lastUpdatedBefore": "2026-11-23T12:07:00Z"}]
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert fake.calls == [{**fake.calls[0], "lastUpdatedAfter": "2026-11-23T11:57:00Z",
                           "lastUpdatedBefore": "2026-11-23T12:07:00Z"}]
    assert fake.tokens == 1  # the access token was reused from the account state
    assert store.cursor("amz-1", "orders") == "2026-11-23T12:07:00Z"


@responses.activate
def test_expired_access_token_mid_sync_is_refreshed_once(store, clock):
    fake = FakeAmazon(responses.mock)
    original, state = fake.search, {"n": 0}

    def expire_on_page_two(request):
        state["n"] += 1
        if state["n"] == 2:
            return 403, {}, json.dumps({"errors": [{"code": "Unauthorized", "message":
                                                    "The access token you provided has expired."}]})
        return original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=expire_on_page_two)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert fake.tokens == 2 and fake.headers == ["Atza|token-1", "Atza|token-2"]
    assert store.count("order", account="amz-1") == 5


@responses.activate
def test_429_drains_the_bucket_then_succeeds(store, clock):
    fake = FakeAmazon(responses.mock)
    original, state = fake.search, {"n": 0}

    def limited_once(request):
        state["n"] += 1  # SP-API sends no Retry-After
        if state["n"] == 1:
            return 429, {"x-amzn-ErrorType": "TooManyRequestsException"}, json.dumps(
                {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota."}]})
        return original(request)

    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=limited_once)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.ok, outcome.error
    assert any(s == pytest.approx(1 / 0.0056, rel=0.01) for s in clock.slept), clock.slept  # a full refill
    assert store.count("order", account="amz-1") == 5


@responses.activate
def test_the_usage_plan_holds_across_syncs(store, clock):
    """21 pages: the burst of 20, then one page per 1/0.0056 s, and the next sync starts from an empty bucket."""
    pages = [{"orders": [], "pagination": {"nextToken": f"t{i}"}} for i in range(21)] + [{"orders": []}]

    def search(request):
        token = query(request).get("paginationToken")
        return 200, {}, json.dumps(pages[0 if token is None else int(token[1:]) + 1])

    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add_callback(responses.GET, ORDERS, callback=search)
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    waits = [s for s in clock.slept if s > 100]
    assert len(waits) == 2 and sum(waits) == pytest.approx(2 / 0.0056, rel=0.01)
    clock.advance(60)
    pages[:] = [{"orders": []}]
    clock.slept.clear()
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"]).ok
    assert sum(clock.slept) == pytest.approx(1 / 0.0056 - 60, rel=0.01)  # the bucket was not refilled for free


@responses.activate
def test_5xx_exhausted_gives_a_clear_error_and_keeps_the_cursor(store, clock):
    FakeAmazon(responses.mock)
    responses.mock.remove(responses.GET, ORDERS)
    responses.mock.add(responses.GET, ORDERS, status=503, json={"errors": [{"code": "ServiceUnavailable",
                                                                            "message": "down"}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not outcome.ok and outcome.error_kind == "wait"
    assert outcome.error == ("amz-1: orders: amazon: GET https://sellingpartnerapi-na.amazon.com/orders/2026-01-01/"
                             "orders: the marketplace is unavailable (HTTP 503); gave up after 5 attempts")
    assert store.cursor("amz-1", "orders") is None and store.count("order", account="amz-1") == 0
    assert "s3cr3t" not in outcome.error and "refresh-value" not in outcome.error


@responses.activate
def test_malformed_page_keeps_the_window_open(store, clock):
    pages = [load("search_orders__page1"), load("search_orders__page2")]
    del pages[1]["orders"][0]["createdTime"]
    FakeAmazon(responses.mock, pages)
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert not outcome.ok and outcome.error_kind == "payload"
    assert outcome.error.endswith("bad payload: page 2.orders[0].createdTime: missing")
    assert store.count("order", account="amz-1") == 3  # page 1 only
    assert store.cursor("amz-1", "orders") is None  # the window is read again next time


def _reports(rsps, status_sequence: list[str], document: bytes | None = None, doc_status: list[int] | None = None):
    calls = {"create": 0, "get": 0, "doc": 0, "s3": 0}
    rsps.add_callback(responses.POST, TOKEN, callback=lambda r: (200, {}, json.dumps(load("token"))))

    def create(request):
        calls["create"] += 1
        body = json.loads(request.body)
        calls["body"] = body
        return 202, {}, json.dumps(load("create_report"))

    def get(request):
        status = status_sequence[min(calls["get"], len(status_sequence) - 1)]
        calls["get"] += 1
        name = {"IN_PROGRESS": "report__in_progress", "DONE": "report__done", "CANCELLED": "report__cancelled"}[status]
        return 200, {}, json.dumps(load(name))

    def doc(request):
        calls["doc"] += 1
        return 200, {}, json.dumps(load("report_document"))

    def s3(request):
        assert "x-amz-access-token" not in request.headers  # presigned: no token to S3
        code = (doc_status or [200])[min(calls["s3"], len(doc_status or [200]) - 1)]
        calls["s3"] += 1
        if code != 200:
            return code, {}, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        return 200, {}, gzip.compress(document or b"")

    rsps.add_callback(responses.POST, REPORTS, callback=create)
    rsps.add_callback(responses.GET, f"{REPORTS}/50020019003", callback=get)
    rsps.add_callback(responses.GET, f"{DOCS}/amzn1.spdoc.1.4.na.1f8c4a2e-0000-4000-8000-000000000001", callback=doc)
    rsps.add_callback(responses.GET, S3, callback=s3)
    return calls


@responses.activate
def test_performance_report_is_resumed_after_a_restart_not_requested_again(store, clock):
    calls = _reports(responses.mock, ["IN_PROGRESS", "IN_PROGRESS", "DONE"],
                     json.dumps(load("performance_report")).encode())
    acc = account(report_wait_s=15, report_poll_s=15)
    first = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["performance"])
    assert not first.ok and first.error_kind == "wait" and "resumes it" in first.error
    assert store.state("amz-1", "report:GET_V2_SELLER_PERFORMANCE_REPORT") == "50020019003"
    assert calls["body"] == {"reportType": "GET_V2_SELLER_PERFORMANCE_REPORT", "marketplaceIds": ["ATVPDKIKX0DER"]}
    clock.advance(300)
    second = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["performance"])
    assert second.ok, second.error
    assert calls["create"] == 1  # resumed, not requested again
    # 10 service figures + account status, 10 policy categories, 1 warning state (amazon_health.py)
    assert store.count("reported_metric", account="amz-1") == 23  # incl. the US unit on-time delivery rate
    assert store.state("amz-1", "report:GET_V2_SELLER_PERFORMANCE_REPORT") is None
    # once a day: the next sync an hour later asks nothing
    clock.advance(3600)
    assert sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["performance"]).ok
    assert calls["create"] == 1


@responses.activate
def test_an_expired_document_url_is_asked_for_again(store, clock):
    calls = _reports(responses.mock, ["DONE"], json.dumps(load("performance_report")).encode(), doc_status=[403, 200])
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["performance"])
    assert outcome.ok, outcome.error
    assert calls["doc"] == 2 and calls["s3"] == 2


@responses.activate
def test_cancelled_feedback_report_is_no_data_not_zero(store, clock):
    calls = _reports(responses.mock, ["CANCELLED"])
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert outcome.ok, outcome.error
    assert store.count("rating", account="amz-1") == 0 and calls["doc"] == 0
    assert calls["body"]["dataStartTime"] == "2026-08-25T12:00:00Z" and "dataEndTime" not in calls["body"]
    assert store.cursor("amz-1", "feedback") == "2026-11-23T12:00:00Z"


@responses.activate
def test_feedback_report_done_stores_ratings(store, clock):
    _reports(responses.mock, ["DONE"], tsv("feedback_report.tsv"))
    assert sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"]).ok
    assert store.count("rating", account="amz-1") == 3


@responses.activate
def test_backfill_uses_the_order_report_then_pages_recent_seller_orders(store, clock):
    fake = FakeAmazon(responses.mock)
    calls = _reports(responses.mock, ["DONE"], tsv("orders_report.tsv"))
    progress = []
    acc = account(backfill="report")
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"],
                  progress=lambda a, s, b: progress.append((b.progress, b.total)))
    assert outcome.ok, outcome.error
    assert calls["body"]["reportType"] == "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
    assert fake.calls[0]["fulfilledBy"] == "MERCHANT"
    assert fake.calls[0]["lastUpdatedAfter"] == "2026-10-19T12:00:00Z"  # package_days = 35
    assert progress[0] == (1, 2) and all(total is not None for _, total in progress)
    assert store.count("order", account="amz-1") == 5  # the report's 3 are paged again with their packages
    assert store.cursor("amz-1", "orders") == "2026-11-23T11:57:00Z"


def test_sandbox_account_is_a_valid_config():
    from sellerguard.connectors import amazon

    cfg = parse_config({"accounts": [amazon.sandbox_account("http://127.0.0.1:1/amazon", "amazon-us")]})
    assert cfg.accounts[0].base_url == "http://127.0.0.1:1/amazon"


def test_unknown_region_is_a_config_error(store, clock):
    acc = copy.deepcopy(account()).model_copy(update={"region": "mars"})
    outcome = sync_account(acc, store, clock=clock, sleep=clock.sleep, streams=["orders"])
    assert outcome.error_kind == "config" and "unknown region 'mars'" in outcome.error


def test_deadline_fields_are_utc():
    order = normalize_order("a", load("search_orders__page2")["orders"][1], "x", "y")[0]
    assert order.ship_by.utcoffset() == timedelta(0)


@responses.activate
def test_a_corrupt_gzip_document_is_a_payload_error(store, clock):
    _reports(responses.mock, ["DONE"])
    responses.mock.remove(responses.GET, S3)
    responses.mock.add(responses.GET, S3, body=b"not gzip at all")
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert outcome.error_kind == "payload" and "the GZIP report document is corrupt" in outcome.error
    # the broken document is not re-read forever: the pending report is dropped, the next sync asks anew
    assert "the next sync requests a new report" in outcome.error
    assert store.state("amz-1", "report:GET_SELLER_FEEDBACK_DATA") is None


@responses.activate
def test_a_saved_report_amazon_no_longer_knows_is_forgotten(store, clock):
    _reports(responses.mock, ["DONE"])
    store.put_state("amz-1", "report:GET_SELLER_FEEDBACK_DATA", "999", now=clock.now())
    responses.mock.add(responses.GET, f"{REPORTS}/999", status=404,
                       json={"errors": [{"code": "NotFound", "message": "not found"}]})
    outcome = sync_account(account(), store, clock=clock, sleep=clock.sleep, streams=["feedback"])
    assert outcome.error_kind == "wait" and "the next sync requests a new one" in outcome.error
    assert store.state("amz-1", "report:GET_SELLER_FEEDBACK_DATA") is None


def test_regional_and_sandbox_hosts():
    from sellerguard.connectors import amazon, ebay
    from sellerguard.connectors.contract import SyncContext

    def ctx(acc):
        return SyncContext(account=acc, state=None, clock=None, sleep=None)  # type: ignore[arg-type]

    eu = account().model_copy(update={"region": "eu"})
    assert amazon.host(ctx(eu)) == "https://sellingpartnerapi-eu.amazon.com"
    fe_sandbox = account().model_copy(update={"region": "fe", "sandbox": True})
    assert amazon.host(ctx(fe_sandbox)) == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    assert ebay.hosts(ctx(eu.model_copy(update={"marketplace": "ebay", "sandbox": True}))) == (
        "https://api.sandbox.ebay.com", "https://apiz.sandbox.ebay.com")
    assert ebay.hosts(ctx(eu.model_copy(update={"marketplace": "ebay"}))) == ("https://api.ebay.com",
                                                                              "https://apiz.ebay.com")


def test_order_report_rows_become_one_order_each():
    from sellerguard.connectors.amazon_normalize import normalize_order_rows

    rows = list(amazon_reports.tsv_rows(tsv("orders_report.tsv")))
    mfn, afn, cancelled = normalize_order_rows("a", rows, "report", "ATVPDKIKX0DER")
    assert mfn.external_id == "113-1234567-7654321" and mfn.item_count == 3 and str(mfn.total) == "59.9700"
    assert mfn.fulfilment == "seller" and mfn.site == "ATVPDKIKX0DER" and mfn.ship_by is None
    assert afn.fulfilment == "marketplace" and cancelled.status == "cancelled" and cancelled.total is None
