"""Policy packs: one TOML file per marketplace under rules/packs/, validated here.

A pack is data: for each metric, the calculator and its parameters, the window, the comparator and threshold,
the warning band, the minimum volume, the consequence and the source. The format is documented in
docs/policy-packs.md. Any problem (unknown calculator, missing field, bad value) fails the load with
``<file>:<key>: <reason>``; a pack never loads half.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sellerguard.errors import ConfigError
from sellerguard.rules.events import DEFECTS, POPULATIONS, UNIT_POPULATIONS
from sellerguard.rules.handling import handling_calendar
from sellerguard.rules.periodic import PeriodicParams

Comparator = Literal["<", "<=", ">", ">="]


def same_direction(a: str, b: str) -> bool:
    """``a`` and ``b`` differ at most in being strict or inclusive ("<" and "<=", not "<" and ">")."""
    return a[:1] == b[:1]


# Whose pages a metric's ``source`` may be: the marketplace's own (help, seller university, developer docs, and its
# official GitHub organisation), by host suffix or URL prefix. A rule shown to a seller (status, Slack) cites the
# marketplace itself; anything else goes to ``sources`` as ``{ url = "...", third_party = true }``.
OWN_SOURCES: dict[str, tuple[str, ...]] = {
    "amazon": ("amazon.com", "amazon.co.uk", "amazon.de", "amazon.fr", "amazon.it", "amazon.es", "amazon.ae",
               "amazon.co.jp", "amazon.ca", "amazon.com.au", "amazon.in", "amazon.com.mx", "amazon.com.br",
               "amazon.nl", "amazon.sg", "amazon.sa", "amazon.pl", "amazon.se", "https://github.com/amzn/"),
    "ebay": ("ebay.com", "ebay.co.uk", "ebay.de", "ebay.com.au", "ebay.ca", "ebay.com.my", "ebay.fr", "ebay.it"),
    "walmart": ("walmart.com",),
    "etsy": ("etsy.com",),
    "tiktok": ("tiktok.com", "tiktokshop.com", "tiktokglobalshop.com"),
    "mercadolibre": ("mercadolibre.com", "mercadolivre.com.br", "mercadolibre.com.ar", "mercadolibre.com.mx",
                     "mercadolibre.cl", "mercadolibre.com.co", "mercadolibre.com.uy", "mercadolibre.com.pe"),
    "bol": ("bol.com",),
    "shopify": ("shopify.com", "shopify.dev"),
}


def own_source(marketplace: str, url: str) -> bool:
    """Whether ``url`` is one of ``marketplace``'s own pages (``OWN_SOURCES``); a pack of another marketplace
    (a private one) is not judged."""
    from urllib.parse import urlsplit

    owners = OWN_SOURCES.get(marketplace)
    if owners is None:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(url.startswith(o) if o.startswith("https://") else host == o or host.endswith("." + o)
               for o in owners)
CALCULATORS = ("rate", "count", "response_time", "average", "reported", "periodic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventParams(_Strict):
    """Which events form the population and which of them are defects (used by ``rate`` and ``count``)."""

    events: str
    anchor: str  # the timestamp that places an event in the window
    defects: list[str] = Field(min_length=1)
    fulfilment: Literal["seller", "marketplace", "any"] = "any"
    exclude_buyer_cancelled: bool = False  # drop orders the buyer asked to cancel from the population
    exclude_cancelled: bool = False  # drop cancelled orders from the population
    count_open_claims: bool = False  # an undecided claim counts as a defect while open
    numerator: Literal["defects", "successes"] = "defects"  # successes: value = good share (e.g. VTR)
    respond_hours: float = Field(default=48, gt=0)  # for return defects: time to authorise/close a request
    # counting unit: each event once, or its units/items (order item_count, cancellation/shipment item_count)
    unit: Literal["events", "units"] = "events"
    tracked_only: bool = False  # only events whose package has a tracking number (Amazon OTDR)
    delivered_only: bool = False  # only orders with a delivered shipment (TikTok: "delivered orders")
    shipped_only: bool = False  # only orders with a shipped package (TikTok VTR: "shipped orders")
    buyer_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")  # only buyers of this country (eBay US)
    split: Literal["category"] | None = None  # one figure per product category (order lines); the worst decides
    compare: Literal["instant", "date"] = "instant"  # date: shipped on or before the ship-by DATE (local clock)
    # shipped_late judges the order's FIRST confirmation only (Etsy's standard: "marked shipped by the ship-by date")
    first_confirmation: bool = False
    # Etsy: orders whose items_subtotal is under the amount of their currency need no tracking
    tracking_exempt_below: dict[str, float] = Field(default_factory=dict)
    # eBay: an order without ship_by gets paid_at + handling_days business days (seller's clock) as its ship-by
    # "tiktok": from the order type and region (rules/sla.py, rules-B); true: eBay handling time from payment
    derive_ship_by: bool | Literal["tiktok"] = False
    # with derive_ship_by = true: rules/calendars/<name>.toml, the business days and clock of the handling time
    # (eBay: Pacific, weekends and US federal holidays off); without it Monday-Friday in the metric's timezone
    handling_calendar: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")

    @field_validator("events")
    @classmethod
    def _events(cls, v: str) -> str:
        if v not in POPULATIONS:
            raise ValueError(f"unknown events '{v}' (known: {', '.join(sorted(POPULATIONS))})")
        return v

    @field_validator("anchor")
    @classmethod
    def _anchor(cls, v: str, info: ValidationInfo) -> str:
        events = info.data.get("events")
        if events in POPULATIONS and v not in POPULATIONS[events].anchors:
            raise ValueError(f"anchor '{v}' is not a time of {events} ({', '.join(POPULATIONS[events].anchors)})")
        return v

    @field_validator("defects")
    @classmethod
    def _defects(cls, v: list[str], info: ValidationInfo) -> list[str]:
        known = DEFECTS.get(info.data.get("events") or "", {})
        for name in v:
            if known and name not in known:
                raise ValueError(f"unknown defect '{name}' (known for these events: {', '.join(sorted(known))})")
        return v

    @model_validator(mode="after")
    def _mix(self) -> EventParams:
        if self.unit == "units" and self.events not in UNIT_POPULATIONS:
            raise ValueError(f"unit = \"units\" needs events with item counts ({', '.join(UNIT_POPULATIONS)}), "
                             f"not '{self.events}'")
        via_order = self.events == "orders" or POPULATIONS[self.events].via_order
        for key in ("buyer_country", "split"):
            if getattr(self, key) is not None and not via_order:
                raise ValueError(f"{key} needs events tied to an order, not '{self.events}'")
        if self.tracked_only and self.events not in ("orders", "shipments"):
            raise ValueError("tracked_only needs events = \"orders\" or \"shipments\"")
        if (self.delivered_only or self.shipped_only) and self.events != "orders":
            raise ValueError("delivered_only and shipped_only need events = \"orders\"")
        if self.handling_calendar is not None:
            if self.derive_ship_by is not True:
                raise ValueError("handling_calendar needs derive_ship_by = true")
            try:
                handling_calendar(self, "UTC")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        if (self.compare == "date" or self.tracking_exempt_below or self.derive_ship_by) and self.events != "orders":
            raise ValueError("compare, tracking_exempt_below and derive_ship_by need events = \"orders\"")
        return self


class ResponseParams(_Strict):
    """A buyer message is late when its first reply came, or is still missing, after ``hours``."""

    hours: float = Field(gt=0)
    clock: Literal["calendar", "business"] = "calendar"
    calendar: str | None = None  # rules/calendars/<name>.toml, required for the business clock
    numerator: Literal["defects", "successes"] = "defects"  # successes: the share answered in time (Walmart SRR)
    # whose messages count: the buyer's, and for Walmart also Walmart Customer Care's inquiries ("marketplace")
    senders: list[Literal["buyer", "marketplace"]] = Field(default_factory=lambda: ["buyer"], min_length=1)
    per_thread: bool = False  # only the first message of each thread (Etsy: follow-ups never count)

    @model_validator(mode="after")
    def _calendar(self) -> ResponseParams:
        if self.clock == "business" and not self.calendar:
            raise ValueError("a business clock needs calendar = \"<name>\" (rules/calendars/<name>.toml)")
        return self


class AverageParams(_Strict):
    rating_kind: Literal["seller_feedback", "product_review", "shop_review"]
    worst: float = 1.0  # headroom counts ratings at the worst score ...
    best: float = 5.0  # ... and recovery ratings at the best score


class ReportedParams(_Strict):
    max_age_days: int = Field(default=7, ge=1)  # an older marketplace figure makes the metric unknown
    # the marketplace's own verdict (reported_metric.status) -> level; with ok_statuses set, a status in none of
    # the three lists is `unknown` (a new verdict sellerguard does not know is never read as ok)
    ok_statuses: list[str] = Field(default_factory=list)
    warn_statuses: list[str] = Field(default_factory=list)
    critical_statuses: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> ReportedParams:
        seen: dict[str, str] = {}
        for key in ("ok_statuses", "warn_statuses", "critical_statuses"):
            for status in getattr(self, key):
                if status.upper() in seen:
                    raise ValueError(f"status '{status}' is in both {seen[status.upper()]} and {key}")
                seen[status.upper()] = key
        return self


PARAMS: dict[str, type[_Strict]] = {
    "rate": EventParams,
    "count": EventParams,
    "response_time": ResponseParams,
    "average": AverageParams,
    "reported": ReportedParams,
    "periodic": PeriodicParams,  # rules/periodic.py: per-ISO-week verdicts in items, strike history (rules-B)
}


class AdaptiveWindow(_Strict):
    """eBay's 400-transaction rule and the like: use ``days`` (or ``months``) when the normal window has fewer
    than ``below`` events of the population."""

    days: int | None = Field(default=None, ge=1)
    months: int | None = Field(default=None, ge=1)
    below: int = Field(ge=1)
    # what is counted in the normal window: "events" of the metric's own population (eBay's transactions), or the
    # seller's "sales": orders bought in it, cancelled ones left out (Mercado Libre: one window per seller)
    of: Literal["events", "sales"] = "events"

    @model_validator(mode="after")
    def _one(self) -> AdaptiveWindow:
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of days or months")
        return self

    @property
    def length(self) -> int:
        return self.days if self.days is not None else self.months  # type: ignore[return-value]


class CountRule(_Strict):
    """A count rule for small volumes (Etsy: under 40 reviews at most 4 low ones; from 40 the rate rule)."""

    below: int = Field(ge=1)  # eligible events (in the metric's unit) below which the count rule applies
    max: int = Field(ge=0)  # most defects (gate unit) still good under the count rule


class Verdict(_Strict):
    """When the marketplace fixes its verdict: monthly on ``day`` (eBay 20, Etsy 1) or weekly (Monday)."""

    every: Literal["month", "week"]
    day: int | None = Field(default=None, ge=1, le=28)

    @model_validator(mode="after")
    def _day(self) -> Verdict:
        if self.every == "month" and self.day is None:
            raise ValueError("a monthly verdict needs day = <1-28>")
        if self.every == "week" and self.day is not None:
            raise ValueError("a weekly verdict is on Monday 00:00: no day")
        return self


class ReportedRef(_Strict):
    metric_id: str
    scope: str | None = None


class SourceRef(_Strict):
    """A further source that is not the marketplace's page: ``{ url = "...", third_party = true }``."""

    url: str = Field(pattern=r"^https?://")
    third_party: bool


