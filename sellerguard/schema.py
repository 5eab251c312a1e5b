"""The normalized schema: one set of records for every marketplace.

These pydantic models are the boundary between connectors (and the canonical import) and the store: a
malformed payload fails here, with the field path, before anything is written. The storage models in
``sellerguard.store.tables`` mirror them field for field; docs/schema.md documents each field.

Rules every record follows:
- ``account`` is the account id from the config (``amazon-us``), ``external_id`` the marketplace's own id;
  together with ``kind`` they key the record, so importing the same record twice changes nothing.
- datetimes must carry a timezone and are converted to UTC; a naive datetime is rejected.
- implausible values are rejected, naming the field and the value (cut to 200 characters): times before 1995 or
  more than ``FUTURE_SLACK`` after now (promised dates up to ``PROMISE_HORIZON``), negative or absurd counts,
  negative money where it cannot be, NaN/Infinity, rates outside [0, 1], ids that are empty, ``nan``/``null``/
  ``none`` or hold control characters, text with NUL bytes or lone surrogates, unknown ISO codes and time zones.
  "Now" is ``datetime.now(UTC)`` unless a test pins it with ``plausible_now``.
- no buyer names, addresses or e-mails: only ids, times, amounts and flags that a metric needs.
- ``raw_hash`` is a hash of the marketplace payload the record came from (see ``payload_hash``); the store keeps
  a hash of the whole normalized record (this one included), so re-writing the same record changes nothing
  while the same payload normalized differently (a newly filled fact) updates the stored row.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sellerguard.clock import utc

EARLIEST = datetime(1995, 1, 1, tzinfo=UTC)  # before eBay and Amazon sold anything: no marketplace record is older
FUTURE_SLACK = timedelta(days=3)  # an event time at most this far ahead of now (clock skew, zone mix-ups)
PROMISE_HORIZON = timedelta(days=400)  # a promised date (ship-by of a pre-order) or a report window end
MAX_COUNT = 1_000_000  # units in one order, package or cancellation; more is a garbled number
MAX_FIGURE = 1e12  # a marketplace's own count or score; more is a garbled number
_NOW: list[Callable[[], datetime]] = [lambda: datetime.now(UTC)]


@contextmanager
def plausible_now(at: datetime | Callable[[], datetime]) -> Iterator[None]:
    """Pin the "now" the plausibility checks use (tests; a sync replaying a fixed clock). Process-wide."""
    _NOW.append(at if callable(at) else (lambda: at))
    try:
        yield
    finally:
        _NOW.pop()


def _cut(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _aware_utc(value: datetime) -> datetime:
    try:
        return utc(value)
    except ValueError as exc:  # re-raised by pydantic with the field path
        raise ValueError(str(exc)) from None


def _within(horizon: timedelta) -> Callable[[datetime], datetime]:
    """Aware UTC within [EARLIEST, now + horizon]: one validator per field (every ingested record has several)."""
    def check(value: datetime) -> datetime:
        if value.tzinfo is not UTC:  # connectors mostly hand over UTC already
            value = _aware_utc(value)
        if value < EARLIEST:
            raise ValueError(f"{_cut(value.isoformat())} is before {EARLIEST:%Y}: not a marketplace time")
        latest = _NOW[-1]() + horizon
        if value > latest:
            raise ValueError(f"{_cut(value.isoformat())} is more than {horizon.days} days after now "
                             f"(latest plausible {latest:%Y-%m-%d})")
        return value

    return check


def _not_bool(value: Any) -> Any:
    """A number field refuses true/false: pydantic would store ``true`` as 1 (a flag in a count's column is a
    garbled record, not a count)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a number")
    return value


_NUMBER = BeforeValidator(_not_bool)  # every int / float / Decimal field of a record (tests/test_import_plausible.py)

UtcDatetime = Annotated[datetime, AfterValidator(_within(FUTURE_SLACK))]
PromiseDatetime = Annotated[datetime, AfterValidator(_within(PROMISE_HORIZON))]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4, allow_inf_nan=False), _NUMBER]
Amount = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False), _NUMBER]  # never < 0
Count = Annotated[int, Field(ge=0, le=MAX_COUNT), _NUMBER]
Figure = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_FIGURE, le=MAX_FIGURE), _NUMBER]
CountFigure = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_FIGURE), _NUMBER]
Score = Annotated[float, Field(allow_inf_nan=False, ge=1, le=5), _NUMBER]
Days = Annotated[int, Field(ge=0, le=60), _NUMBER]


