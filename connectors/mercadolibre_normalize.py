"""Mercado Libre payloads -> normalized records. Pure functions: no HTTP, no clock.

Mercado Libre publishes no schema: field names follow the reference page (docs/connectors/mercadolibre.md), and
the names marked there as unverified are read defensively (a missing optional block is "not known", never zero).
An order's shipping data lives apart from the order (``/shipments/{id}``), so an order is normalized together
with its shipment. Buyer nicknames, names, addresses and message texts are never copied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sellerguard.errors import ConnectorError
from sellerguard.paginate import dig
from sellerguard.payload import count, ident, iso_time, number
from sellerguard.payload import payload_error as shared_payload_error
from sellerguard.payload import warn_unknown as shared_warn_unknown
from sellerguard.schema import (
    Cancellation,
    Claim,
    Message,
    Order,
    OrderLine,
    Party,
    Record,
    ReportedMetric,
    Shipment,
    payload_hash,
)

log = logging.getLogger("sellerguard.connectors.mercadolibre")
BuyerKey = Callable[[str | None], str | None]  # SyncContext.buyer_key: raw buyer id -> pseudonymous key
# order.status, the whole list on the manage-sales page: waiting for payment / cancelled / paid (the shipment says more)
PENDING = {"confirmed", "payment_required", "payment_in_process", "partially_paid"}
CANCELLED = {"cancelled", "invalid"}
PAID = {"paid", "partially_refunded", "pending_cancel"}  # pending_cancel: not cancelled (yet)
# shipment.status -> order status once paid
SHIPMENT_STATUSES = {"pending": "unshipped", "handling": "unshipped", "ready_to_ship": "unshipped",
                     "shipped": "shipped", "not_delivered": "shipped", "delivered": "delivered",
                     "cancelled": "unshipped", "to_be_agreed": "unshipped"}


def unknown_value(field: str, value: str) -> None:
    """Log a status value this connector does not know, once per (field, value) and process."""
    shared_warn_unknown("mercadolibre", field, value)

# cancel_detail.requested_by -> who asked [field unverified: docs/connectors/mercadolibre.md]
REQUESTED_BY: dict[str, Party] = {"buyer": "buyer", "seller": "seller", "mediator": "marketplace",
                                  "fraud": "marketplace", "internal": "marketplace", "mercadolibre": "marketplace"}
# seller_reputation.metrics key -> pack metric id
REPUTATION: dict[str, str] = {
    "claims": "mercadolibre.claims_rate",
    "cancellations": "mercadolibre.cancellations_rate",
    "delayed_handling_time": "mercadolibre.delayed_handling_rate",
}
LEVELS = {"1_red": 1, "2_orange": 2, "3_yellow": 3, "4_light_green": 4, "5_green": 5}


def payload_error(endpoint: str, field: str, problem: str) -> ConnectorError:
    return shared_payload_error("mercadolibre", endpoint, field, problem)


def when(value: Any, field: str, endpoint: str, *, required: bool = True) -> datetime | None:
    """ISO 8601 with an offset (``2026-11-02T10:15:00.000-03:00``); a date alone means its end in UTC."""
    dt = iso_time(value, "mercadolibre", endpoint, field, required=required)
    if dt is not None and len(value) == 10:  # a bare date: the deadline is the end of that day
        dt += timedelta(days=1) - timedelta(seconds=1)
    return dt


def _id(payload: Any, field: str, endpoint: str) -> str:
    """A Mercado Libre id (orders, packs, shipments, claims, questions, users): a whole number, as JSON number or
    decimal string; anything else is a payload error (a record under a garbled id would orphan the real one)."""
    value = payload.get(field) if isinstance(payload, dict) else None
    if value is None or value == "":
        raise payload_error(endpoint, field, "missing")
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) < 2**63):  # 64-bit ids
        raise payload_error(endpoint, field, f"not an id: {str(value)[:30]!r}")
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _text(value: Any, field: str, endpoint: str) -> str | None:
    """A short text (carrier, tracking code, reason): None when absent or blank; another type, control characters
    or a lone surrogate is a payload error (never stored)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or _CONTROL.search(str(value)):
        raise payload_error(endpoint, field, f"not a text: {str(value)[:30]!r}")
    return str(value).strip()[:200] or None