class Metric(_Strict):
    id: str
    name: str
    calculator: str
    params: dict[str, Any] = Field(default_factory=dict)
    window_kind: Literal["days", "months", "iso_weeks"] = "days"
    window_days: int | None = Field(default=None, ge=1)  # days kind (default 30)
    window_months: int | None = Field(default=None, ge=1)  # months kind
    window_weeks: int | None = Field(default=None, ge=1)  # iso_weeks kind
    window_align: Literal["instant", "date"] = "instant"
    timezone: str = "UTC"  # the marketplace's clock (IANA)
    lag_days: int = Field(default=0, ge=0)  # the window ends this many days before "now"
    fallback_window: AdaptiveWindow | None = None
    gate_unit: Literal["unit", "events", "unique_buyers"] = "unit"
    count_rule: CountRule | None = None
    verdict: Verdict | None = None
    comparator: Comparator
    threshold: float | None = None  # None: informational (a component of another metric)
    warn: float | None = None
    # how the warning band is judged, when its edge is inclusive where the threshold's is not (Amazon's suggested
    # bands "<= 96%" beside a ">= 95%" target: warn_comparator ">" with warn 0.96); default: the comparator
    warn_comparator: Comparator | None = None
    warn_suggested: bool = True  # the warning band is sellerguard's own default, not the marketplace's
    count_gate: int | None = Field(default=None, ge=1)  # a breach also needs at least this many defects
    warn_count_gate: int | None = Field(default=None, ge=1)
    breach_level: Literal["critical", "warn"] = "critical"
    min_volume: int = Field(default=0, ge=0)
    # what min_volume counts: the metric's eligible "events" in its window, or the seller's "sales" (orders bought,
    # cancelled ones left out) in the last min_volume_days (Mercado Libre: 10 completed sales in 365 days), else in
    # the metric's own window (Etsy: every standard needs 5 sales in its 3 months)
    min_volume_of: Literal["events", "sales"] = "events"
    min_volume_days: int | None = Field(default=None, ge=1)
    consequence: str
    source: str = Field(pattern=r"^https?://")  # the marketplace's own page (checked by parse_pack)
    sources: list[str | SourceRef] = Field(default_factory=list)  # more pages; third-party ones marked as such
    confirmed: bool
    unconfirmed: str | None = None  # what exactly is not confirmed by the marketplace
    reported: ReportedRef | None = None  # the marketplace's own figure to compare with (default: same id)
    forecast: bool = True
    enabled: bool = True  # false: off until an account turns it on
    seller_target: bool = False  # the threshold is the seller's own (Shopify): the pack sets none, never a default
    # a computed metric with no eligible events judges the marketplace's own figure instead (Walmart SRR/NFR)
    reported_fallback: bool = False

    @field_validator("calculator")
    @classmethod
    def _calculator(cls, v: str) -> str:
        if v not in CALCULATORS:
            raise ValueError(f"unknown calculator '{v}' (known: {', '.join(CALCULATORS)})")
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_days(cls, data: Any) -> Any:
        days_kind = isinstance(data, dict) and data.get("window_kind", "days") == "days"
        if days_kind and data.get("window_days") is None and data.get("calculator") != "reported":
            return {**data, "window_days": 30}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if not self.confirmed and not self.unconfirmed:
            raise ValueError("confirmed = false needs unconfirmed = \"<what is not confirmed>\"")
        if self.warn is not None and self.threshold is None:
            raise ValueError("warn needs a threshold")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown IANA time zone '{self.timezone}'") from None
        need = {"days": "window_days", "months": "window_months", "iso_weeks": "window_weeks"}
        for kind, key in need.items():
            value = getattr(self, key)
            if kind == self.window_kind and value is None and self.calculator != "reported":
                raise ValueError(f"{key}: window_kind = \"{kind}\" needs {key} = <n>")
            if kind != self.window_kind and value is not None:
                raise ValueError(f"{key}: not allowed with window_kind = \"{self.window_kind}\" "
                                 f"(it needs {need[self.window_kind]})")
        if self.calculator == "reported" and (self.window_kind != "days" or self.fallback_window or self.lag_days):
            raise ValueError("window_kind: a reported metric takes the marketplace's own window")
        if self.window_kind == "iso_weeks":
            if self.timezone == "UTC" and "timezone" not in self.model_fields_set:
                raise ValueError("timezone: window_kind = \"iso_weeks\" needs the marketplace's timezone")
            if self.window_align != "instant":
                raise ValueError("window_align: ISO weeks are always Monday 00:00 to Monday 00:00")
            if self.fallback_window is not None:
                raise ValueError("fallback_window: not allowed with ISO weeks")
        if self.warn_comparator is not None and not same_direction(self.warn_comparator, self.comparator):
            raise ValueError(f"warn_comparator: '{self.warn_comparator}' must keep the direction of "
                             f"'{self.comparator}' (only strict or inclusive)")
        if self.min_volume_days is not None and self.min_volume_of != "sales":
            raise ValueError("min_volume_days: only with min_volume_of = \"sales\"")
        if self.min_volume_of == "sales" and self.calculator in ("reported", "periodic"):
            raise ValueError("min_volume_of = \"sales\" needs a computed metric (rate, count, response_time, average)")
        if self.fallback_window and self.fallback_window.of == "sales" and self.calculator not in ("rate", "count"):
            raise ValueError("fallback_window.of = \"sales\" needs calculator = \"rate\" or \"count\"")
        fb = self.fallback_window
        if fb is not None:
            if self.window_kind == "days" and fb.days is None:
                raise ValueError("fallback_window.months: a days window falls back to days, not months")
            if self.window_kind == "months" and fb.months is None:
                raise ValueError("fallback_window.days: a months window falls back to months, not days")
        if self.count_rule is not None:
            if self.calculator != "rate" or self.threshold is None:
                raise ValueError("count_rule needs calculator = \"rate\" and a threshold")
            if self.count_gate is not None:
                raise ValueError("count_rule: not allowed with count_gate (a cliff replaces the gate below it)")
        gated = self.count_gate is not None or self.warn_count_gate is not None or self.count_rule is not None
        if self.gate_unit != "unit" and not gated:
            raise ValueError("gate_unit needs count_gate, warn_count_gate or count_rule")
        if self.gate_unit == "unique_buyers" and self.calculator in ("rate", "count"):
            events = self.params.get("events")
            if events in POPULATIONS and not (events == "orders" or POPULATIONS[events].via_order):
                raise ValueError(f"gate_unit: unique buyers need events tied to an order, not '{events}'")
        if self.calculator in ("average", "reported") and (gated and self.gate_unit != "unit"):
            raise ValueError(f"gate_unit: not for the {self.calculator} calculator")
        if self.seller_target and (self.threshold is not None or self.warn is not None):
            raise ValueError("seller_target: the pack sets no threshold or warn (the seller's own number)")
        if self.verdict is not None and self.calculator == "reported":
            raise ValueError("verdict: a reported metric is the marketplace's verdict already")
        return self

    @property
    def window_length(self) -> int:
        """Length of the normal window in its kind's unit (days, months or weeks)."""
        value = {"days": self.window_days, "months": self.window_months, "iso_weeks": self.window_weeks}
        return value[self.window_kind] or 0

    @property
    def nominal_days(self) -> int:
        """Rough length in days (to pick the most sensitive metric for a deadline)."""
        per = {"days": 1, "months": 30, "iso_weeks": 7}[self.window_kind]
        return self.window_length * per

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def parsed(self) -> Any:
        """The calculator's parameters as their model (validated at load)."""
        return PARAMS[self.calculator].model_validate(self.params)

    @property
    def population_min_volume(self) -> int:
        """The minimum the metric's own eligible events must reach (0 when the minimum counts sales instead)."""
        return self.min_volume if self.min_volume_of == "events" else 0

    @property
    def reported_ref(self) -> ReportedRef:
        return self.reported or ReportedRef(metric_id=self.id)


