"""bol.com Retailer API v10 payloads -> normalized records. Pure functions: no HTTP, no clock.

bol counts its service standards per ITEM (order line x quantity), so every record carries its item count.
Shapes follow the vendored OpenAPI spec (``retailer-v10.json``; the tests validate the fixtures against it).
Customer names, addresses and scrambled e-mails in ``shipmentDetails`` / ``customerDetails`` are never copied.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import iso_time, number, object_list
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Order,
    OrderLine,
    Record,
    ReportedMetric,
    Return,
    ReturnReason,
    Shipment,
    payload_hash,
)

log = logging.getLogger("sellerguard.connectors.bol")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# TransportEvent.eventCode, the whole enum of the v10 spec, by what it says about the parcel.
# A delivery attempt: at the door, at the neighbours, or parked at a pick-up point (chosen, or after a failed
# attempt at the door); bol judges on-time delivery by the first attempt.
DELIVERED = ("DELIVERED_AT_CUSTOMER", "DELIVERED_AT_NEIGHBOURS", "AT_PICK_UP_POINT", "PICKED_UP_AT_PICK_UP_POINT")
RECEIVED = ("DELIVERED_AT_CUSTOMER", "DELIVERED_AT_NEIGHBOURS", "PICKED_UP_AT_PICK_UP_POINT")  # the buyer has it
SCANNED = ("AT_TRANSPORTER", "IN_TRANSIT", *DELIVERED, "RETURNED_TO_SENDER")  # the carrier has had it
EVENT_CODES = frozenset({"PRE_ANNOUNCED", "INBOUND_COLLECT", *SCANNED})
# ReturnReason.mainReason (Dutch, the spec's table) -> category; detailed reasons refine some of them
MAIN_REASONS: dict[str, ReturnReason] = {
    "Verkeerde maat of afmeting": "remorse", "Verkeerd besteld": "remorse", "Elders goedkoper": "remorse",
    "Artikel werkt niet": "not_as_described", "Klacht over artikel": "not_as_described",
    "Ander artikel ontvangen dan besteld": "not_as_described", "Klacht over de bezorging": "other",
    "Anders": "other",
}
DETAILED_REASONS: dict[str, ReturnReason] = {
    "Artikel is beschadigd": "damaged", "Verpakking is beschadigd": "damaged",
    "Ander artikel ontvangen dan besteld": "not_as_described", "Kwaliteit valt tegen": "not_as_described",
    "Ik heb me bedacht": "remorse", "Artikel had ik toch niet nodig": "remorse", "Artikel cadeau ontvangen": "remorse",
    "Andere kleur dan gedacht": "remorse", "Dubbel besteld": "remorse", "Meerdere opties/artikelen besteld": "remorse",
}


def unknown_value(field: str, value: str) -> None:
    """Log an enum value this connector does not know, once per (field, value) and process."""
    shared_warn_unknown("bol", field, value, outcome="left out")


def reason_category(main: str | None, detailed: str | None) -> ReturnReason | None:
    """bol's return reason -> category: the detailed reason where it says more, else the main one."""
    if not main:
        return None
    if detailed in DETAILED_REASONS:
        return DETAILED_REASONS[detailed]
    if main not in MAIN_REASONS:
        unknown_value("return mainReason", main)
        return None  # the reason text is kept; the category is not guessed
    return MAIN_REASONS[main]
# performance indicator name -> (pack metric id, report the bad share instead of bol's score)
INDICATORS: dict[str, tuple[str, bool]] = {
    "FULFILMENT": ("bol.late_items", True),
    "CANCELLATIONS": ("bol.cancelled_items", False),
    "RESPONSE_TIME": ("bol.late_replies", True),
    "TRACK_AND_TRACE": ("bol.missing_track_and_trace", True),
    "CASE_ITEM_RATIO": ("bol.customer_questions_ratio", False),
    "REVIEWS": ("bol.customer_rating", False),
    "PHONE_AVAILABILITY": ("bol.phone_availability", False),
    "RETURNS": ("bol.returns", False),
}


