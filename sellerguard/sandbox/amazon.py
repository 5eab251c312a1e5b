"""Amazon SP-API in the sandbox: LWA token, Sellers participations, Orders 2026-01-01 searchOrders, Reports API.

Shapes follow the models in ../shared/specs/amazon (orders_2026-01-01, reports_2021-06-30, sellers, and the
Account Health report JSON Schema; tests validate them). Like Amazon: the access token goes in
``x-amz-access-token`` and lasts an hour; an expired one gets 403 Unauthorized "The access token you provided has
expired"; ``lastUpdatedBefore`` closer than 2 minutes to now is a 400; exactly one of createdAfter /
lastUpdatedAfter; ``paginationToken`` with the same filters; ``includedData`` decides which blocks appear;
packages only on seller-fulfilled orders; no delivery or cancellation time (the order's lastUpdatedTime moves);
reports are created, processed on the first poll, and served GZIP from a presigned URL that expires in 5 minutes.

Quirks integrators report, reproduced (docs/connectors/amazon.md, Quirks): an expired token is a 403
"Unauthorized" whose expiry text is only in ``details``; flat-file reports follow the seller's language (the
Amazon.de account's feedback report has German titles and day-first dates; an account set to "ja" gets its All
Orders report with Japanese titles in cp932: ``sandbox.amazon_languages[account] = "ja"``); shipped orders carry
All Orders sub-statuses ("Shipped - Delivered to Buyer", "Shipped - Out for Delivery"); ASINs have product types
and display groups in ``/catalog/2022-04-01/items``.
"""

from __future__ import annotations

import base64
import gzip
import json
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from sellerguard.sandbox.server import Reply, Request, Sandbox
from sellerguard.sandbox.world import WAccount, WOrder

MARKETPLACE = "amazon"
TOKEN_TTL_S = 3600
URL_TTL_S = 300
CLIENT_ID = "amzn1.application-oa2-client.sandbox"
CLIENT_SECRET = "sbx-secret"
SALES_CHANNEL = {"ATVPDKIKX0DER": "Amazon.com", "A1PA6795UKMFR9": "Amazon.de", "A1F83G8C2ARO7P": "Amazon.co.uk"}
COUNTRY = {"ATVPDKIKX0DER": ("US", "USD", "en_US"), "A1PA6795UKMFR9": ("DE", "EUR", "de_DE")}
SITE_LANGUAGE = {"A1PA6795UKMFR9": "de"}  # the seller's "Language for feed processing report" per site
# (product type, website display group) by SKU number: a few categories so per-category metrics have rows
CATEGORIES = [("TOY_FIGURE", "Toys"), ("KITCHEN", "Kitchen"), ("SHOES", "Shoes"), ("HOME_BED_AND_BATH", "Home"),
              ("CELLULAR_PHONE_CASE", "Wireless")]
FEEDBACK_TITLES = {"en": ["Date", "Rating", "Comments", "Your Response", "Order ID", "Rater Email"],
                   "de": ["Datum", "Bewertung", "Kommentare", "Ihre Antwort", "Bestellnummer",
                          "E-Mail-Adresse des Bewerters"]}
ORDER_TITLES_JA = ["注文番号", "出品者注文番号", "購入日", "最終更新日", "注文ステータス",
                   "フルフィルメント・チャネル", "販売チャネル", "配送サービスレベル", "出品者SKU", "ASIN",
                   "商品ステータス", "数量", "通貨", "商品価格"]


def asin(o: WOrder) -> str:
    """One ASIN per SKU (the same product in many orders), as in a real catalog."""
    return f"B0{int(o.sku.rsplit('-', 1)[-1]):08d}"


def category(asin_: str) -> tuple[str, str]:
    return CATEGORIES[int(asin_[2:]) % len(CATEGORIES)]


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"errors": [{"code": code, "message": message}]})


def last_updated(o: WOrder) -> datetime:
    """What moves an Amazon order: payment, shipment confirmation, delivery, cancellation (not feedback)."""
    times = [o.purchased_at]
    s = o.shipment
    if s is not None:
        times += [t for t in (s.confirmed_at, s.delivered_at if s.tracking_valid else None) if t is not None]
    if o.cancel is not None:
        times.append(o.cancel.at)
    return max(times)