# What a site row may change in a metric: its limits (a comparator only between its strict and inclusive form:
# TikTok US says "<= 4 %" where UK says "< 4 %"), its wording and sources, its calculator's parameters (eBay AU
# counts Australian buyers); never its calculator, window or direction.
SITE_FIELDS = ("enabled", "name", "threshold", "warn", "warn_suggested", "count_gate", "warn_count_gate",
               "comparator", "breach_level", "consequence", "source", "sources", "confirmed", "unconfirmed", "params")
_SITE_ABOUT = ("sites", "program", "country", "source", "note")


class SiteLimits(_Strict):
    """One ``[sites.<label>]`` row of a pack: the limits of the sites it lists (an account's ``region``), e.g.
    eBay's UK program for EBAY_GB. ``metrics`` holds each changed metric whole, validated at load."""

    label: str
    sites: list[str] = Field(min_length=1)
    program: str | None = None
    country: str | None = None
    source: str = Field(pattern=r"^https?://")  # where the row's figures come from (details per metric)
    note: str | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict)


class Pack(_Strict):
    marketplace: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    reviewed: str = Field(pattern=r"^\d{4}-\d\d-\d\d$")  # when the sources were last checked
    reference: str | None = None
    metrics: list[Metric]
    sites: list[SiteLimits] = Field(default_factory=list)  # per-site limits; the metrics above are the default site's
    source: Path | None = Field(default=None, exclude=True)

    def metric(self, metric_id: str) -> Metric | None:
        return next((m for m in self.metrics if m.id == metric_id), None)

    def site_row(self, site: str | None) -> SiteLimits | None:
        """The row listing ``site`` (an account's region, any case); None for the default site or no region."""
        wanted = (site or "").strip().upper()
        return next((row for row in self.sites if wanted in row.sites), None) if wanted else None

    def for_site(self, site: str | None) -> Pack:
        """The pack as an account on ``site`` is judged: that site's metrics replace the default ones (the pack
        itself when the site has no row). An account's own ``[accounts.policy]`` still applies on top."""
        row = self.site_row(site)
        if row is None or not row.metrics:
            return self
        return self.model_copy(update={"metrics": [row.metrics.get(m.id, m) for m in self.metrics]})


