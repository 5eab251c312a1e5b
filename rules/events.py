"""The vocabulary packs use: event populations and the defect predicates over them, as SQL.

A population is one table plus the timestamps ("anchors") that can place its rows in a window. A defect is a
named SQL predicate over a row of that population, usually an indexed EXISTS on (account, order_ref). Keeping
the vocabulary here, in code, keeps packs declarative: a pack picks names, it never writes SQL.
Sub-second precision is not kept when two stored times are compared (SQLite compares them as day fractions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Float,
    String,
    Table,
    and_,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.sql.expression import ColumnElement as _Col

from sellerguard.store.tables import (
    CancellationRow,
    ClaimRow,
    MessageRow,
    OrderRow,
    RatingRow,
    ReturnRow,
    ShipmentRow,
)

ORDERS: Table = OrderRow.__table__  # type: ignore[attr-defined]
SHIPMENTS: Table = ShipmentRow.__table__  # type: ignore[attr-defined]
CANCELLATIONS: Table = CancellationRow.__table__  # type: ignore[attr-defined]
MESSAGES: Table = MessageRow.__table__  # type: ignore[attr-defined]
RATINGS: Table = RatingRow.__table__  # type: ignore[attr-defined]
CLAIMS: Table = ClaimRow.__table__  # type: ignore[attr-defined]
RETURNS: Table = ReturnRow.__table__  # type: ignore[attr-defined]
EPSILON_HOURS = 1e-6  # float slack when comparing elapsed times: exactly N hours is on time


class MissingColumn(LookupError):
    """The store has no such column yet (an older schema): the metric that needs it is unknown, with the name."""


def need(table: Table, name: str) -> Column[Any]:
    column = table.c.get(name)
    if column is None:
        raise MissingColumn(f"{table.name}.{name}")
    return column


@dataclass(frozen=True)
class Ctx:
    """What a predicate may depend on besides the row: the moment of evaluation, parameters, dialect, the
    marketplace's clock, and the ship-by to judge against (the order's own, or one derived from handling time)."""

    as_of: datetime
    params: Any
    dialect: str
    timezone: str = "UTC"
    derived_ship_by: Any = None  # a column of a VALUES table joined on the order, or None

    def ship_by(self, o: Table) -> Any:
        if self.derived_ship_by is None or o is not ORDERS:
            return o.c.ship_by
        return func.coalesce(o.c.ship_by, self.derived_ship_by)


def local_date(ctx: Ctx, col: Any, tz: Any) -> Any:
    """The local calendar date of a stored instant in zone ``tz`` (SQL): PostgreSQL natively, SQLite through
    the ``sg_local_date`` function the engine registers on its connection."""
    if ctx.dialect == "sqlite":
        return func.sg_local_date(col, tz)
    return func.date(func.timezone(tz, col))


def hours_between(ctx: Ctx, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in hours, as SQL."""
    if ctx.dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def _related(table: Table, row: Table) -> list[_Col[bool]]:
    return [table.c.account == row.c.account, table.c.order_ref == row.c.external_id]


def _order_of(row: Table) -> list[_Col[bool]]:
    return [ORDERS.c.account == row.c.account, ORDERS.c.external_id == row.c.order_ref]


def _fault(ctx: Ctx) -> _Col[bool]:
    decided = CLAIMS.c.seller_at_fault.is_(True)
    if getattr(ctx.params, "count_open_claims", False):
        return or_(decided, and_(CLAIMS.c.seller_at_fault.is_(None), CLAIMS.c.closed_at.is_(None)))
    return decided


def shipment_confirmed_at() -> ColumnElement[Any]:
    """When a shipment was confirmed (else shipped): the moment a ship-by is judged by."""
    return func.coalesce(SHIPMENTS.c.confirmed_at, SHIPMENTS.c.shipped_at)


def _any_confirmed(o: Table) -> _Col[bool]:
    """The order has a shipment confirmed (or shipped)."""
    return exists().where(*_related(SHIPMENTS, o), shipment_confirmed_at().is_not(None))


def _earlier(earlier: Any, row: Table, at: str) -> _Col[bool]:
    """``earlier`` (an alias of ``row``'s table) comes before ``row`` by ``at``, ties broken by id."""
    return or_(earlier.c[at] < row.c[at], and_(earlier.c[at] == row.c[at], earlier.c.id < row.c.id))


