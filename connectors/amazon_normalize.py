"""Amazon SP-API payloads -> normalized records. Pure functions: no HTTP, no clock, no store.

- ``normalize_order``: an Orders API 2026-01-01 ``Order`` (searchOrders with
  ``includedData=FULFILLMENT,PACKAGES,CANCELLATION``) -> Order, one Shipment per package, a Cancellation.
- ``normalize_order_rows``: rows of the ``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL`` report (one row
  per item) -> order-level Orders for the backfill (no ship-by window, no packages: those come from paging).
- ``normalize_performance``: a ``GET_V2_SELLER_PERFORMANCE_REPORT`` document -> ReportedMetric records whose
  ids match ``rules/packs/amazon.toml``. Both spellings of specs/NOTES.md are read; a missing block is stored
  as "not reported" (value None), never as zero.
- ``normalize_feedback_rows``: ``GET_SELLER_FEEDBACK_DATA`` rows (1-3 stars only) -> Rating records.

Buyer names, addresses, e-mails and comments are never read.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.payload import WARNED, ident, iso_time, object_list, payload_error, ship_time
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Order,
    OrderLine,
    Rating,
    Record,
    ReportedMetric,
    Shipment,
    payload_hash,
)

FULFILLED_BY = {"MERCHANT": "seller", "AMAZON": "marketplace"}
# orders_2026-01-01.json FulfillmentStatus, the whole enum (tests walk it).
STATUS = {
    "PENDING_AVAILABILITY": "pending", "PENDING": "pending", "UNSHIPPED": "unshipped",
    "PARTIALLY_SHIPPED": "partially_shipped", "SHIPPED": "shipped", "CANCELLED": "cancelled",
    "UNFULFILLABLE": "unshipped",  # Multi-Channel Fulfillment order Amazon cannot fill: still open for the seller
}
PARTY = {"BUYER": "buyer", "MERCHANT": "seller", "SELLER": "seller", "AMAZON": "marketplace"}
# packages[].packageStatus.status, the whole enum of orders_2026-01-01.json PackageStatus.
PACKAGE_STATUSES = {"PENDING", "IN_TRANSIT", "SHIPPED", "DELIVERED", "CANCELLED", "UNDELIVERABLE"}
# Packages Amazon has seen moving: the tracking number was accepted by the carrier.
SCANNED = {"IN_TRANSIT", "DELIVERED", "UNDELIVERABLE"}
_log = logging.getLogger("sellerguard.connectors.amazon")
_warned = WARNED  # shared with every connector (sellerguard.payload.warn_unknown)


def warn_unknown(field: str, value: Any) -> None:
    """Log an unknown enum value once per process (the record keeps it recognisable: status "unknown")."""
    shared_warn_unknown("amazon", field, value)


def bad(where: str, field: str, problem: str) -> ConnectorError:
    return payload_error("amazon", where, field, problem)


def when(value: Any, where: str, field: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 (``2024-12-25T10:30:00Z``, also the report's ``2020-10-21T00:00Z``) -> aware UTC."""
    return iso_time(value, "amazon", where, field, required=required)


def _dict(node: Any, where: str, field: str) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise bad(where, field, "expected an object")
    return node


def _list(node: Any, where: str, field: str) -> list[dict[str, Any]]:
    return object_list(node, "amazon", where, field)


MAX_UNITS = 100_000  # units in one order line or order: more is not a real order
MAX_AMOUNT = Decimal("10000000")  # 10 million in the order currency


def _decimal(value: Any, where: str, field: str) -> Decimal:
    """A non-negative, finite amount below MAX_AMOUNT (prices cannot be negative, NaN or astronomic)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise bad(where, field, f"not a decimal: {str(value)[:40]!r}")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise bad(where, field, f"not a decimal: {str(value)[:40]!r}") from None
    if not amount.is_finite() or not 0 <= amount < MAX_AMOUNT:
        raise bad(where, field, f"not a plausible amount: {str(value)[:40]!r}")
    return amount


def _count(value: Any, where: str, field: str) -> int:
    """A unit count: absent is 0; a bool, a fraction, a negative or an absurd number is a payload error."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise bad(where, field, f"not a count: {str(value)[:20]!r}")
    number = int(str(value).strip())
    if number > MAX_UNITS:
        raise bad(where, field, f"not a plausible count: {number}")
    return number