def _key_path(loc: tuple[Any, ...], raw_metrics: list[str]) -> str:
    parts: list[str] = []
    items = list(loc)
    if len(items) >= 2 and items[0] == "metrics" and isinstance(items[1], int):
        parts.append(f"metrics.{raw_metrics[items[1]]}")
        items = items[2:]
    parts.extend(str(p) for p in items)
    return ".".join(parts)


def parse_pack(data: dict[str, Any], where: str) -> Pack:
    """Validate one pack's TOML data; errors name ``where:key``."""
    raw = data.get("metrics")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("metrics: at least one [metrics.\"<id>\"] table is required", where=where)
    ids = list(raw)
    marketplace = data.get("marketplace")
    for mid in ids:
        if not isinstance(raw[mid], dict):
            raise ConfigError("must be a table", where=f"{where}:metrics.{mid}")
        if marketplace and not mid.startswith(f"{marketplace}."):
            raise ConfigError(f"metric id must start with '{marketplace}.'", where=f"{where}:metrics.{mid}")
    flat = {**{k: v for k, v in data.items() if k != "sites"}, "metrics": [{"id": mid, **raw[mid]} for mid in ids]}
    try:
        pack = Pack.model_validate(flat)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = _key_path(tuple(err["loc"]), ids)
        raise ConfigError(err["msg"].removeprefix("Value error, "), where=f"{where}:{key}") from None
    for m in pack.metrics:
        check_params(m, m.params, where=f"{where}:metrics.{m.id}.params")
        check_sources(pack.marketplace, m, where=f"{where}:metrics.{m.id}")
    sites = [_parse_site(pack, label, row, where) for label, row in (data.get("sites") or {}).items()]
    seen: dict[str, str] = {}
    for row in sites:
        for site in row.sites:
            if site in seen:
                raise ConfigError(f"site '{site}' is already in sites.{seen[site]}", where=f"{where}:sites.{row.label}")
            seen[site] = row.label
    return pack.model_copy(update={"sites": sites})