def render_order(acc: WAccount, o: WOrder, included: set[str]) -> dict[str, Any]:
    mfn = o.fulfilment == "seller"
    s = o.shipment
    status = "CANCELLED" if o.cancel else "SHIPPED" if s is not None else "UNSHIPPED"
    item: dict[str, Any] = {
        "orderItemId": f"{o.seq:014d}", "quantityOrdered": o.items,
        "product": {"asin": asin(o), "title": f"Sandbox item {o.sku}", "sellerSku": o.sku,
                    "condition": {"conditionType": "NEW", "conditionSubtype": "NEW"},
                    "price": {"unitPrice": {"amount": str(o.unit_price), "currencyCode": o.currency}}},
    }
    if "FULFILLMENT" in included:
        shipped = o.items if s is not None else 0
        item["fulfillment"] = {"quantityFulfilled": shipped, "quantityUnfulfilled": o.items - shipped}
    if "CANCELLATION" in included and o.cancel is not None:
        c = o.cancel
        cancel: dict[str, Any] = {"cancellationExecution": {
            "cancelledBy": {"seller": "MERCHANT", "buyer": "BUYER", "marketplace": "AMAZON"}[c.by],
            "cancelReason": c.reason}}
        if c.buyer_requested:
            cancel["cancellationRequest"] = {"requester": "BUYER", "cancelReason": c.reason}
        item["cancellation"] = cancel
    order: dict[str, Any] = {
        "orderId": o.id, "createdTime": iso(o.purchased_at), "lastUpdatedTime": iso(last_updated(o)),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": acc.site,
                         "marketplaceName": SALES_CHANNEL.get(acc.site, "Amazon")},
        "orderItems": [item],
    }
    if "FULFILLMENT" in included:
        fulfillment: dict[str, Any] = {"fulfillmentStatus": status, "fulfilledBy": "MERCHANT" if mfn else "AMAZON",
                                       "fulfillmentServiceLevel": "STANDARD"}
        if mfn:
            fulfillment["shipByWindow"] = {"earliestDateTime": iso(o.purchased_at), "latestDateTime": iso(o.ship_by)}
            fulfillment["deliverByWindow"] = {"earliestDateTime": iso(o.ship_by),
                                              "latestDateTime": iso(o.deliver_by)}
        order["fulfillment"] = fulfillment
    if "PACKAGES" in included and mfn and s is not None:
        state = "DELIVERED" if s.delivered_at and s.tracking_valid else "IN_TRANSIT" if s.tracking_valid else "SHIPPED"
        order["packages"] = [{
            "packageReferenceId": "1", "createdTime": iso(s.confirmed_at or s.shipped_at),  # type: ignore[arg-type]
            "packageStatus": {"status": state}, "carrier": s.carrier, "shipTime": iso(s.shipped_at),  # type: ignore[arg-type]
            "shippingService": "Standard", "trackingNumber": s.tracking,
            "packageItems": [{"orderItemId": f"{o.seq:014d}", "quantity": o.items}],
        }]
    return order


# -- reports --------------------------------------------------------------------------------------------


def _rate(num: int, den: int) -> float:
    return round(num / den, 6) if den else 0.0


def _range(now: datetime, days: int, lag: int = 0) -> dict[str, str]:
    end = now - timedelta(days=lag)
    return {"reportingDateFrom": (end - timedelta(days=days)).strftime("%Y-%m-%dT00:00Z"),
            "reportingDateTo": end.strftime("%Y-%m-%dT23:59Z")}