def _fulfilment(order: dict[str, Any], fulfillment: dict[str, Any], where: str, field: str) -> str:
    by = fulfillment.get("fulfilledBy")
    if isinstance(by, str) and by in FULFILLED_BY:
        return FULFILLED_BY[by]
    if by is not None:  # a value outside MERCHANT/AMAZON: guessing the channel would put the order in wrong metrics
        raise bad(where, f"{field}.fulfillment.fulfilledBy", f"unknown value {str(by)[:30]!r}")
    # Not always sent on pending orders: Amazon gives a ship-by window and packages only to seller-fulfilled orders.
    return "seller" if fulfillment.get("shipByWindow") or order.get("packages") else "marketplace"


def normalize_order(account: str, order: Any, where: str, field: str,
                    categories: Mapping[str, tuple[str | None, str | None]] | None = None) -> list[Record]:
    """One ``Order`` -> [Order, Shipment per package..., Cancellation?].

    ``categories``: ASIN -> (product type, display group) from ``amazon_catalog`` (the Orders API has none).
    """
    if not isinstance(order, dict):
        raise bad(where, field, "expected an order object")
    order_id = order.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise bad(where, f"{field}.orderId", "missing")
    purchased = when(order.get("createdTime"), where, f"{field}.createdTime")
    updated = when(order.get("lastUpdatedTime"), where, f"{field}.lastUpdatedTime")
    fulfillment = _dict(order.get("fulfillment"), where, f"{field}.fulfillment")
    raw_status = fulfillment.get("fulfillmentStatus")
    if not isinstance(raw_status, str) or not raw_status:
        raise bad(where, f"{field}.fulfillment.fulfillmentStatus", "missing")
    if raw_status not in STATUS:
        warn_unknown("fulfillment.fulfillmentStatus", raw_status)
    ship_by = _dict(fulfillment.get("shipByWindow"), where, f"{field}.fulfillment.shipByWindow")
    deliver_by = _dict(fulfillment.get("deliverByWindow"), where, f"{field}.fulfillment.deliverByWindow")
    items = _list(order.get("orderItems"), where, f"{field}.orderItems")
    packages = _list(order.get("packages"), where, f"{field}.packages")
    if "packages" not in order and fulfillment.get("fulfilledBy") == "MERCHANT" and \
            STATUS.get(raw_status) in ("shipped", "partially_shipped"):
        # asked with includedData=PACKAGES: a shipped seller-fulfilled order without the key is a damaged answer
        # (its shipments would be lost without an error); an explicit [] is "no package"
        raise bad(where, f"{field}.packages", "missing on a shipped seller-fulfilled order (asked with "
                  "includedData=PACKAGES)")

    total, currency, count = Decimal(0), None, 0
    lines: list[OrderLine] = []
    for i, item in enumerate(items):
        qty = item.get("quantityOrdered")
        if not isinstance(qty, int) or isinstance(qty, bool) or not 0 <= qty <= MAX_UNITS:
            raise bad(where, f"{field}.orderItems[{i}].quantityOrdered", f"missing or not a count: {str(qty)[:20]!r}")
        count += qty
        item_id = item.get("orderItemId")
        asin = _dict(item.get("product"), where, f"{field}.orderItems[{i}].product").get("asin")
        product_type, group = (categories or {}).get(asin, (None, None)) if isinstance(asin, str) else (None, None)
        lines.append(OrderLine(line_id=str(item_id)[:200] if isinstance(item_id, str | int) else None,
                               quantity=qty, category_id=product_type, category_name=group))
        price = _dict(_dict(item.get("product"), where, f"{field}.orderItems[{i}].product").get("price"),
                      where, f"{field}.orderItems[{i}].product.price")
        unit = price.get("unitPrice")
        if isinstance(unit, dict) and unit.get("amount") is not None:
            total += _decimal(unit["amount"], where, f"{field}.orderItems[{i}].product.price.unitPrice.amount") * qty
            currency = currency or unit.get("currencyCode")

    status = STATUS.get(raw_status, "unknown")
    states = [_dict(p.get("packageStatus"), where, f"{field}.packages[{i}].packageStatus").get("status")
              for i, p in enumerate(packages)]
    for i, state in enumerate(states):
        if state is not None and not isinstance(state, str):
            raise bad(where, f"{field}.packages[{i}].packageStatus.status", f"not a status: {str(state)[:30]!r}")
        if state is not None and state not in PACKAGE_STATUSES:
            warn_unknown("packages[].packageStatus.status", state)
    if status == "shipped" and states and all(s == "DELIVERED" for s in states):
        status = "delivered"
    hashed = payload_hash(order)
    records: list[Record] = [Order(
        account=account, external_id=order_id, purchased_at=purchased, updated_at=updated,
        ship_by=when(ship_by.get("latestDateTime"), where, f"{field}.fulfillment.shipByWindow.latestDateTime",
                     required=False),
        deliver_by=when(deliver_by.get("latestDateTime"), where,
                        f"{field}.fulfillment.deliverByWindow.latestDateTime", required=False),
        fulfilment=_fulfilment(order, fulfillment, where, field),  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        total=total.quantize(Decimal("0.0001")) if currency else None,
        currency=currency if isinstance(currency, str) and len(currency) == 3 else None,
        item_count=count, site=_dict(order.get("salesChannel"), where, f"{field}.salesChannel").get("marketplaceId"),
        # unit price x quantity before promotions (PROMOTION data is not asked for)
        items_subtotal=total.quantize(Decimal("0.0001")) if currency else None, lines=tuple(lines),
        raw_hash=hashed,
    )]
    for i, package in enumerate(packages):
        # an id, never a list or an object made into one: a garbled id stored the package under a key the clean
        # answer never overwrites, while the cursor moved past the real one (fuzz: wrap_list on packageReferenceId)
        ref = ident(package.get("packageReferenceId"), "amazon", where, f"{field}.packages[{i}].packageReferenceId")
        state = states[i]
        shipped = when(package.get("shipTime"), where, f"{field}.packages[{i}].shipTime", required=False)
        created = when(package.get("createdTime"), where, f"{field}.packages[{i}].createdTime", required=False)
        qty = sum(_count(p.get("quantity"), where, f"{field}.packages[{i}].packageItems[{j}].quantity")
                  for j, p in enumerate(_list(package.get("packageItems"), where,
                                              f"{field}.packages[{i}].packageItems")))
        delivered = updated if state == "DELIVERED" else None
        shipped = ship_time(shipped, delivered)
        records.append(Shipment(
            account=account, external_id=f"{order_id}-{ref}", order_ref=order_id, shipped_at=shipped,
            confirmed_at=created or shipped, carrier=package.get("carrier") or None,
            tracking_number=package.get("trackingNumber") or None,
            tracking_validated=True if state in SCANNED else None,
            # the package is created when the seller confirms shipment with its tracking number
            tracking_uploaded_at=created if package.get("trackingNumber") else None,
            # Amazon gives no delivery time: the order's last update is when DELIVERED was set (docs: Quirks).
            delivered_at=delivered,
            item_count=qty or None, raw_hash=hashed,
        ))
    cancel = _cancellation(account, order_id, items, status, updated, where, field)
    if cancel is not None:
        records.append(cancel)
    return records