def _parse_site(pack: Pack, label: str, row: Any, where: str) -> SiteLimits:
    """``[sites.<label>]``: about-keys (sites, program, country, source, note) and ``"<metric id>" = { ... }``
    tables of SITE_FIELDS laid over that metric. Errors name ``where:sites.<label>.<key>``."""
    at = f"{where}:sites.{label}"
    if not isinstance(row, dict):
        raise ConfigError("must be a table", where=at)
    about = {k: v for k, v in row.items() if k in _SITE_ABOUT}
    if isinstance(about.get("sites"), list):
        about["sites"] = [str(s).strip().upper() for s in about["sites"]]
    metrics: dict[str, Metric] = {}
    for key, fields in row.items():
        if key in _SITE_ABOUT:
            continue
        base = pack.metric(key)
        if base is None:
            known = ", ".join(_SITE_ABOUT)
            raise ConfigError(f"neither a metric of the {pack.marketplace} pack nor one of {known}",
                              where=f"{at}.{key}")
        if not isinstance(fields, dict):
            raise ConfigError("must be a table of limits", where=f"{at}.{key}")
        for name in fields:
            if name not in SITE_FIELDS:
                raise ConfigError(f"a site may change {', '.join(SITE_FIELDS)}; not '{name}'",
                                  where=f"{at}.{key}.{name}")
        if "comparator" in fields and not same_direction(str(fields["comparator"]), base.comparator):
            raise ConfigError(f"a site may make '{base.comparator}' strict or inclusive, not turn it into "
                              f"'{fields['comparator']}'", where=f"{at}.{key}.comparator")
        merged = {**base.model_dump(), **fields}
        if "params" in fields:
            merged["params"] = {**base.params, **fields["params"]}
        try:
            metric = Metric.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            path = ".".join(str(p) for p in err["loc"])
            raise ConfigError(err["msg"].removeprefix("Value error, "),
                              where=f"{at}.{key}" + (f".{path}" if path else "")) from None
        check_params(metric, metric.params, where=f"{at}.{key}.params")
        check_sources(pack.marketplace, metric, where=f"{at}.{key}")
        metrics[key] = metric
    try:
        parsed = SiteLimits.model_validate({"label": label, **about, "metrics": metrics})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise ConfigError(err["msg"], where=f"{at}.{'.'.join(str(p) for p in err['loc'])}") from None
    if not own_source(pack.marketplace, parsed.source):
        raise ConfigError(f"not a {pack.marketplace} page: {parsed.source}", where=f"{at}.source")
    return parsed


