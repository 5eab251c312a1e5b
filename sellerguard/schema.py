"""The normalized schema: one set of records for every marketplace.

These pydantic models are the boundary between connectors (and the canonical import) and the store: a
malformed payload fails here, with the field path, before anything is written. The storage models in
``sellerguard.store.tables`` mirror them field for field; docs/schema.md documents each field.

Rules every record follows:
- ``account`` is the account id from the config (``amazon-us``), ``external_id`` the marketplace's own id;
  together with ``kind`` they key the record, so importing the same record twice changes nothing.
- datetimes must carry a timezone and are converted to UTC; a naive datetime is rejected.
- no buyer names, addresses or e-mails: only ids, times, amounts and flags that a metric needs.
- ``raw_hash`` is a hash of the marketplace payload the record came from (see ``payload_hash``); the store keeps
  a hash of the whole normalized record (this one included), so re-writing the same record changes nothing
  while the same payload normalized differently (a newly filled fact) updates the stored row.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from sellerguard.clock import utc


def _aware_utc(value: datetime) -> datetime:
    try:
        return utc(value)
    except ValueError as exc:  # re-raised by pydantic with the field path
        raise ValueError(str(exc)) from None


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]
Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4)]

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


def payload_hash(payload: Any) -> str:
    """A stable sha256 of a marketplace payload (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    account: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=200)
    raw_hash: str | None = Field(default=None, max_length=64)

    @field_validator("account")
    @classmethod
    def _account_id(cls, v: str) -> str:
        # the config's account id rule (AccountConfig.id): data under any other id could never be configured
        if not _ACCOUNT_ID.match(v):
            raise ValueError(f"{v!r} is not an account id (letters, digits, '_', '.', '-', as in the config)")
        return v


BuyerKey = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # HMAC-SHA-256 hex (sellerguard.pseudonym)
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]  # ISO 3166-1 alpha-2, upper case


class OrderLine(BaseModel):
    """One line of an order: its units and the marketplace's own product category (per-category metrics)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    line_id: str | None = Field(default=None, max_length=200)
    quantity: int = Field(default=1, ge=0)
    category_id: str | None = Field(default=None, max_length=100)  # Amazon product type / eBay leaf category id
    category_name: str | None = Field(default=None, max_length=200)


class Order(_Record):
    kind: Literal["order"] = "order"
    purchased_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    ship_by: UtcDatetime | None = None  # latest ship date the marketplace promised the buyer
    deliver_by: UtcDatetime | None = None  # latest promised delivery date
    fulfilment: Fulfilment
    status: OrderStatus
    total: Money | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    item_count: int = Field(default=1, ge=0)
    site: str | None = None  # marketplace site / sales channel (amazon.de, EBAY_US, MLB)
    # facts the rules need (docs/schema.md says which connector fills each)
    buyer_key: BuyerKey | None = None  # keyed hash of the marketplace's buyer id, never the id itself
    buyer_country: CountryCode | None = None  # ship-to country of the buyer
    paid_at: UtcDatetime | None = None  # payment cleared (eBay's handling-time clock starts here)
    handling_days: int | None = Field(default=None, ge=0, le=60)  # promised handling time, business days
    seller_timezone: str | None = Field(default=None, max_length=64)  # IANA zone of the seller's clock
    order_type: str | None = Field(default=None, max_length=50)  # marketplace's own order type (TikTok SLA)
    items_subtotal: Money | None = None  # item total before discounts, order currency (Etsy tracking exemption)
    lines: tuple[OrderLine, ...] = ()  # per line units and category; empty when the API gives no lines


class Shipment(_Record):
    kind: Literal["shipment"] = "shipment"
    order_ref: str
    shipped_at: UtcDatetime | None = None  # handed to the carrier
    confirmed_at: UtcDatetime | None = None  # when the seller confirmed shipment to the marketplace
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_validated: bool | None = None  # the carrier scanned it / the marketplace accepted it
    delivered_at: UtcDatetime | None = None
    item_count: int | None = Field(default=None, ge=0)
    tracking_uploaded_at: UtcDatetime | None = None  # tracking number given to the marketplace
    first_scan_at: UtcDatetime | None = None  # first carrier scan (acceptance / origin scan)
    first_attempt_at: UtcDatetime | None = None  # first delivery attempt, successful or not


class Cancellation(_Record):
    kind: Literal["cancellation"] = "cancellation"
    order_ref: str
    cancelled_at: UtcDatetime
    initiated_by: Party
    buyer_requested: bool = False  # the buyer asked for it (does not count against the seller on most sites)
    reason: str | None = Field(default=None, max_length=200)
    item_count: int | None = Field(default=None, ge=0)
    processed_at: UtcDatetime | None = None  # the seller processed it (bol: before the promised date = no defect)


class Message(_Record):
    kind: Literal["message"] = "message"
    thread_id: str
    order_ref: str | None = None
    received_at: UtcDatetime
    first_reply_at: UtcDatetime | None = None
    needs_reply: bool = True  # false when marked "no response needed" or answered elsewhere
    sender: Literal["buyer", "marketplace"] = "buyer"
    marketplace_flag: MessageFlag | None = None  # as the marketplace marks it: excluded from response metrics


class Rating(_Record):
    kind: Literal["rating"] = "rating"
    rating_kind: RatingKind
    score: str  # as published: "5", "positive", "4.5"
    score_normalized: float | None = Field(default=None, ge=1, le=5)
    negative: bool
    rated_at: UtcDatetime
    order_ref: str | None = None
    removed: bool = False  # removed or struck through by the marketplace: no longer counts


class Claim(_Record):
    kind: Literal["claim"] = "claim"
    claim_kind: ClaimKind
    order_ref: str | None = None
    opened_at: UtcDatetime
    closed_at: UtcDatetime | None = None
    outcome: str | None = Field(default=None, max_length=100)
    seller_at_fault: bool | None = None  # None while undecided


class Return(_Record):
    kind: Literal["return"] = "return"
    order_ref: str
    requested_at: UtcDatetime
    resolved_at: UtcDatetime | None = None
    refund_amount: Money | None = None
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    dissatisfied: bool | None = None  # the marketplace's dissatisfaction signal, None when unknown
    reason: str | None = Field(default=None, max_length=200)  # the marketplace's reason code / text
    reason_category: ReturnReason | None = None  # not_as_described (INAD) vs remorse, for INAD metrics


class ReportedMetric(_Record):
    """A figure the marketplace itself reports (it wins over nothing: rules show both and the drift)."""

    kind: Literal["reported_metric"] = "reported_metric"
    metric_id: str  # the pack's metric id, e.g. amazon.odr
    value: float | None = None  # rate as a fraction (0.009 = 0.9%), count, or score; None = not reported
    numerator: float | None = None
    denominator: float | None = None
    window_start: UtcDatetime | None = None
    window_end: UtcDatetime | None = None
    status: str | None = Field(default=None, max_length=50)  # the marketplace's own word: GOOD, AT_RISK ...
    scope: str | None = Field(default=None, max_length=50)  # mfn / afn / program / site
    as_of: UtcDatetime

    @field_validator("metric_id")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if "." not in v:
            raise ValueError("metric_id must look like '<marketplace>.<metric>'")
        return v


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