def payload_error(endpoint: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("bol", endpoint, field, problem)


def when(value: Any, field: str, endpoint: str, *, required: bool = True) -> datetime | None:
    # bol's local time when no offset is given
    return iso_time(value, "bol", endpoint, field, required=required, naive=AMSTERDAM)


def end_of_day(value: Any, field: str, endpoint: str) -> datetime | None:
    """A bol delivery date (``2026-11-24``) as the end of that day in the Netherlands, in UTC."""
    if value in (None, ""):
        return None
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        raise payload_error(endpoint, field, f"not a date: {str(value)[:30]!r}") from None
    if not date(2000, 1, 1) <= day <= date(2100, 12, 31):  # 9999-12-31 + 1 day overflowed (OverflowError)
        raise payload_error(endpoint, field, f"not a plausible date: {str(value)[:30]!r}")
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=AMSTERDAM).astimezone(UTC) - \
        timedelta(seconds=1)


def _count(node: Any, key: str, field: str, endpoint: str) -> int:
    value = node.get(key, 0) if isinstance(node, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
        raise payload_error(endpoint, field, f"not a count: {str(value)[:20]!r}")
    return value


def _text(node: Any, key: str, endpoint: str, prefix: str = "") -> str:
    value = node.get(key) if isinstance(node, dict) else None
    if value in (None, "") or isinstance(value, bool | dict | list):
        raise payload_error(endpoint, f"{prefix}{key}", "missing")
    return str(value)


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _short(value: Any, field: str, endpoint: str) -> str | None:
    """A short text (carrier code, track & trace, reason): None when absent or blank; another type, control
    characters or a lone surrogate is a payload error (never stored)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or _CONTROL.search(value):
        raise payload_error(endpoint, field, f"not a text: {str(value)[:30]!r}")
    return value.strip()[:200] or None


def ident(node: Any, key: str, endpoint: str, prefix: str = "") -> str:
    """A bol id (orderId, orderItemId, shipmentId, rmaId: digits, some orders letters too): a garbled one is a
    payload error, never a record under the wrong key."""
    value = node.get(key) if isinstance(node, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
        value = str(value)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise payload_error(endpoint, f"{prefix}{key}", "missing" if value in (None, "") else
                            f"not an id: {str(value)[:30]!r}")
    return value


def _amount(node: Any, key: str, prefix: str, endpoint: str) -> Decimal:
    value = node.get(key, 0) if isinstance(node, dict) else None
    try:
        amount = Decimal(str(value)) if isinstance(value, int | float | str) and not isinstance(value, bool) \
            else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or not 0 <= amount < 10**9:
        raise payload_error(endpoint, f"{prefix}{key}", f"not an amount: {str(value)[:20]!r}")
    return amount


def _country(details: Any) -> str | None:
    """``shipmentDetails.countryCode`` (NL / BE); nothing else of the customer's details is read."""
    code = details.get("countryCode") if isinstance(details, dict) else None
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isascii() else None


def normalize_order(account: str, order: Any) -> list[Record]:
    """One order (``GET /retailer/orders/{order-id}``) -> the order and one cancellation per cancelled line."""
    ep = "/retailer/orders/{order-id}"
    if not isinstance(order, dict):
        raise payload_error(ep, "(root)", "not an object")
    oid = ident(order, "orderId", ep)
    lines = order.get("orderItems")
    if not isinstance(lines, list) or not lines:
        raise payload_error(ep, "orderItems", "missing or empty")
    ordered = shipped = cancelled = 0
    total = subtotal = Decimal(0)
    order_lines: list[OrderLine] = []
    changed: list[datetime] = []
    records: list[Record] = []
    fulfilment = None
    for i, line in enumerate(lines):
        f = f"orderItems[{i}]."
        qty = _count(line, "quantity", f + "quantity", ep)
        q_ship = _count(line, "quantityShipped", f + "quantityShipped", ep)
        q_cancel = _count(line, "quantityCancelled", f + "quantityCancelled", ep)
        if q_ship + q_cancel > qty:  # more shipped and cancelled than ordered: not a state bol can be in
            raise payload_error(ep, f + "quantityShipped", f"{q_ship} shipped + {q_cancel} cancelled of {qty} ordered")
        ordered, shipped, cancelled = ordered + qty, shipped + q_ship, cancelled + q_cancel
        at = when(line.get("latestChangedDateTime"), f + "latestChangedDateTime", ep)
        changed.append(at)  # type: ignore[arg-type]
        total += _amount(line, "totalPrice", f, ep)
        subtotal += _amount(line, "unitPrice", f, ep) * qty  # unitPrice: before the line's discounts[]
        order_lines.append(OrderLine(line_id=ident(line, "orderItemId", ep, f), quantity=qty))
        fulfilment = fulfilment or line.get("fulfilment") or {}
        if q_cancel:
            buyer = line.get("cancellationRequest") is True
            records.append(Cancellation(
                account=account, external_id=f"{ident(line, 'orderItemId', ep, f)}-c", order_ref=oid,
                raw_hash=payload_hash(line), cancelled_at=at,  # type: ignore[arg-type]
                # bol's read API does not say who cancelled: a customer request, else the seller or bol (expiry)
                initiated_by="buyer" if buyer else "unknown", buyer_requested=buyer,
                reason="CUSTOMER_REQUEST" if buyer else None, item_count=q_cancel,
                # a customer's request is done when the seller cancels the item: its last change (bol gives no
                # separate processing time); processed before the promised date, it is no defect
                processed_at=at if buyer else None,
            ))
    if cancelled >= ordered:
        status = "cancelled"
    elif shipped == 0:
        status = "unshipped"
    else:
        status = "shipped" if shipped + cancelled >= ordered else "partially_shipped"
    method = dig(fulfilment, "method")
    if method not in ("FBR", "FBB"):  # the spec's enum (required): anything else would silently read as FBR
        raise payload_error(ep, "orderItems[0].fulfilment.method", f"not FBR or FBB: {str(method)[:30]!r}")
    deliver_by = end_of_day(dig(fulfilment, "exactDeliveryDate") or dig(fulfilment, "latestDeliveryDate"),
                            "orderItems[0].fulfilment.latestDeliveryDate", ep)
    placed = when(order.get("orderPlacedDateTime"), "orderPlacedDateTime", ep)
    records.insert(0, Order(
        account=account, external_id=oid, raw_hash=payload_hash({k: v for k, v in order.items()
                                                                  if k not in ("shipmentDetails", "billingDetails")}),
        purchased_at=placed, updated_at=max(changed),  # type: ignore[arg-type]
        # no dispatch deadline in the API: the expiry date (auto-cancel if unshipped) is the hard one
        ship_by=end_of_day(dig(fulfilment, "expiryDate"), "orderItems[0].fulfilment.expiryDate", ep),
        deliver_by=deliver_by, fulfilment="marketplace" if method == "FBB" else "seller",
        status=status, total=total, currency="EUR", item_count=ordered,  # type: ignore[arg-type]
        site=None, buyer_country=_country(order.get("shipmentDetails")), items_subtotal=subtotal,
        lines=tuple(order_lines),
    ))
    return records


def normalize_shipment(account: str, shipment: Any) -> Shipment:
    """``GET /retailer/shipments/{shipment-id}``: the transport events give the first delivery attempt."""
    ep = "/retailer/shipments/{shipment-id}"
    if not isinstance(shipment, dict):
        raise payload_error(ep, "(root)", "not an object")
    sid = ident(shipment, "shipmentId", ep)
    order_id = ident(shipment.get("order"), "orderId", ep, "order.")
    transport = shipment.get("transport") or {}
    events = transport.get("transportEvents") or [] if isinstance(transport, dict) else []
    if not isinstance(events, list):
        raise payload_error(ep, "transport.transportEvents", "not a list")
    times: dict[str, datetime] = {}
    for i, ev in enumerate(events):
        code = _text(ev, "eventCode", ep, f"transport.transportEvents[{i}].")
        at = when(ev.get("eventDateTime"), f"transport.transportEvents[{i}].eventDateTime", ep)
        if code not in EVENT_CODES:
            unknown_value("transport eventCode", code)  # kept out: never read as a scan or a delivery
            continue
        times[code] = min(times.get(code, at), at)  # type: ignore[type-var,arg-type]
    first_attempt = min((times[c] for c in DELIVERED if c in times), default=None)
    received = RECEIVED + (("AT_PICK_UP_POINT",) if shipment.get("pickupPoint") is True else ())
    delivered = min((times[c] for c in received if c in times), default=None)
    items = object_list(shipment.get("shipmentItems"), "bol", ep, "shipmentItems")
    count = sum(_count(it, "quantity", f"shipmentItems[{i}].quantity", ep) if "quantity" in it else 1
                for i, it in enumerate(items) if isinstance(it, dict))
    shipped = when(shipment.get("shipmentDateTime"), "shipmentDateTime", ep, required=False)
    tracking = _short(transport.get("trackAndTrace"), "transport.trackAndTrace", ep) \
        if isinstance(transport, dict) else None
    return Shipment(
        account=account, external_id=sid, order_ref=order_id,
        raw_hash=payload_hash({k: v for k, v in shipment.items() if k not in ("shipmentDetails", "billingDetails")}),
        shipped_at=shipped, confirmed_at=shipped, carrier=_short(dig(transport, "transporterCode"),
                                                                 "transport.transporterCode", ep),
        tracking_number=tracking,
        tracking_validated=True if any(c in times for c in SCANNED) else None,
        delivered_at=delivered, item_count=count or None,
        # the track & trace code comes with the shipment confirmation
        tracking_uploaded_at=shipped if tracking else None,
        first_scan_at=min((times[c] for c in SCANNED if c in times), default=None),
        first_attempt_at=first_attempt,
    )


def normalize_return(account: str, ret: Any) -> list[Return]:
    """``GET /retailer/returns``: one record per returned item (RMA); resolved when the seller handled it."""
    ep = "/retailer/returns"
    if not isinstance(ret, dict):
        raise payload_error(ep, "returns[]", "not an object")
    registered = when(ret.get("registrationDateTime"), "registrationDateTime", ep)
    items = ret.get("returnItems")
    if not isinstance(items, list):
        raise payload_error(ep, "returnItems", "missing or not a list")
    out = []
    for i, item in enumerate(items):
        f = f"returnItems[{i}]."
        if not isinstance(item, dict):
            raise payload_error(ep, f"returnItems[{i}]", "not an object")
        results = object_list(item.get("processingResults"), "bol", ep, f + "processingResults")
        handled_at = [when(r.get("processingDateTime"), f + "processingResults[].processingDateTime", ep)
                      for r in results if isinstance(r, dict)]
        resolved = max(handled_at) if item.get("handled") is True and handled_at else None  # type: ignore[type-var]
        why = item.get("returnReason") if isinstance(item.get("returnReason"), dict) else {}
        main, detailed = (_short(why.get(k), f"{f}returnReason.{k}", ep) for k in ("mainReason", "detailedReason"))
        out.append(Return(
            account=account, external_id=ident(item, "rmaId", ep, f), order_ref=ident(item, "orderId", ep, f),
            raw_hash=payload_hash({k: v for k, v in item.items() if k != "customerDetails"}),
            requested_at=registered, resolved_at=resolved, currency="EUR",  # type: ignore[arg-type]
            # bol's own Dutch reason texts; the customer's comments are never kept
            reason=" / ".join(r for r in (main, detailed) if r)[:200] or None,
            reason_category=reason_category(main, detailed),
        ))
    return out


def iso_week_bounds(year: int, week: int) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, Dutch time, in UTC."""
    monday = date.fromisocalendar(year, week, 1)
    start = datetime.combine(monday, time(0), tzinfo=AMSTERDAM)
    return start.astimezone(UTC), (start + timedelta(days=7)).astimezone(UTC)


def _fraction(value: float, kind: str) -> float:
    """PERCENTAGE scores as fractions (bol has shown both 0.96 and 96); AVERAGE scores as they are."""
    return value / 100 if kind == "PERCENTAGE" and value > 1 else value


def normalize_indicator(account: str, body: Any, *, final: bool, as_of: datetime,
                        expected: str | None = None) -> list[ReportedMetric]:
    """``GET /retailer/insights/performance/indicator``: one ISO week of one indicator.

    Metrics whose norm is "higher is better" (on-time, response time, track & trace) are stored as the bad
    share with the bad item count as numerator, so that a pack can require both the percentage and the minimum
    count for a strike. ``scope`` is ``week`` for a final week, ``current`` for the running week's estimate.
    ``expected``: the indicator asked for; an answer without it is a payload error (never "no figure").
    """
    ep = "/retailer/insights/performance/indicator"
    rows = body.get("performanceIndicators") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise payload_error(ep, "performanceIndicators", "missing or not a list")
    if expected is not None and not any(isinstance(r, dict) and r.get("name") == expected for r in rows):
        raise payload_error(ep, "performanceIndicators[].name", f"the indicator asked for ({expected}) is missing")
    out = []
    for i, row in enumerate(rows):
        f = f"performanceIndicators[{i}]."
        name = _text(row, "name", ep, f)
        if name not in INDICATORS:
            unknown_value("performance indicator", name)
            continue
        metric_id, invert = INDICATORS[name]
        details = row.get("details") or {}
        if not isinstance(details, dict):
            raise payload_error(ep, f + "details", "not an object")
        year, week = dig(details, "period", "year"), dig(details, "period", "week")
        try:
            # whole numbers or digit strings only: int(True) is week 1 and int(47.9) week 47, stored under another
            # week while the real one was missing (issue 18's fuzz, seed 2027)
            if not all((isinstance(v, str) and v.strip().isdecimal() and v.strip().isascii()) or
                       (isinstance(v, int) and not isinstance(v, bool)) for v in (year, week)):
                raise TypeError
            start, end = iso_week_bounds(int(year), int(week))
        except (TypeError, ValueError, OverflowError):
            raise payload_error(ep, f + "details.period", f"not an ISO week: {year!r}-W{week!r}") from None
        score = details.get("score")
        kind = str(row.get("type") or "PERCENTAGE")
        condition = dig(details, "norm", "condition")
        value = numerator = denominator = None
        status = None
        if isinstance(score, dict):
            raw = score.get("value")
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                raise payload_error(ep, f + "details.score.value", f"not a number: {str(raw)[:20]!r}")
            # a percentage is 0..100 (or a 0..1 share), any score is finite and not negative: -1 was stored as
            # -1.0 (2.0 once inverted) and 150 as 1.5 (issue 18: payload errors naming field and value)
            number(raw, "bol", ep, f + "details.score.value", low=0,
                   high=100 if kind == "PERCENTAGE" else None)
            value = _fraction(float(raw), kind)
            numerator = number(score.get("numerator"), "bol", ep, f + "details.score.numerator",
                               required=False, low=0)
            denominator = number(score.get("denominator"), "bol", ep, f + "details.score.denominator",
                                 required=False, low=0)
            if numerator is not None and denominator is not None and numerator > denominator:
                raise payload_error(ep, f + "details.score.numerator",
                                    f"{numerator:g} is more than the denominator {denominator:g}")
            if invert and condition == ">=" and kind == "PERCENTAGE":
                value = 1 - value
                if numerator is not None and denominator is not None:
                    numerator = denominator - numerator
            status = "conforms" if score.get("conforms") else "below norm"
        out.append(ReportedMetric(
            account=account, external_id=f"{metric_id}:{int(year)}-W{int(week):02d}", raw_hash=payload_hash(row),
            metric_id=metric_id, value=value, numerator=numerator, denominator=denominator,
            window_start=start, window_end=end, status=status, scope="week" if final else "current", as_of=as_of,
        ))
    return out