def check_sources(marketplace: str, metric: Metric, where: str) -> None:
    """``source`` is the marketplace's own page; a third-party page in ``sources`` says so (``third_party``)."""
    if not own_source(marketplace, metric.source):
        raise ConfigError(f"not a {marketplace} page: {metric.source} (the source shown to sellers must be the"
                          " marketplace's own; put third-party pages in sources as { url = ..., third_party = true })",
                          where=f"{where}.source")
    for i, ref in enumerate(metric.sources):
        url = ref if isinstance(ref, str) else ref.url
        marked = not isinstance(ref, str) and ref.third_party
        if not marked and not own_source(marketplace, url):
            raise ConfigError(f"a third-party page must be marked: {{ url = \"{url}\", third_party = true }}",
                              where=f"{where}.sources[{i}]")


def check_params(metric: Metric, params: dict[str, Any], where: str) -> Any:
    try:
        return PARAMS[metric.calculator].model_validate(params)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, where=f"{where}.{key}" if key else where) from None


_LOADED: dict[tuple[str, int, int], Pack] = {}


def load_pack(path: Path) -> Pack:
    """The pack in ``path``, validated; kept for the process while the file is unchanged (size and mtime): a
    daemon, ``history backfill`` and the benchmark evaluate many times, and each parse is ~10 ms of TOML and
    validation. Raises ConfigError naming the file and key."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    if key not in _LOADED:
        _LOADED[key] = _parse_file(path)
    return _LOADED[key]


def _parse_file(path: Path) -> Pack:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", where=str(path)) from None
    pack = parse_pack(data, where=str(path))
    if pack.marketplace != path.stem:
        raise ConfigError(f"file name must be {pack.marketplace}.toml", where=f"{path}:marketplace")
    return pack.model_copy(update={"source": path})


def builtin_pack_dir() -> Path:
    return Path(str(resources.files("sellerguard.rules") / "packs"))


def load_packs(directory: Path | None = None) -> dict[str, Pack]:
    """Every pack in ``directory`` (default: the built-in packs), keyed by marketplace."""
    folder = directory or builtin_pack_dir()
    return {p.stem: load_pack(p) for p in sorted(folder.glob("*.toml"))}


def packs_for(marketplaces: set[str]) -> dict[str, Pack]:
    """The built-in packs of these marketplaces only (a marketplace without one is absent, as in ``load_packs``):
    a status of two marketplaces parses two packs, not eight."""
    folder = builtin_pack_dir()
    out: dict[str, Pack] = {}
    for name in sorted(marketplaces):
        path = folder / f"{name}.toml"
        if name.replace("_", "").isalnum() and path.is_file():  # a marketplace name, never a path
            out[name] = load_pack(path)
    return out