def _cancellation(account: str, order_id: str, items: list[dict[str, Any]], status: str, updated: datetime | None,
                  where: str, field: str) -> Cancellation | None:
    by: str | None = None
    reason: str | None = None
    buyer_asked = False
    cancelled_items = 0
    for i, item in enumerate(items):
        c = _dict(item.get("cancellation"), where, f"{field}.orderItems[{i}].cancellation")
        request = _dict(c.get("cancellationRequest"), where,
                        f"{field}.orderItems[{i}].cancellation.cancellationRequest")
        execution = _dict(c.get("cancellationExecution"), where,
                          f"{field}.orderItems[{i}].cancellation.cancellationExecution")
        if request.get("requester") == "BUYER":
            buyer_asked = True
        if execution:
            cancelled_items += int(item.get("quantityOrdered") or 0)
            by = by or execution.get("cancelledBy")
            reason = reason or execution.get("cancelReason")
        reason = reason or request.get("cancelReason")
    if status != "cancelled" and not cancelled_items:
        return None  # a pending buyer request alone is not a cancellation
    assert updated is not None
    return Cancellation(
        account=account, external_id=f"{order_id}-c", order_ref=order_id,
        cancelled_at=updated,  # the API has no cancel time; the order changed last when it was cancelled
        initiated_by=PARTY.get(str(by), "unknown"),  # type: ignore[arg-type]
        buyer_requested=buyer_asked or by == "BUYER", reason=(reason or None) and str(reason)[:200],
        item_count=cancelled_items or None,
    )