def _money(value: Any, field: str, endpoint: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise payload_error(endpoint, field, f"not an amount: {str(value)[:20]!r}") from None


def shipment_id(order: dict[str, Any]) -> str | None:
    """``shipping.id``; ``{"id": null}`` is an order without a shipment, a missing block is a payload error."""
    shipping = order.get("shipping")
    if not isinstance(shipping, dict) or "id" not in shipping:
        raise payload_error("/orders/search", "shipping.id", "missing (an order without shipment says id null)")
    return _id(shipping, "id", "/orders/search") if shipping["id"] is not None else None


def pack_id(order: dict[str, Any]) -> str:
    """Messages live per pack (cart); an order outside a pack is its own pack."""
    return _id(order, "pack_id", "/orders/search") if order.get("pack_id") is not None else \
        _id(order, "id", "/orders/search")


def _order_status(order: dict[str, Any], shipment: dict[str, Any] | None) -> str:
    """Every listed order and shipment status is mapped; an unknown one is ``unknown`` (warned once)."""
    status = str(order.get("status") or "")
    if status in CANCELLED:
        return "cancelled"
    if status in PENDING:
        return "pending"
    if status not in PAID:
        unknown_value("order status", status)
        return "unknown"
    if shipment is None:
        return "unshipped"
    ship = str(shipment.get("status") or "")
    if ship not in SHIPMENT_STATUSES:
        unknown_value("shipment status", ship)
        return "unknown"
    return SHIPMENT_STATUSES[ship]


def _lines(items: list[Any], ep: str) -> tuple[tuple[OrderLine, ...], Decimal | None]:
    """``order_items[]`` -> lines (item id, units, the item's category) and the subtotal before discounts
    (``full_unit_price`` x quantity; None unless every line gives it)."""
    lines: list[OrderLine] = []
    subtotal: Decimal | None = Decimal(0)
    for i, line in enumerate(items):
        if not isinstance(line, dict):
            raise payload_error(ep, f"order_items[{i}]", "not an object")
        item = line.get("item") if isinstance(line.get("item"), dict) else {}
        qty = line.get("quantity", 1)
        lines.append(OrderLine(
            line_id=ident(item.get("id"), "mercadolibre", ep, f"order_items[{i}].item.id", required=False),
            quantity=qty,
            category_id=ident(item.get("category_id"), "mercadolibre", ep, f"order_items[{i}].item.category_id",
                              required=False, max_len=100)))
        full = _money(line.get("full_unit_price"), f"order_items[{i}].full_unit_price", ep)
        subtotal = subtotal + full * qty if subtotal is not None and full is not None else None
    return tuple(lines), subtotal if lines else None


def _currency(value: Any, ep: str) -> str | None:
    """``currency_id`` (BRL, ARS, MXN ...): three ASCII letters, or a payload error."""
    if value in (None, ""):
        return None
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise payload_error(ep, "currency_id", f"not a currency code: {str(value)[:20]!r}")
    return value.upper()


def _country(ship: dict[str, Any]) -> str | None:
    """``receiver_address.country.id`` of the shipment (``BR``); nothing else of the address is read."""
    code = dig(ship, "receiver_address", "country", "id")
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isascii() else None


def normalize_order(account: str, order: Any, shipment: dict[str, Any] | None, site: str | None,
                    buyer_key: BuyerKey | None = None) -> list[Record]:
    """One order (from ``/orders/search``) plus its shipment (``x-format-new``) -> order, shipment, cancellation.

    ``buyer_key`` turns ``buyer.id`` into the pseudonymous key (the raw id is never stored)."""
    ep = "/orders/search"
    if not isinstance(order, dict):
        raise payload_error(ep, "results[]", "not an object")
    oid = _id(order, "id", ep)
    items = order.get("order_items") or []
    if not isinstance(items, list):
        raise payload_error(ep, "order_items", "not a list")
    count = 0
    for i, line in enumerate(items):
        qty = dig(line, "quantity", default=1)
        if not isinstance(qty, int) or isinstance(qty, bool) or not 0 <= qty <= 1_000_000:
            raise payload_error(ep, f"order_items[{i}].quantity", f"not a count: {str(qty)[:20]!r}")
        count += qty
    lines, subtotal = _lines(items, ep)
    buyer = dig(order, "buyer", "id")
    if buyer is not None and (isinstance(buyer, bool) or not isinstance(buyer, int | str)):
        raise payload_error(ep, "buyer.id", f"not an id: {str(buyer)[:20]!r}")
    ship = shipment or {}
    logistic = dig(ship, "logistic", "type") or dig(ship, "logistic_type")
    updated = order.get("date_last_updated") or order.get("last_updated")
    records: list[Record] = [Order(
        account=account, external_id=oid, raw_hash=payload_hash(order),
        purchased_at=when(order.get("date_created"), "date_created", ep),  # type: ignore[arg-type]
        updated_at=when(updated, "date_last_updated", ep, required=False),
        ship_by=_handling_limit(ship),
        deliver_by=_delivery_limit(ship),
        fulfilment="marketplace" if logistic == "fulfillment" else "seller",
        status=_order_status(order, shipment),  # type: ignore[arg-type]
        total=_money(order.get("total_amount"), "total_amount", ep),
        currency=_currency(order.get("currency_id"), ep),
        item_count=max(count, 1) if items else 1,
        site=site,
        buyer_key=buyer_key(str(buyer) if buyer is not None else None) if buyer_key else None,
        buyer_country=_country(ship),
        paid_at=when(order.get("date_closed"), "date_closed", ep, required=False),  # payment confirmed the sale
        items_subtotal=subtotal, lines=lines,
    )]
    if shipment is not None:
        records.append(normalize_shipment(account, oid, shipment, count or None))
    if str(order.get("status") or "") in CANCELLED:
        records.append(_cancellation(account, oid, order, count or None))
    return records


def _handling_limit(ship: dict[str, Any]) -> datetime | None:
    ep = "/shipments/{id}"
    raw = dig(ship, "lead_time", "estimated_handling_limit", "date") or \
        dig(ship, "shipping_option", "estimated_handling_limit", "date")
    return when(raw, "lead_time.estimated_handling_limit.date", ep, required=False)


def _delivery_limit(ship: dict[str, Any]) -> datetime | None:
    ep = "/shipments/{id}"
    lead = ship.get("lead_time") or ship.get("shipping_option") or {}
    raw = dig(lead, "estimated_delivery_limit", "date") or dig(lead, "estimated_delivery_time", "date")
    return when(raw, "lead_time.estimated_delivery_limit.date", ep, required=False)


def normalize_shipment(account: str, order_id: str, ship: Any, items: int | None) -> Shipment:
    """A shipment with its status history: handed to the carrier (``date_shipped``) and delivered.

    The orders of one cart (pack) share ONE shipment (the same ``shipping.id``), so the record is per
    (shipment, order), keyed ``<shipping_id>:<order_id>``: keyed by the shipment alone, each pack order would
    overwrite the one before and all but the last would look unshipped (and late).
    """
    ep = "/shipments/{id}"
    if not isinstance(ship, dict):
        raise payload_error(ep, "(root)", "not an object")
    sid = _id(ship, "id", ep)
    history = ship.get("status_history") or {}
    if not isinstance(history, dict):
        raise payload_error(ep, "status_history", "not an object")
    shipped = when(history.get("date_shipped"), "status_history.date_shipped", ep, required=False)
    delivered = when(history.get("date_delivered"), "status_history.date_delivered", ep, required=False)
    first_visit = when(history.get("date_first_visit"), "status_history.date_first_visit", ep, required=False)
    tracking = _text(ship.get("tracking_number"), "tracking_number", ep)
    carrier = _text(ship.get("tracking_method"), "tracking_method", ep) or \
        _text(dig(ship, "logistic", "mode"), "logistic.mode", ep)
    moved = ship.get("status") in ("shipped", "delivered", "not_delivered")
    return Shipment(
        account=account, external_id=f"{sid}:{order_id}", order_ref=order_id, raw_hash=payload_hash(ship),
        shipped_at=shipped, carrier=carrier, tracking_number=tracking,
        # Mercado Envíos labels are the carrier's own: a moving parcel has a scanned, valid code
        tracking_validated=True if (tracking and moved) else None,
        delivered_at=delivered, item_count=items,
        first_attempt_at=first_visit,  # the carrier's first visit to the buyer, delivered or not
    )


def _cancellation(account: str, oid: str, order: dict[str, Any], items: int | None) -> Cancellation:
    ep = "/orders/search"
    detail = order.get("cancel_detail") or {}
    if not isinstance(detail, dict):
        raise payload_error(ep, "cancel_detail", "not an object")
    by = REQUESTED_BY.get(str(detail.get("requested_by") or "").lower(), "unknown")
    at = when(detail.get("date"), "cancel_detail.date", ep, required=False) or \
        when(order.get("date_last_updated") or order.get("last_updated"), "date_last_updated", ep)
    reason = "/".join(p for p in (_text(detail.get("group"), "cancel_detail.group", ep),
                                  _text(detail.get("code"), "cancel_detail.code", ep)) if p) or None
    return Cancellation(account=account, external_id=f"{oid}-c", order_ref=oid, raw_hash=payload_hash(detail),
                        cancelled_at=at, initiated_by=by, buyer_requested=by == "buyer",  # type: ignore[arg-type]
                        reason=reason[:200] if reason else None, item_count=items)


# A claim the seller solves within 2 business days of its opening does not count against the reputation (M7,
# https://global-selling.mercadolibre.com/learning-center/news/follow-these-best-practices-to-avoid-potential-sanctions).
# Business days: Monday-Friday in the claim's own clock (the offset of its date_created); public holidays of the
# site are not known here (unconfirmed): the deadline is the same time of day 2 business days later, never later.
SOLVE_BUSINESS_DAYS = 2


def _solve_by(raw: str, opened: datetime) -> datetime:
    """The moment ``SOLVE_BUSINESS_DAYS`` business days after the opening (``raw``: its ISO text, already
    validated by ``when`` as ``opened``), in the claim's own offset: opened Friday 10:00, in time until Tuesday
    10:00. Text without an offset counts in UTC."""
    local = datetime.fromisoformat(raw)
    if local.tzinfo is None:
        local = opened
    days = SOLVE_BUSINESS_DAYS
    while days:
        local += timedelta(days=1)
        days -= local.weekday() < 5
    return local


def normalize_claim(account: str, claim: Any) -> Claim:
    """A post-purchase claim (``/post-purchase/v1/claims/search``); mediations are claims in stage ``dispute``."""
    ep = "/post-purchase/v1/claims/search"
    if not isinstance(claim, dict):
        raise payload_error(ep, "data[]", "not an object")
    cid = _id(claim, "id", ep)
    reason = (_text(claim.get("reason_id"), "reason_id", ep) or "").upper()
    kind = "item_not_received" if reason.startswith("PNR") else "not_as_described" if reason.startswith("PDD") \
        else "case"
    resolution = claim.get("resolution") or {}
    if not isinstance(resolution, dict):
        raise payload_error(ep, "resolution", "not an object")
    status = _text(claim.get("status"), "status", ep)
    if status not in ("opened", "closed"):
        unknown_value("claim status", str(status))  # read as still open: never decided by a guess
    closed = status == "closed"
    benefited = resolution.get("benefited") or []
    if not isinstance(benefited, list) or not all(isinstance(b, str) for b in benefited):
        raise payload_error(ep, "resolution.benefited", "not a list of roles")
    fault: bool | None = None
    if closed and benefited:
        fault = "complainant" in benefited  # the buyer won: the claim counts against the seller
    order_ref = _id(claim, "resource_id", ep) if claim.get("resource") in ("order", None) and \
        claim.get("resource_id") is not None else None
    closed_at = when(dig(resolution, "date_created") or (claim.get("last_updated") if closed else None),
                     "resolution.date_created", ep, required=False) if closed else None
    outcome = _text(resolution.get("reason"), "resolution.reason", ep)
    stage = _text(claim.get("stage"), "stage", ep)
    opened_at = when(claim.get("date_created"), "date_created", ep)
    if fault and closed_at is not None and stage != "dispute" and resolution.get("closed_by") != "mediator" \
            and opened_at is not None and closed_at <= _solve_by(str(claim.get("date_created")), opened_at):
        fault = False  # solved by the seller within 2 business days: does not count (M7)
    return Claim(
        account=account, external_id=cid, raw_hash=payload_hash(claim), claim_kind=kind,  # type: ignore[arg-type]
        order_ref=order_ref, opened_at=opened_at,  # type: ignore[arg-type]
        closed_at=closed_at,
        outcome=(f"{stage}:{outcome}" if stage == "dispute" and outcome else outcome or None)[:100] if outcome
        else None,
        seller_at_fault=fault,
    )


def normalize_pack_messages(account: str, pack: str, order_ref: str | None, seller_id: str,
                            body: Any) -> list[Message]:
    """Buyer messages of one pack. One record per buyer message that opens a wait for the seller: its
    ``first_reply_at`` is the seller's next message. Texts are never kept."""
    ep = "/messages/packs/{pack_id}/sellers/{seller_id}"
    rows = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise payload_error(ep, "messages", "missing or not a list")
    timeline: list[tuple[datetime, bool, str]] = []
    for i, m in enumerate(rows):
        if not isinstance(m, dict):
            raise payload_error(ep, f"messages[{i}]", "not an object")
        created = dig(m, "message_date", "created") or m.get("date_created")
        at = when(created, f"messages[{i}].message_date.created", ep)
        sender = dig(m, "from", "user_id")
        if sender is None:
            raise payload_error(ep, f"messages[{i}].from.user_id", "missing")
        mid = ident(m.get("id") or m.get("message_id"), "mercadolibre", ep, f"messages[{i}].id", max_len=100)
        timeline.append((at, str(sender) == str(seller_id), str(mid)))  # type: ignore[arg-type]
    timeline.sort()
    out: list[Message] = []
    waiting: tuple[datetime, str] | None = None
    for at, from_seller, mid in timeline:
        if from_seller:
            if waiting is not None:
                out.append(_message(account, waiting, pack, order_ref, at))
                waiting = None
        elif waiting is None:
            waiting = (at, mid)
    if waiting is not None:
        out.append(_message(account, waiting, pack, order_ref, None))
    return out


def _message(account: str, waiting: tuple[datetime, str], pack: str, order_ref: str | None,
             reply: datetime | None) -> Message:
    return Message(account=account, external_id=waiting[1], thread_id=f"pack-{pack}", order_ref=order_ref,
                   received_at=waiting[0], first_reply_at=reply)


def normalize_question(account: str, question: Any) -> Message | None:
    """A buyer's pre-sale question (``/questions/search``) as a message awaiting the seller's answer."""
    ep = "/questions/search"
    if not isinstance(question, dict):
        raise payload_error(ep, "questions[]", "not an object")
    qid = _id(question, "id", ep)
    status = str(question.get("status") or "")
    if status in ("DELETED", "BANNED", "DISABLED"):
        return None  # removed by Mercado Libre: nothing to answer
    answer = question.get("answer") or {}
    return Message(
        account=account, external_id=f"q-{qid}", thread_id=f"question-{qid}", raw_hash=payload_hash(question),
        received_at=when(question.get("date_created"), "date_created", ep),  # type: ignore[arg-type]
        first_reply_at=when(dig(answer, "date_created"), "answer.date_created", ep, required=False),
        needs_reply=status != "CLOSED_UNANSWERED",
    )


# the bare colour, as the API docs' sample writes real_level ("real_level": "red", beside "level_id": "5_green")
COLOUR_LEVELS = {key.split("_", 1)[1]: key for key in LEVELS}


def _level(value: Any, field: str) -> str | None:
    """A thermometer level (``1_red`` .. ``5_green``, or the bare colour ``red`` .. ``green``) as its numbered id, or
    None; a value not on that list is "unknown" (warned)."""
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().lower() in COLOUR_LEVELS:
        return COLOUR_LEVELS[value.strip().lower()]
    if not isinstance(value, str) or value not in LEVELS:
        unknown_value(f"seller_reputation.{field}", str(value)[:60])
        return "unknown"
    return str(value)


def _period_days(period: Any) -> int | None:
    """``"60 days"`` / ``"365 days"`` -> 60 / 365; ``"historic"`` and unknown -> None."""
    if isinstance(period, str) and period.split(" ")[0].isdigit():
        return int(period.split(" ")[0])
    return None


def normalize_reputation(account: str, user: Any, as_of: datetime) -> list[ReportedMetric]:
    """``GET /users/{id}`` -> ``seller_reputation`` as reported metrics, each over the window its ``period`` names."""
    ep = "/users/{id}"
    if not isinstance(user, dict):
        raise payload_error(ep, "(root)", "not an object")
    rep = user.get("seller_reputation")
    if rep is None:
        return []
    if not isinstance(rep, dict):
        raise payload_error(ep, "seller_reputation", "not an object")
    site = user.get("site_id") or None
    if site is not None and not (isinstance(site, str) and site.isascii() and site.isalpha() and len(site) <= 4):
        raise payload_error(ep, "site_id", f"not a site id: {str(site)[:20]!r}")
    day = as_of.date().isoformat()
    metrics = rep.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise payload_error(ep, "seller_reputation.metrics", "not an object")
    completed = count(dig(metrics, "sales", "completed"), "mercadolibre", ep,
                      "seller_reputation.metrics.sales.completed", required=False)
    level, real = (_level(rep.get(k), k) for k in ("level_id", "real_level"))
    status = f"{level or 'no_level'}" + (f" protected, real {real}" if real else "")
    out: list[ReportedMetric] = []
    for key, metric_id in REPUTATION.items():
        block = metrics.get(key)
        if block is None:
            continue
        if not isinstance(block, dict):
            raise payload_error(ep, f"seller_reputation.metrics.{key}", "not an object")
        f = f"seller_reputation.metrics.{key}"
        rate = number(block.get("rate"), "mercadolibre", ep, f"{f}.rate", required=False, low=0, high=1)
        value = number(block.get("value"), "mercadolibre", ep, f"{f}.value", required=False, low=0, high=1e9)
        # the base the rate was taken over: value / rate when both say so, else the completed sales
        denominator = round(value / rate) if rate and value is not None and value / rate <= 1e9 else completed
        days = _period_days(block.get("period"))
        out.append(ReportedMetric(
            account=account, external_id=f"{metric_id}:{site or '-'}:{day}", raw_hash=payload_hash(block),
            metric_id=metric_id, value=float(rate) if rate is not None else None,
            numerator=float(value) if value is not None else None,
            denominator=float(denominator) if denominator is not None else None,
            window_start=as_of - timedelta(days=days) if days else None, window_end=as_of if days else None,
            status=status[:50], scope=site, as_of=as_of,
        ))
    out.append(ReportedMetric(
        account=account, external_id=f"mercadolibre.level:{site or '-'}:{day}", raw_hash=payload_hash(rep),
        metric_id="mercadolibre.level", value=float(LEVELS[real or level]) if (real or level) in LEVELS else None,
        denominator=float(completed) if isinstance(completed, int | float) else None,
        status=status[:50], scope=site, as_of=as_of,
    ))
    return out