# -- order defects -------------------------------------------------------------------------------------


def negative_feedback(o: Table, ctx: Ctx) -> _Col[bool]:
    """Negative seller feedback (1-2 stars / negative) on the order, not removed by the marketplace."""
    return exists().where(
        *_related(RATINGS, o),
        RATINGS.c.rating_kind == "seller_feedback",
        RATINGS.c.negative.is_(True),
        RATINGS.c.removed.is_(False),
    )


def claim(o: Table, ctx: Ctx) -> _Col[bool]:
    """A guarantee claim / case (not a chargeback) decided against the seller (or open, if the pack says so)."""
    return exists().where(*_related(CLAIMS, o), CLAIMS.c.claim_kind != "chargeback", _fault(ctx))


def chargeback(o: Table, ctx: Ctx) -> _Col[bool]:
    """A chargeback the seller is liable for (service disputes; fraud chargebacks carry seller_at_fault=false)."""
    return exists().where(*_related(CLAIMS, o), CLAIMS.c.claim_kind == "chargeback", _fault(ctx))


def seller_cancelled(o: Table, ctx: Ctx) -> _Col[bool]:
    """Cancelled by the seller, or by the marketplace, and not at the buyer's request (Amazon, Walmart: its
    auto-cancels count; TikTok: system cancels for seller-side reasons count; Mercado Libre)."""
    return exists().where(
        *_related(CANCELLATIONS, o),
        CANCELLATIONS.c.buyer_requested.is_(False),
        CANCELLATIONS.c.initiated_by != "buyer",
    )


# eBay's transaction defect (policies/ebay.md): the seller cancelled because the item was out of stock or could not
# be sent, "even when the buyer asked first"; "buyer asked to cancel / address problem" is not a defect, nor are
# eBay's own cancellations (buyer did not pay). Matched on the upper-cased reason code or text (LIKE: ``_`` is any
# character, so OUT_OF_STOCK, "Out of stock" and OUTOFSTOCK_OR_CANNOT_FULFILL all match).
UNFULFILLABLE_REASONS = ("%OUT%OF%STOCK%", "%CANNOT%FULFIL%", "%UNABLE%FULFIL%", "%CANNOT%SEND%",
                         "%UNABLE%SEND%", "%CANNOT%SHIP%", "%UNABLE%SHIP%", "%NOT%IN%STOCK%")
EXCUSED_REASONS = ("%BUYER%", "%ADDRESS%", "%UNPAID%", "%NOT%PAY%", "%NON%PAYMENT%")


def _reason_like(patterns: tuple[str, ...]) -> Any:
    reason = func.upper(func.coalesce(CANCELLATIONS.c.reason, ""))
    return or_(*[reason.like(p) for p in patterns])


def seller_fault_cancellation(o: Table, ctx: Ctx) -> _Col[bool]:
    """(eBay) A cancellation whose reason is out of stock / cannot send, whoever asked; or one the seller made
    unasked with no excusing reason (buyer asked, address problem, unpaid). eBay's own cancellations
    (``initiated_by = "marketplace"``) are not defects unless their reason is out of stock."""
    unasked = and_(
        CANCELLATIONS.c.buyer_requested.is_(False),
        CANCELLATIONS.c.initiated_by.not_in(["buyer", "marketplace"]),
        not_(_reason_like(EXCUSED_REASONS)),
    )
    return exists().where(*_related(CANCELLATIONS, o), or_(_reason_like(UNFULFILLABLE_REASONS), unasked))


def _after(ctx: Ctx, when: Any, deadline: Any) -> Any:
    """``when`` is after ``deadline`` (a ship-by or deliver-by): as instants, or (``compare = "date"``) as dates on
    the pack's clock, never the shop's own: Etsy judges ship-by dates in UTC (../shared/reference/policies/etsy.md,
    E7); Walmart's OTD counts a first attempt "on or before the Expected Delivery Date" (walmart.md)."""
    if getattr(ctx.params, "compare", "instant") == "date":
        zone = literal(ctx.timezone)
        return local_date(ctx, when, zone) > local_date(ctx, deadline, zone)
    return when > deadline