def _odr(orders: list[WOrder], kind: str, now: datetime) -> dict[str, Any]:
    lo, hi = now - timedelta(days=74), now - timedelta(days=14)
    pop = [o for o in orders if lo <= o.purchased_at < hi]
    neg = sum(1 for o in pop if o.feedback and o.feedback.score <= 2 and o.feedback.at <= now)
    claims = sum(1 for o in pop if o.claim and o.claim.kind != "chargeback" and o.claim.seller_at_fault)
    charge = sum(1 for o in pop if o.claim and o.claim.kind == "chargeback" and o.claim.seller_at_fault)
    defects = sum(1 for o in pop if (o.feedback and o.feedback.score <= 2) or (o.claim and o.claim.seller_at_fault))
    rate = _rate(defects, len(pop))
    return {"reportingDateRange": _range(now, 60, 14), "orderCount": len(pop),
            "orderWithDefects": {"count": defects, "status": "GOOD" if rate < 0.01 else "BAD"},
            "claims": {"count": claims, "status": "NONE"}, "chargebacks": {"count": charge, "status": "NONE"},
            "negativeFeedback": {"count": neg, "status": "NONE"}, "fulfillmentType": kind,
            "status": "GOOD" if rate < 0.01 else "BAD", "rate": rate, "targetValue": 0.01,
            "targetCondition": "LESS_THAN"}


# profile -> the policy-compliance blocks that trip (defectsCount, Amazon's status); healthy accounts have none
POLICY_TRIPS: dict[str, dict[str, tuple[int, str]]] = {
    "drifting": {"listingPolicyViolations": (2, "BAD"), "receivedIntellectualPropertyComplaints": (1, "GOOD")},
    "critical": {"listingPolicyViolations": (3, "BAD"), "productAuthenticityCustomerComplaints": (2, "BAD"),
                 "restrictedProductPolicyViolations": (1, "BAD")},
}


def performance_document(acc: WAccount, now: datetime) -> dict[str, Any]:
    """The Account Health document computed from the world, in the schema's own (required) spelling."""
    mfn = [o for o in acc.orders if o.fulfilment == "seller"]
    afn = [o for o in acc.orders if o.fulfilment != "seller"]
    d30 = [o for o in mfn if now - timedelta(days=30) <= o.ship_by < now and o.cancel is None]
    late = sum(1 for o in d30 if o.shipment is None or (o.shipment.confirmed_at or now) > o.ship_by)
    d7 = [o for o in mfn if o.purchased_at >= now - timedelta(days=7)]
    cancels = sum(1 for o in d7 if o.cancel and not o.cancel.buyer_requested)
    shipped = [o for o in mfn if o.shipment and o.shipment.shipped_at and o.shipment.shipped_at >= now - timedelta(30)]
    valid = sum(1 for o in shipped if o.shipment.tracking_valid)  # type: ignore[union-attr]
    d14 = [o for o in shipped if o.shipment.tracking_valid  # type: ignore[union-attr]
           and now - timedelta(days=21) <= o.deliver_by < now - timedelta(days=7)]
    on_time = sum(1 for o in d14 if o.shipment.delivered_at and o.shipment.delivered_at <= o.deliver_by)  # type: ignore[union-attr]
    lsr, cr, vtr, otdr = _rate(late, len(d30)), _rate(cancels, len(d7)), _rate(valid, len(shipped)), \
        _rate(on_time, len(d14))
    violation = {"reportingDateRange": _range(now, 180), "defectsCount": 0, "status": "GOOD", "targetValue": 0,
                 "targetCondition": "EQUALS"}
    odr_mfn = _odr(mfn, "mfn", now)
    metrics: dict[str, Any] = {
        "marketplaceId": acc.site,
        "invoiceDefectRate": {"reportingDateRange": _range(now, 7), "orderCount": len(d7),
                              "invoiceDefect": {"count": 0, "status": "GOOD"},
                              "missingInvoice": {"count": 0, "status": "NONE"},
                              "lateInvoice": {"count": 0, "status": "NONE"}, "status": "GOOD", "rate": 0.0,
                              "targetValue": 0.05, "targetCondition": "LESS_THAN"},
        "lateShipmentRate": {"reportingDateRange": _range(now, 30), "orderCount": len(d30),
                             "lateShipmentCount": late, "status": "GOOD" if lsr < 0.04 else "BAD", "rate": lsr,
                             "targetValue": 0.04, "targetCondition": "LESS_THAN"},
        "orderDefectRate": {"mfn": odr_mfn, "afn": _odr(afn, "afn", now)},
        "onTimeDeliveryRate": {"reportingDateRange": _range(now, 14, 7), "shipmentCountWithValidTracking": len(d14),
                               "onTimeDeliveryCount": on_time, "status": "GOOD" if otdr >= 0.9 else "BAD",
                               "rate": otdr, "targetValue": 0.9, "targetCondition": "GREATER_THAN"},
        "unitOnTimeDeliveryRate": {"reportingDateRange": _range(now, 14, 7), "status": "GOOD", "targetValue": 0.9,
                                   "targetCondition": "GREATER_THAN", "unitOnTimeDeliveryCount": on_time,
                                   "totalUnitCount": len(d14), "rate": otdr},
        "validTrackingRate": {"reportingDateRange": _range(now, 30), "shipmentCount": len(shipped),
                              "validTrackingCount": valid, "status": "GOOD" if vtr > 0.95 else "BAD", "rate": vtr,
                              "targetValue": 0.95, "targetCondition": "GREATER_THAN"},
        "preFulfillmentCancellationRate": {"reportingDateRange": _range(now, 7), "orderCount": len(d7),
                                           "cancellationCount": cancels, "status": "GOOD" if cr < 0.025 else "BAD",
                                           "rate": cr, "targetValue": 0.025, "targetCondition": "LESS_THAN"},
        "warningStates": [],
        "accountHealthRating": {"ahrStatus": "GREAT" if odr_mfn["status"] == "GOOD" and lsr < 0.04 else "WARNED",
                                "reportingDateRange": _range(now, 180)},
    }
    for block in ("listingPolicyViolations", "productAuthenticityCustomerComplaints",
                  "productConditionCustomerComplaints", "productSafetyCustomerComplaints",
                  "receivedIntellectualPropertyComplaints", "restrictedProductPolicyViolations",
                  "suspectedIntellectualPropertyViolations", "foodAndProductSafetyIssues", "otherPolicyViolations",
                  "documentRequests"):
        metrics[block] = dict(violation)
    # Amazon's own warnings (connectors/amazon_health.py): a seller that is not healthy has a listing policy
    # violation Amazon calls BAD and a received IP complaint still GOOD; the account is then AT_RISK
    trips = POLICY_TRIPS.get(acc.profile, {})
    for block, (defects, word) in trips.items():
        metrics[block] = {**violation, "defectsCount": defects, "status": word}
    bad = any(word == "BAD" for _, word in trips.values())
    status = "NORMAL" if metrics["accountHealthRating"]["ahrStatus"] == "GREAT" and not bad else "AT_RISK"
    return {"accountStatuses": [{"marketplaceId": acc.site, "status": status}], "performanceMetrics": [metrics]}