# -- order report (backfill) ---------------------------------------------------------------------------

# order-status of the All Orders flat file, lower case without spaces. Amazon documents no list; these are the
# values the v0 OrderStatus enum names plus the "Shipped - ..." sub-statuses integrators report
# (amzn/selling-partner-api-models#1428; ../shared/field-cases/amazon_all_orders_statuses.tsv). Tests walk it.
REPORT_STATUS = {
    "pending": "pending", "pendingavailability": "pending", "unshipped": "unshipped",
    "partiallyshipped": "partially_shipped", "shipping": "unshipped", "shipped": "shipped",
    "invoiceunconfirmed": "shipped",  # v0: shipped, the invoice not yet confirmed
    "unfulfillable": "unshipped", "cancelled": "cancelled", "canceled": "cancelled", "complete": "shipped",
    "shipped-deliveredtobuyer": "delivered",
    "shipped-outfordelivery": "shipped", "shipped-lostintransit": "shipped", "shipped-returnedtoseller": "shipped",
    "shipped-returningtoseller": "shipped", "shipped-rejectedbybuyer": "shipped", "shipped-undeliverable": "shipped",
    "shipped-pickedup": "shipped", "shipped-damaged": "shipped",
}


def report_status(value: str) -> str:
    """An All Orders ``order-status`` -> the normalized status; unknown values are "unknown" and logged once.

    A new "Shipped - <sub-status>" is still shipped (the sub-status only tells where the parcel is).
    """
    key = value.replace(" ", "").lower()
    if key in REPORT_STATUS:
        return REPORT_STATUS[key]
    warn_unknown("order-status", value)
    return "shipped" if key.startswith("shipped-") else "unknown"


# The All Orders report's amazon-order-id, "in 3-7-7 format" (specs/amazon/ordersV0.json, AmazonOrderId): a cell
# that is not one (a number, a shifted column) is a payload error, not an order stored under a made-up id while the
# real order is missing (issue 18's fuzz, seed 4242: '1700000000000000' for '185-6006377-0461800')
_REPORT_ORDER_ID = re.compile(r"[0-9A-Z]{3}-[0-9]{7}-[0-9]{7}\Z")


def normalize_order_rows(account: str, rows: list[dict[str, str]], where: str, site: str | None = None) -> list[Order]:
    """All Orders report rows (one per item, tab-delimited) -> one Order per ``amazon-order-id``.

    ``site``: the marketplace id when the report covers one marketplace (the rows name only the sales channel,
    "Amazon.com"; searchOrders gives the id, and both must agree). Rows carry English column titles
    (``amazon_reports.flat_file`` maps localized ones).
    """
    orders: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        oid = (row.get("amazon-order-id") or "").strip()
        if not _REPORT_ORDER_ID.match(oid):
            raise bad(where, f"line {n}.amazon-order-id", f"missing or not an order id (3-7-7): {oid[:40]!r}")
        entry = orders.setdefault(oid, {"rows": [], "total": Decimal(0), "count": 0, "currency": None,
                                        "lines": []})
        entry["rows"].append(row)
        qty = _count((row.get("quantity") or "0").strip() or "0", where, f"line {n}.quantity")
        entry["count"] += qty
        entry["lines"].append(OrderLine(line_id=(row.get("sku") or "").strip()[:200] or None, quantity=qty))
        if row.get("item-price"):
            entry["total"] += _decimal(row["item-price"], where, f"line {n}.item-price")
            entry["currency"] = entry["currency"] or (row.get("currency") or "").strip() or None
    out = []
    for oid, entry in orders.items():
        first = entry["rows"][0]
        channel = (first.get("fulfillment-channel") or "").strip().lower()
        if channel not in ("amazon", "merchant", "afn", "mfn"):
            raise bad(where, f"{oid}.fulfillment-channel", f"unknown value {channel[:30]!r}")
        currency = entry["currency"]
        country = (first.get("ship-country") or "").strip().upper()
        out.append(Order(
            account=account, external_id=oid,
            purchased_at=when(first.get("purchase-date"), where, f"{oid}.purchase-date"),
            updated_at=when(first.get("last-updated-date"), where, f"{oid}.last-updated-date", required=False),
            fulfilment="marketplace" if channel in ("amazon", "afn") else "seller",
            status=report_status((first.get("order-status") or "").strip()),  # type: ignore[arg-type]
            total=entry["total"].quantize(Decimal("0.0001")) if currency else None,
            currency=currency if currency and len(currency) == 3 else None, item_count=entry["count"],
            site=site or first.get("sales-channel") or None, raw_hash=payload_hash(entry["rows"]),
            items_subtotal=entry["total"].quantize(Decimal("0.0001")) if currency else None,
            buyer_country=country if len(country) == 2 and country.isalpha() and country.isascii() else None,
            lines=tuple(entry["lines"]),
        ))
    return out