def _passed(ctx: Ctx, deadline: Any) -> Any:
    """``deadline`` is over at ``as_of`` (date compare: its whole local date is over)."""
    if getattr(ctx.params, "compare", "instant") == "date":
        zone = literal(ctx.timezone)
        return local_date(ctx, literal(ctx.as_of), zone) > local_date(ctx, deadline, zone)
    return deadline < ctx.as_of


def _after_ship_by(o: Table, ctx: Ctx, when: Any) -> Any:
    return _after(ctx, when, ctx.ship_by(o))


def _ship_by_passed(o: Table, ctx: Ctx) -> Any:
    return _passed(ctx, ctx.ship_by(o))


def shipped_late(o: Table, ctx: Ctx) -> _Col[bool]:
    """A shipment confirmed after ship-by, or ship-by passed with no confirmation (and not cancelled). With
    ``first_confirmation`` only the order's first confirmation counts: marked shipped by the ship-by is on time
    whatever records come later (Etsy's standard: "orders marked shipped by the ship-by date")."""
    any_confirmed = _any_confirmed(o)
    if getattr(ctx.params, "first_confirmation", False):
        in_time = exists().where(*_related(SHIPMENTS, o), shipment_confirmed_at().is_not(None),
                                 not_(_after_ship_by(o, ctx, shipment_confirmed_at())))
        late = and_(any_confirmed, not_(in_time))
    else:
        late = exists().where(*_related(SHIPMENTS, o), _after_ship_by(o, ctx, shipment_confirmed_at()))
    overdue = and_(_ship_by_passed(o, ctx), o.c.status != "cancelled", not_(any_confirmed))
    return and_(ctx.ship_by(o).is_not(None), or_(late, overdue))


def _tracking_exempt(o: Table, ctx: Ctx) -> Any:
    """Etsy: the order's item total (before discounts) is under its currency's tracking threshold."""
    limits: dict[str, float] = getattr(ctx.params, "tracking_exempt_below", {}) or {}
    if not limits:
        return false()
    subtotal = cast(need(o, "items_subtotal"), Float)
    return or_(*[and_(o.c.currency == cur, subtotal < amount) for cur, amount in limits.items()])


def late_or_untracked(o: Table, ctx: Ctx) -> _Col[bool]:
    """Etsy Star Seller: not marked shipped by the ship-by, or shipped without tracking (unless exempt)."""
    tracked = exists().where(*_related(SHIPMENTS, o), SHIPMENTS.c.tracking_number.is_not(None))
    untracked = and_(_any_confirmed(o), not_(tracked), not_(_tracking_exempt(o, ctx)))
    return or_(shipped_late(o, ctx), untracked)


# return reason categories that are the seller's or the carrier's doing (TikTok: "seller or logistics causes
# (damaged, wrong, not as described)"; a wrong item is filed under not_as_described, a lost parcel not_received)
SELLER_FAULT_RETURN_CATEGORIES = ("damaged", "not_as_described", "not_received")


def seller_fault_return(o: Table, ctx: Ctx) -> _Col[bool]:
    """A return / refund request for a seller or carrier fault: its ``reason_category`` says so, or the connector
    marked it ``dissatisfied`` (a seller- or carrier-fault reason code without a category)."""
    fault = or_(RETURNS.c.dissatisfied.is_(True), RETURNS.c.reason_category.in_(SELLER_FAULT_RETURN_CATEGORIES))
    return exists().where(*_related(RETURNS, o), fault)


def negative_review(o: Table, ctx: Ctx) -> _Col[bool]:
    """A 1-2 star product review on the order, not removed (TikTok's Negative Review Rate)."""
    return exists().where(
        *_related(RATINGS, o),
        RATINGS.c.rating_kind == "product_review",
        RATINGS.c.negative.is_(True),
        RATINGS.c.removed.is_(False),
    )


def first_review_negative(o: Table, ctx: Ctx) -> _Col[bool]:
    """The order's FIRST product review (earliest ``rated_at``, not removed) is 1-2 stars; later reviews of the
    same order are ignored (TikTok's Negative Review Rate: "later edits ignored", policies/tiktok-shop.md)."""
    earlier = RATINGS.alias("earlier_review")
    first = not_(exists().where(
        earlier.c.account == RATINGS.c.account,
        earlier.c.order_ref == RATINGS.c.order_ref,
        earlier.c.rating_kind == "product_review",
        earlier.c.removed.is_(False),
        _earlier(earlier, RATINGS, "rated_at"),
    ))
    return exists().where(
        *_related(RATINGS, o),
        RATINGS.c.rating_kind == "product_review",
        RATINGS.c.negative.is_(True),
        RATINGS.c.removed.is_(False),
        first,
    )