def feedback_tsv(acc: WAccount, start: datetime, now: datetime, language: str = "en") -> str:
    """GET_SELLER_FEEDBACK_DATA: 1-3 stars only; comments and rater e-mails are placeholders.

    Titles and dates follow the seller's language: German titles with 03.11.26 dates for "de".
    """
    lines = ["\t".join(FEEDBACK_TITLES.get(language, FEEDBACK_TITLES["en"]))]
    date_format = "%d.%m.%y" if language == "de" else "%m/%d/%y"
    for o in acc.orders:
        f = o.feedback
        if f is None or f.removed or f.score > 3 or not start <= f.at <= now:
            continue
        lines.append(f"{f.at.strftime(date_format)}\t{f.score}\tSandbox comment\t\t{o.id}"
                     f"\tbuyer-{o.seq}@marketplace.amazon.com")
    return "\n".join(lines) + "\n"


ORDER_COLUMNS = ["amazon-order-id", "merchant-order-id", "purchase-date", "last-updated-date", "order-status",
                 "fulfillment-channel", "sales-channel", "ship-service-level", "sku", "asin", "item-status",
                 "quantity", "currency", "item-price", "ship-country"]


def report_status(o: WOrder) -> str:
    """The All Orders report's order-status, with the "Shipped - ..." sub-statuses real reports carry."""
    s = o.shipment
    if o.cancel:
        return "Cancelled"
    if s is None:
        return "Unshipped"
    if s.delivered_at is not None and s.tracking_valid:
        return "Shipped - Delivered to Buyer"
    return "Shipped - Out for Delivery" if s.tracking_valid and o.seq % 3 == 0 else "Shipped"