# -- seller performance report ------------------------------------------------------------------------

# (block, pack metric id, numerator key, denominator key); each block may be spelled two ways (specs/NOTES.md)
_BLOCKS: list[tuple[tuple[str, ...], str, str, str]] = [
    (("lateShipmentRate",), "amazon.late_shipment_rate", "lateShipmentCount", "orderCount"),
    (("preFulfillmentCancellationRate", "prefulfillmentCancelRate"), "amazon.pre_fulfillment_cancel_rate",
     "cancellationCount", "orderCount"),
    (("validTrackingRate",), "amazon.valid_tracking_rate", "validTrackingCount", "shipmentCount"),
    (("onTimeDeliveryRate",), "amazon.on_time_delivery_rate", "onTimeDeliveryCount", "shipmentCountWithValidTracking"),
    # the US unit-level rate (US only): the figure Amazon's 90% rule judges (policies/amazon.md, OTDR notes)
    (("unitOnTimeDeliveryRate",), "amazon.unit_on_time_delivery_rate", "unitOnTimeDeliveryCount", "totalUnitCount"),
]
_ODR_PARTS = [("claims", "amazon.atoz_claim_rate"), ("chargebacks", "amazon.chargeback_rate"),
              ("negativeFeedback", "amazon.negative_feedback_rate")]


_DOC = "GET_V2_SELLER_PERFORMANCE_REPORT"