def _overdue(o: Table, ctx: Ctx, done: Any) -> Any:
    """Deliver-by passed and nothing delivered: not cancelled, and not ``delivered`` by the order's own status
    (delivered at a time the records do not give: it cannot be judged late)."""
    return and_(_passed(ctx, o.c.deliver_by), o.c.status.not_in(["cancelled", "delivered"]), not_(done))


def delivered_late(o: Table, ctx: Ctx) -> _Col[bool]:
    """Delivered after deliver-by, or deliver-by passed with no delivery (and not cancelled)."""
    late = exists().where(*_related(SHIPMENTS, o), _after(ctx, SHIPMENTS.c.delivered_at, o.c.deliver_by))
    delivered = exists().where(*_related(SHIPMENTS, o), SHIPMENTS.c.delivered_at.is_not(None))
    return and_(o.c.deliver_by.is_not(None), or_(late, _overdue(o, ctx, delivered)))


def attempted_late(o: Table, ctx: Ctx) -> _Col[bool]:
    """First delivery attempt (``first_attempt_at``, else ``delivered_at``) after deliver-by, or deliver-by passed
    with no attempt (and not cancelled): Walmart's OTD and bol.com judge the first attempt, not the final delivery.
    With ``compare = "date"`` the deliver-by is a date (Walmart's EDD): any attempt that day is on time. (rules-B)"""
    attempt = func.coalesce(SHIPMENTS.c.first_attempt_at, SHIPMENTS.c.delivered_at)
    late = exists().where(*_related(SHIPMENTS, o), _after(ctx, attempt, o.c.deliver_by))
    attempted = exists().where(*_related(SHIPMENTS, o), attempt.is_not(None))
    return and_(o.c.deliver_by.is_not(None), or_(late, _overdue(o, ctx, attempted)))


def delivered_late_otdr(o: Table, ctx: Ctx) -> _Col[bool]:
    """Amazon OTDR: ``delivered_late``, and also a package confirmed as shipped after the deliver-by (it can never be
    on time) or whose tracking was uploaded only after delivery (Amazon US help 200847280)."""
    extra = [exists().where(*_related(SHIPMENTS, o), _after(ctx, shipment_confirmed_at(), o.c.deliver_by))]
    uploaded = SHIPMENTS.c.get("tracking_uploaded_at")
    if uploaded is not None:
        extra.append(exists().where(*_related(SHIPMENTS, o), uploaded > SHIPMENTS.c.delivered_at))
    return and_(o.c.deliver_by.is_not(None), or_(delivered_late(o, ctx), *extra))


def late_scan_and_delivery(o: Table, ctx: Ctx) -> _Col[bool]:
    """eBay: no acceptance scan within handling time AND delivered after the estimated delivery date.

    The acceptance scan is ``first_scan_at`` when the store has it, else the ship date."""
    scanned = _scan_at()
    return exists().where(
        *_related(SHIPMENTS, o),
        or_(scanned.is_(None), _after_ship_by(o, ctx, scanned)),
        _after(ctx, SHIPMENTS.c.delivered_at, o.c.deliver_by),
    )


def tracking_not_on_time(o: Table, ctx: Ctx) -> _Col[bool]:
    """eBay: no tracking uploaded within handling time (by ship-by) that the carrier validated.

    ``tracking_validated`` NULL (the connector cannot tell) is given the benefit of the doubt.
    An order still inside its handling time is not a defect yet.
    """
    uploaded_col = SHIPMENTS.c.get("tracking_uploaded_at")
    confirmed = shipment_confirmed_at()
    uploaded = func.coalesce(uploaded_col, confirmed) if uploaded_col is not None else confirmed
    ship_by = ctx.ship_by(o)
    good = exists().where(
        *_related(SHIPMENTS, o),
        SHIPMENTS.c.tracking_number.is_not(None),
        SHIPMENTS.c.tracking_validated.is_not(False),
        or_(ship_by.is_(None), uploaded <= ship_by),
    )
    due = or_(ship_by < ctx.as_of, exists().where(*_related(SHIPMENTS, o)))
    return and_(due, not_(good))