def orders_tsv(acc: WAccount, start: datetime, end: datetime, language: str = "en") -> bytes:
    """The All Orders report; for "ja" with Japanese titles in cp932 (Shift_JIS), as Amazon.co.jp writes it."""
    titles = ORDER_TITLES_JA if language == "ja" else ORDER_COLUMNS
    lines = ["\t".join(titles)]
    country = COUNTRY.get(acc.site, ("US",))[0]
    for o in acc.orders:
        updated = last_updated(o)
        if not start <= updated <= end:
            continue
        status = report_status(o)
        row = [o.id, "", o.purchased_at.isoformat(), updated.isoformat(), status,
               "Merchant" if o.fulfilment == "seller" else "Amazon", SALES_CHANNEL.get(acc.site, "Amazon"), "Standard",
               o.sku, asin(o), status.split(" - ")[0], str(o.items), o.currency, str(o.total), country]
        lines.append("\t".join(row[:len(titles)]))
    return ("\n".join(lines) + "\n").encode("cp932" if language == "ja" else "utf-8")


# -- routes ---------------------------------------------------------------------------------------------


def register(sandbox: Sandbox) -> None:
    route = sandbox.route
    lock = threading.Lock()
    reports: dict[str, dict[str, Any]] = {}
    documents: dict[str, tuple[bytes, datetime]] = {}
    searches: OrderedDict[str, list[WOrder]] = OrderedDict()  # a query's result, paged by token (bounded)

    def authed(req: Request) -> WAccount | Reply:
        token = req.header("x-amz-access-token")
        acc = sandbox.token_account(token)
        if acc is None or acc.marketplace != MARKETPLACE:
            if token and token.startswith("sbx-amazon-"):
                # Amazon's real shape: the expiry is only in "details" (issue 17 item 4)
                return Reply(403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is"
                                               " denied.", "details": "The access token you provided has expired."}]})
            if token:  # Amazon's answer to a token it never issued or cannot read
                return Reply(403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is"
                                               " denied.", "details": "The access token you provided is revoked,"
                                               " malformed or invalid."}]})
            return _error(403, "MissingAuthenticationToken", "Access to requested resource is denied.")
        return acc

    languages: dict[str, str] = {}  # account id -> report language, overriding the site's (tests set "ja")
    sandbox.amazon_languages = languages  # type: ignore[attr-defined]

    def language(acc: WAccount) -> str:
        return languages.get(acc.id) or SITE_LANGUAGE.get(acc.site, "en")

    def reply(body: Any, limit: str, status: int = 200) -> Reply:
        return Reply(status, body, {"x-amzn-RateLimit-Limit": limit, "x-amzn-RequestId": secrets.token_hex(8)})

    @route(MARKETPLACE, "POST", r"/auth/o2/token")
    def token(req: Request) -> Reply:
        form = req.form()
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        given = form.get("refresh_token", "")
        acc = sandbox.world.accounts.get(given.removeprefix("Atzr|sbx-"))
        if form.get("grant_type") != "refresh_token" or acc is None or acc.marketplace != MARKETPLACE:
            return Reply(400, {"error": "invalid_grant", "error_description": "The request has an invalid grant"})
        access, _ = sandbox.issue_token(MARKETPLACE, acc.id, TOKEN_TTL_S)
        return Reply(200, {"access_token": access, "token_type": "bearer", "expires_in": TOKEN_TTL_S,
                           "refresh_token": given})

    @route(MARKETPLACE, "GET", r"/sellers/v1/marketplaceParticipations")
    def participations(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        country, currency, language = COUNTRY.get(acc.site, ("US", acc.currency, "en_US"))
        return reply({"payload": [{
            "marketplace": {"id": acc.site, "name": SALES_CHANNEL.get(acc.site, "Amazon"), "countryCode": country,
                            "defaultCurrencyCode": currency, "defaultLanguageCode": language,
                            "domainName": SALES_CHANNEL.get(acc.site, "amazon.com").lower()},
            "participation": {"isParticipating": True, "hasSuspendedListings": False},
            "storeName": acc.display_name}]}, "0.016")

    @route(MARKETPLACE, "GET", r"/orders/2026-01-01/orders")
    def search_orders(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        now = sandbox.clock.now()
        try:
            after_u, before_u = _parse(req.arg("lastUpdatedAfter")), _parse(req.arg("lastUpdatedBefore"))
            after_c, before_c = _parse(req.arg("createdAfter")), _parse(req.arg("createdBefore"))
            size = int(req.arg("maxResultsPerPage", "100") or 100)
        except ValueError as exc:
            return _error(400, "InvalidInput", f"Invalid input: {exc}")
        if (after_u is None) == (after_c is None):
            return _error(400, "InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter is required.")
        if after_u is not None and (after_c or before_c):
            return _error(400, "InvalidInput", "createdAfter/createdBefore cannot be combined with lastUpdatedAfter.")
        for bound in (before_u, before_c):
            if bound is not None and bound > now - timedelta(minutes=2):
                return _error(400, "InvalidInput", "lastUpdatedBefore/createdBefore must be at least 2 minutes"
                                                   " before the time of the request.")
        if not 1 <= size <= 100:
            return _error(400, "InvalidInput", "maxResultsPerPage must be between 1 and 100.")
        if acc.site not in (req.arg("marketplaceIds") or "").split(","):
            return _error(400, "InvalidInput", "marketplaceIds must include the seller's marketplace.")
        by = set(filter(None, (req.arg("fulfilledBy") or "").split(",")))
        included = set(filter(None, (req.arg("includedData") or "").split(",")))
        end = before_u or before_c or now - timedelta(minutes=2)
        key = json.dumps([acc.id, iso(after_u or after_c), iso(end), sorted(by), after_u is not None])  # type: ignore[arg-type]
        token = req.arg("paginationToken")
        offset = 0
        if token:
            try:
                key, raw_offset = base64.urlsafe_b64decode(token.encode()).decode().rsplit("|", 1)
                offset = int(raw_offset)
            except (ValueError, UnicodeDecodeError):
                return _error(400, "InvalidInput", "Invalid paginationToken.")
        with lock:
            rows = searches.get(key)
        if rows is None:
            if token:
                return _error(400, "InvalidInput", "The paginationToken has expired.")
            fulfil = {"MERCHANT": "seller", "AMAZON": "marketplace"}
            wanted = {fulfil[b] for b in by if b in fulfil} or {"seller", "marketplace"}
            if after_u is not None:
                rows = [o for o in acc.orders if o.fulfilment in wanted and after_u <= last_updated(o) <= end]
                rows.sort(key=last_updated)
            else:
                rows = [o for o in acc.orders if o.fulfilment in wanted and after_c <= o.purchased_at <= end]  # type: ignore[operator]
            with lock:
                searches[key] = rows
                while len(searches) > 16:
                    searches.popitem(last=False)
        page = rows[offset:offset + size]
        body: dict[str, Any] = {"orders": [render_order(acc, o, included) for o in page]}
        if offset + size < len(rows):
            body["pagination"] = {"nextToken": base64.urlsafe_b64encode(f"{key}|{offset + size}".encode()).decode()}
        body["lastUpdatedBefore" if after_u is not None else "createdBefore"] = iso(end)
        return reply(body, "0.0056")

    @route(MARKETPLACE, "GET", r"/catalog/2022-04-01/items")
    def catalog_items(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        ids = [i for i in (req.arg("identifiers") or "").split(",") if i]
        if req.arg("identifiersType") != "ASIN" or not 1 <= len(ids) <= 20 or not req.arg("marketplaceIds"):
            return _error(400, "InvalidInput", "identifiersType=ASIN with 1 to 20 identifiers and marketplaceIds"
                                               " are required.")
        site = req.arg("marketplaceIds", "").split(",")[0]  # type: ignore[union-attr]
        items = []
        for a in ids:
            if not (a.startswith("B0") and a[2:].isdigit()):
                continue  # an ASIN the catalog does not know is simply absent
            product_type, group = category(a)
            items.append({"asin": a,
                          "summaries": [{"marketplaceId": site, "itemName": f"Sandbox item {a}",
                                         "websiteDisplayGroup": f"{group.lower()}_display_on_website",
                                         "websiteDisplayGroupName": group}],
                          "productTypes": [{"marketplaceId": site, "productType": product_type}]})
        return reply({"numberOfResults": len(items), "pagination": {}, "refinements": {"brands": [],
                      "classifications": []}, "items": items}, "2.0")

    @route(MARKETPLACE, "POST", r"/reports/2021-06-30/reports")
    def create_report(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        spec = req.json() or {}
        kind = spec.get("reportType")
        if kind not in ("GET_V2_SELLER_PERFORMANCE_REPORT", "GET_SELLER_FEEDBACK_DATA",
                        "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL") or not spec.get("marketplaceIds"):
            return _error(400, "InvalidInput", "Unsupported reportType or missing marketplaceIds.")
        report_id = str(50_000_000_000 + len(reports) + secrets.randbelow(10**6) * 1000)
        with lock:
            reports[report_id] = {"reportId": report_id, "reportType": kind, "account": acc.id,
                                  "marketplaceIds": spec["marketplaceIds"], "createdTime": iso(sandbox.clock.now()),
                                  "processingStatus": "IN_QUEUE", "dataStartTime": spec.get("dataStartTime"),
                                  "dataEndTime": spec.get("dataEndTime")}
        return reply({"reportId": report_id}, "0.0167", 202)

    @route(MARKETPLACE, "GET", r"/reports/2021-06-30/reports/(?P<rid>[^/]+)")
    def get_report(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        with lock:
            report = reports.get(req.match["rid"])  # type: ignore[index]
        if report is None or report["account"] != acc.id:
            return _error(404, "NotFound", "Report not found.")
        if report["processingStatus"] == "IN_QUEUE":  # processed by the first poll
            _process(acc, report)
        public = {k: v for k, v in report.items() if k != "account" and v is not None}
        return reply(public, "2.0")

    def _process(acc: WAccount, report: dict[str, Any]) -> None:
        now = sandbox.clock.now()
        kind = report["reportType"]
        start = _parse(report.get("dataStartTime")) or now - timedelta(days=90)
        end = _parse(report.get("dataEndTime")) or now
        if kind == "GET_V2_SELLER_PERFORMANCE_REPORT":
            data = json.dumps(performance_document(acc, now)).encode()
        elif kind == "GET_SELLER_FEEDBACK_DATA":
            text = feedback_tsv(acc, start, end, language(acc))
            if text.count("\n") <= 1:  # Amazon cancels a report that has no rows
                report.update(processingStatus="CANCELLED", processingEndTime=iso(now))
                return
            data = text.encode()
        else:
            data = orders_tsv(acc, start, end, language(acc))
        doc_id = f"amzn1.spdoc.1.4.na.{secrets.token_hex(8)}"
        with lock:
            documents[doc_id] = (gzip.compress(data, compresslevel=1), now)
        report.update(processingStatus="DONE", processingStartTime=iso(now), processingEndTime=iso(now),
                      reportDocumentId=doc_id)

    @route(MARKETPLACE, "GET", r"/reports/2021-06-30/documents/(?P<did>[^/]+)")
    def get_document(req: Request) -> Reply:
        acc = authed(req)
        if isinstance(acc, Reply):
            return acc
        doc_id = req.match["did"]  # type: ignore[index]
        with lock:
            if doc_id not in documents:
                return _error(404, "NotFound", "Report document not found.")
            documents[doc_id] = (documents[doc_id][0], sandbox.clock.now())  # a fresh URL each time
        host = req.header("host") or "127.0.0.1"
        signature = secrets.token_hex(6)
        return reply({"reportDocumentId": doc_id, "compressionAlgorithm": "GZIP",
                      "url": f"http://{host}/amazon/_s3/{doc_id}?X-Amz-Expires={URL_TTL_S}&X-Amz-Signature={signature}"},
                     "0.0167")

    @route(MARKETPLACE, "GET", r"/_s3/(?P<did>[^/]+)")
    def s3(req: Request) -> Reply:
        if req.header("x-amz-access-token"):
            return Reply(400, b"<Error><Code>InvalidArgument</Code></Error>", content_type="application/xml")
        with lock:
            entry = documents.get(req.match["did"])  # type: ignore[index]
        if entry is None or sandbox.clock.now() - entry[1] > timedelta(seconds=URL_TTL_S):
            return Reply(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                         content_type="application/xml")
        return Reply(200, entry[0], content_type="application/octet-stream")