_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")
# Unicode categories Cc and Cs, and the bidirectional controls (U+200E/F, U+202A-E, U+2066-9): an id holding
# U+202E prints reversed in a terminal, Slack or the dashboard ("Trojan Source")
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _clean_text(value: str) -> str:
    """Free text: no NUL bytes or lone surrogates (no database stores them; they are garbled payloads)."""
    if _NUL_OR_SURROGATE.search(value):  # a regex, not a loop per character: every ingested string passes here
        raise ValueError(f"{_cut(value)} holds a NUL byte or a lone surrogate")
    return value


_NULL_WORDS = {"nan", "null", "none", "undefined", "nil"}


def _clean_id(value: str) -> str:
    """An id: not empty, not a null spelled as text, no control or bidi characters, NULs or lone surrogates."""
    if not value:
        raise ValueError("an id cannot be empty")
    if value.lower() in _NULL_WORDS:
        raise ValueError(f"{_cut(value)} is a null written as text, not an id")
    if _CONTROL_OR_SURROGATE.search(value):
        raise ValueError(f"{_cut(value)} holds a control character, a bidi control or a lone surrogate")
    return value


Id = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean_id)]
# free text or a code taken as sent: every str field of a record is a Text, an Id, or a type whose own check
# refuses NUL and lone surrogates (ISO codes, time zones, patterns, literals); tests/test_schema.py checks all
Text = Annotated[str, AfterValidator(_clean_text)]


@cache
def _countries() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}  # XK: Kosovo, as marketplaces use it


@cache
def _currencies() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def _country(value: str) -> str:
    code = value.upper()
    code = "GB" if code == "UK" else code  # ISO 3166 reserves UK for GB; marketplaces send both
    if code not in _countries():
        raise ValueError(f"{_cut(value)} is not an ISO 3166-1 alpha-2 country code")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if code not in _currencies():
        raise ValueError(f"{_cut(value)} is not an ISO 4217 currency code")
    return code


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{_cut(value)} is not an IANA time zone (such as 'America/New_York')") from None
    return value


Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]

Fulfilment = Literal["seller", "marketplace"]
# "unknown": the marketplace sent a status value the connector does not know (logged once as a warning); never
# guessed into a plausible state. Rules treat it as neither open nor shipped.
OrderStatus = Literal["pending", "unshipped", "partially_shipped", "shipped", "delivered", "cancelled", "unknown"]
Party = Literal["buyer", "seller", "marketplace", "unknown"]
RatingKind = Literal["seller_feedback", "product_review", "shop_review"]
ClaimKind = Literal["a_to_z", "item_not_received", "not_as_described", "chargeback", "case"]
ReturnReason = Literal["not_as_described", "remorse", "damaged", "not_received", "other"]
MessageFlag = Literal["spam", "no_reply_needed"]
RecordKind = Literal[
    "order", "shipment", "cancellation", "message", "rating", "claim", "return", "reported_metric"
]


# built once (json.dumps builds an encoder per call); no circular check: a decoded payload cannot hold a cycle
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str, check_circular=False)


def payload_hash(payload: Any) -> str:
    """A stable sha256 of a marketplace payload (key order does not matter): of its sorted, compact JSON."""
    return hashlib.sha256(_CANONICAL_JSON.encode(payload).encode()).hexdigest()


_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    account: str = Field(min_length=1, max_length=100)
    external_id: Id
    raw_hash: Text | None = Field(default=None, max_length=64)

    @field_validator("account")
    @classmethod
    def _account_id(cls, v: str) -> str:
        # the config's account id rule (AccountConfig.id): data under any other id could never be configured
        if not _ACCOUNT_ID.match(v):
            raise ValueError(f"{_cut(v)} is not an account id (letters, digits, '_', '.', '-', as in the config)")
        return v


BuyerKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # HMAC-SHA-256 hex (sellerguard.pseudonym)
CountryCode = Annotated[str, Field(min_length=2, max_length=2), AfterValidator(_country)]  # ISO 3166-1 alpha-2
TimeZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_timezone)]  # IANA


def _not_before(value: datetime | None, info: ValidationInfo, earlier: str) -> datetime | None:
    """``value`` (a later step of the same event) cannot precede ``earlier``: a parcel delivered or attempted
    before it was shipped, a reply before the message, a claim closed or a return resolved before it was opened.
    No marketplace produces these; they are swapped columns or zone mix-ups. Equal times pass (one timestamp
    given for both steps, as Etsy's refunds do)."""
    start = info.data.get(earlier)
    if value is not None and start is not None and value < start:
        raise ValueError(f"{value.isoformat()} is before {earlier} {start.isoformat()}: impossible order of events")
    return value