# -- other populations ---------------------------------------------------------------------------------


def handed_over_late(s: Table, ctx: Ctx) -> _Col[bool]:
    """(Mercado Libre) handed to the carrier (``shipped_at``) after its order's ship-by (the handling deadline).
    Shipments whose order has no ship-by are left out of the population (never on time). (rules-B)"""
    return exists(select(ORDERS.c.id).where(*_order_of(s), ORDERS.c.ship_by.is_not(None),
                                            s.c.shipped_at > ORDERS.c.ship_by))


def invalid_tracking(s: Table, ctx: Ctx) -> _Col[bool]:
    """A package with no tracking number, or one the carrier never validated (NULL = not known: valid)."""
    return or_(s.c.tracking_number.is_(None), s.c.tracking_validated.is_(False))


def untracked_shipment(o: Table, ctx: Ctx) -> _Col[bool]:
    """(TikTok VTR, per order) one of the order's packages has no tracking number or one the carrier never
    validated: an order counts once however many packages it has."""
    return exists().where(*_related(SHIPMENTS, o), invalid_tracking(SHIPMENTS, ctx))


def late_reply(m: Table, ctx: Ctx) -> _Col[bool]:
    """First reply after ``hours`` (calendar), or none yet and ``hours`` already passed."""
    hours = ctx.params.hours
    replied_late = hours_between(ctx, m.c.received_at, m.c.first_reply_at) > hours + EPSILON_HOURS
    unanswered = and_(m.c.first_reply_at.is_(None), m.c.received_at < ctx.as_of - timedelta(hours=hours))
    return or_(and_(m.c.first_reply_at.is_not(None), replied_late), unanswered)


def return_dissatisfied(r: Table, ctx: Ctx) -> _Col[bool]:
    """Amazon RDR: negative buyer outcome, or not resolved within ``respond_hours``."""
    hours = ctx.params.respond_hours
    resolved_late = hours_between(ctx, r.c.requested_at, r.c.resolved_at) > hours + EPSILON_HOURS
    unresolved = and_(r.c.resolved_at.is_(None), r.c.requested_at < ctx.as_of - timedelta(hours=hours))
    return or_(r.c.dissatisfied.is_(True), and_(r.c.resolved_at.is_not(None), resolved_late), unresolved)


def against_seller(c: Table, ctx: Ctx) -> _Col[bool]:
    return c.c.seller_at_fault.is_(True)


def by_seller(c: Table, ctx: Ctx) -> _Col[bool]:
    return and_(c.c.buyer_requested.is_(False), c.c.initiated_by != "buyer")


def negative(r: Table, ctx: Ctx) -> _Col[bool]:
    return and_(r.c.negative.is_(True), r.c.removed.is_(False))


def three_stars_or_fewer(r: Table, ctx: Ctx) -> _Col[bool]:
    """Etsy's "reviews rated 3 stars or fewer" (1-5 scale), judged on the score, not the connector's flag."""
    return and_(r.c.score_normalized <= 3, r.c.removed.is_(False))


def any_event(t: Table, ctx: Ctx) -> _Col[bool]:
    """Every event of the population counts (for count limits)."""
    return true()


Predicate = Callable[[Table, Ctx], _Col[bool]]


@dataclass(frozen=True)
class Population:
    table: Table
    anchors: tuple[str, ...]
    via_order: bool  # fulfilment filters go through the related order


POPULATIONS: dict[str, Population] = {
    "orders": Population(ORDERS, ("purchased_at", "ship_by", "deliver_by"), via_order=False),
    "shipments": Population(SHIPMENTS, ("shipped_at", "confirmed_at"), via_order=True),
    "messages": Population(MESSAGES, ("received_at",), via_order=False),
    "returns": Population(RETURNS, ("requested_at",), via_order=True),
    "claims": Population(CLAIMS, ("opened_at",), via_order=True),
    "cancellations": Population(CANCELLATIONS, ("cancelled_at",), via_order=True),
    "ratings": Population(RATINGS, ("rated_at",), via_order=False),
}