def _num(value: Any, field: str = "(figure)") -> float | None:
    """A finite, non-negative figure; absent is None; anything else is a payload error naming the field."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise bad(_DOC, field, f"not a number: {str(value)[:40]!r}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise bad(_DOC, field, f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number) or number < 0 or number > 1e12:
        raise bad(_DOC, field, f"not a plausible figure: {str(value)[:40]!r}")
    return number


def normalize_performance(account: str, document: Any, marketplace_id: str, as_of: datetime,
                          where: str) -> list[ReportedMetric]:
    """The Account Health document -> ReportedMetric per pack metric, for one marketplace."""
    if not isinstance(document, dict) or not isinstance(document.get("performanceMetrics"), list):
        raise bad(where, "performanceMetrics", "missing or not a list")
    entries = [m for m in document["performanceMetrics"] if isinstance(m, dict)]
    entry = next((m for m in entries if m.get("marketplaceId") == marketplace_id), None)
    if entry is None:
        entry = entries[0] if len(entries) == 1 and not entries[0].get("marketplaceId") else {}
    raw = payload_hash(entry) if entry else None

    def metric(metric_id: str, block: Any, num_key: str | None, den_key: str | None, field: str,
               scope: str | None = None, value: float | None = None) -> ReportedMetric:
        if not isinstance(block, dict):  # absent: not reported, never zero
            return ReportedMetric(account=account, external_id=f"{metric_id}:{scope or '-'}:{as_of:%Y-%m-%d}",
                                  metric_id=metric_id, scope=scope, as_of=as_of, status="NOT_REPORTED",
                                  raw_hash=raw)
        rng = _dict(block.get("reportingDateRange"), where, f"{field}.reportingDateRange")
        num = _num(block.get(num_key), f"{field}.{num_key}") if num_key else None
        den = _num(block.get(den_key), f"{field}.{den_key}") if den_key else None
        if num is not None and den is not None and not 0 <= num <= den:
            # counts that contradict each other (Amazon's own example has more valid trackings than shipments):
            # the rate Amazon judges by is kept, the counts are not stored
            _log.warning("amazon: %s: %s %s vs %s %s are inconsistent; only the rate is kept", where, num_key,
                         num, den_key, den)
            num = den = None
        if value is None:
            value = _num(block.get("rate"), f"{field}.rate")
        return ReportedMetric(
            account=account, external_id=f"{metric_id}:{scope or '-'}:{as_of:%Y-%m-%d}", metric_id=metric_id,
            value=value, numerator=num, denominator=den,
            window_start=when(rng.get("reportingDateFrom"), where, f"{field}.reportingDateRange.reportingDateFrom",
                              required=False),
            window_end=when(rng.get("reportingDateTo"), where, f"{field}.reportingDateRange.reportingDateTo",
                            required=False),
            status=str(block.get("status"))[:50] if block.get("status") else None, scope=scope, as_of=as_of,
            raw_hash=raw,
        )

    out: list[ReportedMetric] = []
    for names, metric_id, num_key, den_key in _BLOCKS:
        name = next((n for n in names if n in entry), names[0])
        out.append(metric(metric_id, entry.get(name), num_key, den_key, name))
    odr = _dict(entry.get("orderDefectRate"), where, "orderDefectRate")
    for scope in ("mfn", "afn"):
        block = odr.get(scope)
        out.append(metric("amazon.odr", block, None, "orderCount", f"orderDefectRate.{scope}", scope=scope))
        if isinstance(block, dict):
            defects = _dict(block.get("orderWithDefects"), where, f"orderDefectRate.{scope}.orderWithDefects")
            count = _num(defects.get("count"), f"orderDefectRate.{scope}.orderWithDefects.count")
            out[-1] = out[-1].model_copy(update={"numerator": count})
    mfn = odr.get("mfn")
    for part, metric_id in _ODR_PARTS:
        if isinstance(mfn, dict) and isinstance(mfn.get(part), dict):
            count = _num(mfn[part].get("count"), f"orderDefectRate.mfn.{part}.count")
            orders = _num(mfn.get("orderCount"), "orderDefectRate.mfn.orderCount")
            rate = count / orders if count is not None and orders else None
            m = metric(metric_id, mfn, None, "orderCount", f"orderDefectRate.mfn.{part}", scope="mfn", value=rate)
            out.append(m.model_copy(update={"numerator": count, "value": rate,
                                             "status": str(mfn[part].get("status") or "")[:50] or None}))
        else:
            out.append(metric(metric_id, None, None, None, f"orderDefectRate.mfn.{part}", scope="mfn"))
    ahr = entry.get("accountHealthRating")
    status = None
    if isinstance(ahr, dict):
        status = ahr.get("ahrStatus") or ahr.get("accountHealthRatingStatus")
    score = _num(ahr.get("ahrScore"), "accountHealthRating.ahrScore") if isinstance(ahr, dict) else None
    m = metric("amazon.account_health_rating", ahr, None, None, "accountHealthRating", value=score)  # newer reports
    out.append(m.model_copy(update={"status": str(status)[:50] if status else m.status}))
    return out


# -- feedback report ----------------------------------------------------------------------------------

_DATE_FORMATS = ("%m/%d/%y", "%m/%d/%Y", "%d/%m/%y", "%d/%m/%Y", "%d.%m.%y", "%d.%m.%Y")


def feedback_date(value: str, where: str, field: str, day_first: bool = False) -> datetime:
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        pass
    formats = _DATE_FORMATS[2:] + _DATE_FORMATS[:2] if day_first else _DATE_FORMATS
    for fmt in formats:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise bad(where, field, f"not a date: {value[:20]!r}")


def normalize_feedback_rows(account: str, rows: list[dict[str, str]], where: str,
                            day_first: bool = False) -> list[Rating]:
    """Feedback report rows -> Ratings (1-2 stars negative, 3 neutral). Comments and rater e-mails are dropped."""
    out: dict[str, Rating] = {}
    for n, row in enumerate(rows, start=2):
        order_id = (row.get("Order ID") or row.get("order-id") or "").strip()
        score = (row.get("Rating") or row.get("rating") or "").strip()
        if not score.isdigit() or not 1 <= int(score) <= 5:
            raise bad(where, f"line {n}.Rating", f"not a 1-5 rating: {score!r}")
        rated = feedback_date(row.get("Date") or row.get("date") or "", where, f"line {n}.Date", day_first)
        key = f"{order_id or 'no-order'}:{rated:%Y-%m-%d}"  # Amazon gives no feedback id; dedupe by order + date
        out[key] = Rating(account=account, external_id=key, rating_kind="seller_feedback", score=score,
                          score_normalized=float(score), negative=int(score) <= 2, rated_at=rated,
                          order_ref=order_id or None, raw_hash=payload_hash([order_id, score, rated.isoformat()]))
    return list(out.values())