class OrderLine(BaseModel):
    """One line of an order: its units and the marketplace's own product category (per-category metrics)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    line_id: Id | None = None
    quantity: Count = 1
    category_id: Annotated[str, Field(max_length=100), AfterValidator(_clean_id)] | None = None  # Amazon
    # product type / eBay leaf category id
    category_name: Annotated[str, Field(max_length=200), AfterValidator(_clean_text)] | None = None


class Order(_Record):
    kind: Literal["order"] = "order"
    purchased_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    ship_by: PromiseDatetime | None = None  # latest ship date the marketplace promised the buyer
    deliver_by: PromiseDatetime | None = None  # latest promised delivery date
    fulfilment: Fulfilment
    status: OrderStatus
    total: Amount | None = None
    currency: Currency | None = None
    item_count: Count = 1
    site: Text | None = None  # marketplace site / sales channel (amazon.de, EBAY_US, MLB)
    # facts the rules need (docs/schema.md says which connector fills each)
    buyer_key: BuyerKey | None = None  # keyed hash of the marketplace's buyer id, never the id itself
    buyer_country: CountryCode | None = None  # ship-to country of the buyer
    paid_at: UtcDatetime | None = None  # payment cleared (eBay's handling-time clock starts here)
    handling_days: Days | None = None  # promised handling time, business days
    seller_timezone: TimeZoneName | None = None  # IANA zone of the seller's clock
    order_type: Text | None = Field(default=None, max_length=50)  # marketplace's own order type (TikTok SLA)
    items_subtotal: Amount | None = None  # item total before discounts, order currency (Etsy tracking exemption)
    lines: tuple[OrderLine, ...] = ()  # per line units and category; empty when the API gives no lines

    @model_validator(mode="after")
    def _units_from_lines(self) -> Order:
        # units not given: the lines' quantities, as bol.com's periodic count reads them, never a silent 1
        if self.lines and "item_count" not in self.model_fields_set:
            units = sum(line.quantity for line in self.lines)
            if units > MAX_COUNT:
                raise ValueError(f"item_count: the lines hold {units} units, more than {MAX_COUNT}")
            object.__setattr__(self, "item_count", units)  # frozen model: set once, while validating
        return self


class Shipment(_Record):
    kind: Literal["shipment"] = "shipment"
    order_ref: Id
    shipped_at: UtcDatetime | None = None  # handed to the carrier
    confirmed_at: UtcDatetime | None = None  # when the seller confirmed shipment to the marketplace
    carrier: Text | None = None
    tracking_number: Text | None = None
    tracking_validated: bool | None = None  # the carrier scanned it / the marketplace accepted it
    delivered_at: UtcDatetime | None = None
    item_count: Count | None = None
    tracking_uploaded_at: UtcDatetime | None = None  # tracking number given to the marketplace
    first_scan_at: UtcDatetime | None = None  # first carrier scan (acceptance / origin scan)
    first_attempt_at: UtcDatetime | None = None  # first delivery attempt, successful or not

    @field_validator("delivered_at", "first_attempt_at")
    @classmethod
    def _after_shipping(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return _not_before(v, info, "shipped_at")


class Cancellation(_Record):
    kind: Literal["cancellation"] = "cancellation"
    order_ref: Id
    cancelled_at: UtcDatetime
    initiated_by: Party
    buyer_requested: bool = False  # the buyer asked for it (does not count against the seller on most sites)
    reason: Text | None = Field(default=None, max_length=200)
    item_count: Count | None = None
    processed_at: UtcDatetime | None = None  # the seller processed it (bol: before the promised date = no defect)


class Message(_Record):
    kind: Literal["message"] = "message"
    thread_id: Id
    order_ref: Id | None = None
    received_at: UtcDatetime
    first_reply_at: UtcDatetime | None = None
    needs_reply: bool = True  # false when marked "no response needed" or answered elsewhere
    sender: Literal["buyer", "marketplace"] = "buyer"
    marketplace_flag: MessageFlag | None = None  # as the marketplace marks it: excluded from response metrics

    @field_validator("first_reply_at")
    @classmethod
    def _after_receipt(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return _not_before(v, info, "received_at")


class Rating(_Record):
    kind: Literal["rating"] = "rating"
    rating_kind: RatingKind
    score: Text  # as published: "5", "positive", "4.5"
    score_normalized: Score | None = None
    negative: bool
    rated_at: UtcDatetime
    order_ref: Id | None = None
    removed: bool = False  # removed or struck through by the marketplace: no longer counts


class Claim(_Record):
    kind: Literal["claim"] = "claim"
    claim_kind: ClaimKind
    order_ref: Id | None = None
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    outcome: Text | None = Field(default=None, max_length=100)
    seller_at_fault: bool | None = None  # None while undecided

    @field_validator("closed_at")
    @classmethod
    def _after_opening(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return _not_before(v, info, "opened_at")


class Return(_Record):
    kind: Literal["return"] = "return"
    order_ref: Id
    requested_at: UtcDatetime
    resolved_at: UtcDatetime | None = None
    refund_amount: Amount | None = None
    currency: Currency | None = None
    dissatisfied: bool | None = None  # the marketplace's dissatisfaction signal, None when unknown
    reason: Text | None = Field(default=None, max_length=200)  # the marketplace's reason code / text
    reason_category: ReturnReason | None = None  # not_as_described (INAD) vs remorse, for INAD metrics

    @field_validator("resolved_at")
    @classmethod
    def _after_request(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        return _not_before(v, info, "requested_at")


class ReportedMetric(_Record):
    """A figure the marketplace itself reports (it wins over nothing: rules show both and the drift)."""

    kind: Literal["reported_metric"] = "reported_metric"
    metric_id: Annotated[str, Field(min_length=3, max_length=100), AfterValidator(_clean_id)]  # amazon.odr
    value: Figure | None = None  # rate as a fraction (0.009 = 0.9%), count, or score; None = not reported
    numerator: CountFigure | None = None
    denominator: CountFigure | None = None
    window_start: UtcDatetime | None = None
    window_end: PromiseDatetime | None = None  # an evaluation window may end after the report date
    status: Text | None = Field(default=None, max_length=50)  # the marketplace's own word: GOOD, AT_RISK ...
    scope: Text | None = Field(default=None, max_length=50)  # mfn / afn / program / site
    as_of: UtcDatetime

    @field_validator("metric_id")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if "." not in v:
            raise ValueError("metric_id must look like '<marketplace>.<metric>'")
        return v

    # field validators (not a model validator) so the error names the field; metric_id, value, numerator,
    # denominator, window_start, window_end are validated in that order
    @field_validator("value")
    @classmethod
    def _rate_in_range(cls, v: float | None, info: ValidationInfo) -> float | None:
        metric_id = info.data.get("metric_id") or ""
        if v is not None and is_rate(metric_id) and not 0 <= v <= 1:
            raise ValueError(f"{_cut(v)} for {metric_id}, a rate: it must be a fraction between 0 and 1 "
                             f"(0.009 = 0.9 %)")
        return v

    @field_validator("denominator")
    @classmethod
    def _numerator_fits(cls, v: float | None, info: ValidationInfo) -> float | None:
        num, metric_id = info.data.get("numerator"), info.data.get("metric_id") or ""
        if v is not None and num is not None and is_rate(metric_id) and num > v:
            raise ValueError(f"{_cut(v)} is smaller than the numerator {_cut(num)} of the rate {metric_id}")
        return v

    @field_validator("window_end")
    @classmethod
    def _window_order(cls, v: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("window_start")
        if v is not None and start is not None and start > v:
            raise ValueError(f"{v.isoformat()} is before window_start {start.isoformat()}")
        return v


_RATE_NAME = re.compile(r"(^|_)(rate|ratio|odr)(_|$)")


def is_rate(metric_id: str) -> bool:
    """A metric whose value is a fraction in [0, 1]: its name says rate/ratio (``ebay.inad_rate``, ``amazon.odr``).

    Counts and scores (``bol.late_items``, ``mercadolibre.level``, ``amazon.account_health_rating``) are only
    required to be finite numbers.
    """
    return bool(_RATE_NAME.search(metric_id.rpartition(".")[2]))


def fields_of_type(model: type[BaseModel], kind: type) -> tuple[str, ...]:
    """The fields of ``model`` whose values may be a ``kind`` (``str``, ``Decimal``), through Optional, unions and
    Annotated constraints: the store converts money by it, a test checks every text field by it."""
    def admits(annotation: Any) -> bool:
        if annotation is kind:
            return True
        if get_origin(annotation) is Annotated:
            return admits(get_args(annotation)[0])
        return get_origin(annotation) in (Union, UnionType) and any(admits(a) for a in get_args(annotation))

    return tuple(name for name, f in model.model_fields.items() if admits(f.annotation))


Record = Annotated[
    Order | Shipment | Cancellation | Message | Rating | Claim | Return | ReportedMetric,
    Field(discriminator="kind"),
]
RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)
RECORD_TYPES: dict[str, type[_Record]] = {
    m.model_fields["kind"].default: m
    for m in (Order, Shipment, Cancellation, Message, Rating, Claim, Return, ReportedMetric)
}


class Account(BaseModel):
    """A seller's account on one marketplace (from the config; stored so reports can name it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    marketplace: str
    region: str | None = None
    seller_id: str | None = None
    display_name: str | None = None


def parse_record(data: dict[str, Any]) -> Record:
    """Validate one record dict (``kind`` picks the model); raises pydantic.ValidationError."""
    return RECORD_ADAPTER.validate_python(data)