DEFECTS: dict[str, dict[str, Predicate]] = {
    "orders": {
        "negative_feedback": negative_feedback,
        "claim": claim,
        "chargeback": chargeback,
        "seller_cancelled": seller_cancelled,
        "seller_fault_cancellation": seller_fault_cancellation,
        "shipped_late": shipped_late,
        "delivered_late": delivered_late,
        "delivered_late_otdr": delivered_late_otdr,
        "attempted_late": attempted_late,
        "late_scan_and_delivery": late_scan_and_delivery,
        "tracking_not_on_time": tracking_not_on_time,
        "late_or_untracked": late_or_untracked,
        "seller_fault_return": seller_fault_return,
        "negative_review": negative_review,
        "first_review_negative": first_review_negative,
        "untracked_shipment": untracked_shipment,
        "any": any_event,
    },
    "shipments": {"shipped_late": handed_over_late, "invalid_tracking": invalid_tracking, "any": any_event},
    "messages": {"late_reply": late_reply, "any": any_event},
    "returns": {"dissatisfied": return_dissatisfied, "any": any_event},
    "claims": {"against_seller": against_seller, "any": any_event},
    "cancellations": {"by_seller": by_seller, "any": any_event},
    "ratings": {"negative": negative, "three_stars_or_fewer": three_stars_or_fewer, "any": any_event},
}


UNIT_POPULATIONS = ("orders", "cancellations", "shipments")
# defects judged against the ship-by: an order without one (and none derivable) is unknown, never on time
# the deadlines a defect is judged against: an order without them cannot be judged (unknown, never on time)
DEADLINE_DEFECTS: dict[str, tuple[str, ...]] = {
    "shipped_late": ("ship_by",), "tracking_not_on_time": ("ship_by",), "late_or_untracked": ("ship_by",),
    "late_scan_and_delivery": ("ship_by",),  # and the deliver-by unless the scan was on time (``deadline_known``)
    "delivered_late": ("deliver_by",), "delivered_late_otdr": ("deliver_by",), "attempted_late": ("deliver_by",),
}
SHIP_BY_DEFECTS = frozenset(name for name, needs in DEADLINE_DEFECTS.items() if "ship_by" in needs)


def deadlines_needed(events: str, params: Any) -> tuple[str, ...]:
    """The order deadlines (``ship_by``, ``deliver_by``) the metric's defects are judged against."""
    if events != "orders":
        return ()
    return tuple(sorted({f for d in getattr(params, "defects", ()) for f in DEADLINE_DEFECTS.get(d, ())}))


def needs_ship_by(events: str, params: Any) -> bool:
    """Whether the metric needs an order deadline (ship-by or deliver-by); kept under its first name."""
    return bool(deadlines_needed(events, params))


def _scan_at() -> Any:
    scan = SHIPMENTS.c.get("first_scan_at")
    return func.coalesce(scan, SHIPMENTS.c.shipped_at) if scan is not None else SHIPMENTS.c.shipped_at


def deadline_known(o: Table, ctx: Ctx, fields: tuple[str, ...]) -> Any:
    """The order can be judged: its deadlines are known. eBay's late shipment also needs the estimated delivery
    date, unless a carrier scan within the handling time already makes it on time."""
    terms = [(ctx.ship_by(o) if f == "ship_by" else o.c[f]).is_not(None) for f in fields]
    if "late_scan_and_delivery" in getattr(ctx.params, "defects", ()):
        on_time_scan = exists().where(*_related(SHIPMENTS, o), _scan_at() <= ctx.ship_by(o))
        terms.append(or_(o.c.deliver_by.is_not(None), on_time_scan))
    return and_(*terms)


def unit_weight(events: str, params: Any) -> Any:
    """What one event counts for: 1, or its units (``unit = "units"``; an unknown count is the order's)."""
    if getattr(params, "unit", "events") != "units":
        return literal(1)
    t = POPULATIONS[events].table
    if events == "orders":
        return func.coalesce(t.c.item_count, 1)
    order_units = select(ORDERS.c.item_count).where(*_order_of(t)).limit(1).scalar_subquery()
    return func.coalesce(t.c.item_count, order_units, 1)


def buyer_of(events: str) -> Any:
    """The pseudonymous buyer of an event (orders.buyer_key); an event without one stands for its own buyer,
    so the unique-buyer count is never lower than the truth."""
    t = POPULATIONS[events].table
    key = need(ORDERS, "buyer_key")
    own = t.c.buyer_key if events == "orders" else select(key).where(*_order_of(t)).limit(1).scalar_subquery()
    return func.coalesce(own, literal("row:") + cast(t.c.id, String))


def _order_filter(t: Table, events: str, term: Any) -> Any:
    return term if events == "orders" else exists(select(ORDERS.c.id).where(*_order_of(t), term))


def population_filters(events: str, params: Any, ctx: Ctx) -> list[_Col[bool]]:
    """The WHERE terms (besides account and window) that make a row eligible."""
    pop = POPULATIONS[events]
    t = pop.table
    terms: list[_Col[bool]] = []
    fulfilment = getattr(params, "fulfilment", "any")
    if country := getattr(params, "buyer_country", None):
        terms.append(_order_filter(t, events, need(ORDERS, "buyer_country") == country))
    if getattr(params, "tracked_only", False):
        if events == "orders":
            terms.append(exists().where(*_related(SHIPMENTS, t), SHIPMENTS.c.tracking_number.is_not(None)))
        else:
            terms.append(t.c.tracking_number.is_not(None))
    if getattr(params, "delivered_only", False) and events == "orders":
        # delivered whenever it happened: a filter that read the evaluation moment could not be rolled up by day.
        # The order's own status "delivered" is enough (a marketplace may say so with no delivery time stored)
        delivered = exists().where(*_related(SHIPMENTS, t), SHIPMENTS.c.delivered_at.is_not(None))
        terms.append(or_(t.c.status == "delivered", delivered))
    if getattr(params, "shipped_only", False) and events == "orders":
        terms.append(_any_confirmed(t))
    if fields := deadlines_needed(events, params):
        terms.append(deadline_known(t, ctx, fields))  # the rest is counted apart as unknown
    if events == "orders":
        if fulfilment != "any":
            terms.append(t.c.fulfilment == fulfilment)
        if getattr(params, "exclude_cancelled", False):
            terms.append(t.c.status != "cancelled")
        if getattr(params, "exclude_buyer_cancelled", False):
            buyer = exists().where(*_related(CANCELLATIONS, t), CANCELLATIONS.c.buyer_requested.is_(True))
            terms.append(not_(buyer))
    elif events == "messages":
        terms += messages_to_answer(t, params)
    elif events == "ratings":
        kind = getattr(params, "rating_kind", None)
        if kind:
            terms.append(t.c.rating_kind == kind)
        terms.append(t.c.removed.is_(False))
    if pop.via_order and fulfilment != "any":
        terms.append(exists(select(ORDERS.c.id).where(*_order_of(t), ORDERS.c.fulfilment == fulfilment)))
    if events == "shipments" and "shipped_late" in getattr(params, "defects", ()):
        # judged against the order's ship-by: without one the shipment is not judged at all (rules-B)
        terms.append(exists(select(ORDERS.c.id).where(*_order_of(t), ORDERS.c.ship_by.is_not(None))))
    return terms


def messages_to_answer(m: Table, params: Any) -> list[_Col[bool]]:
    """The WHERE terms of the messages a reply-time metric judges: needing a reply, from one of the metric's
    ``senders`` (default the buyer; Walmart also counts Walmart Customer Care inquiries, sender "marketplace"),
    not spam / no-reply-needed as the marketplace marks it, and with ``per_thread`` only the first message of its
    thread (Etsy: "follow-up messages in a thread never count")."""
    senders = list(getattr(params, "senders", None) or ["buyer"])
    terms: list[_Col[bool]] = [
        m.c.needs_reply.is_(True),
        m.c.sender == senders[0] if len(senders) == 1 else m.c.sender.in_(senders),
        or_(m.c.marketplace_flag.is_(None), m.c.marketplace_flag.not_in(["spam", "no_reply_needed"])),
    ]
    if getattr(params, "per_thread", False):
        earlier = MESSAGES.alias("earlier_message")
        terms.append(not_(exists().where(
            earlier.c.account == m.c.account, earlier.c.thread_id == m.c.thread_id,
            _earlier(earlier, m, "received_at"))))
    return terms


def defect_clause(events: str, names: list[str], ctx: Ctx) -> _Col[bool]:
    """OR of the named defects: an event with several defects counts once."""
    table = POPULATIONS[events].table
    preds = [DEFECTS[events][n](table, ctx) for n in names]
    return or_(*preds) if preds else false()
