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
from sellerguard.rules.events import DEFECTS, POPULATIONS

Comparator = Literal["<", "<=", ">", ">="]
CALCULATORS = ("rate", "count", "response_time", "average", "reported")


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


class ResponseParams(_Strict):
    """A buyer message is late when its first reply came, or is still missing, after ``hours``."""

    hours: float = Field(gt=0)
    clock: Literal["calendar", "business"] = "calendar"
    calendar: str | None = None  # rules/calendars/<name>.toml, required for the business clock

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
    # the marketplace's own verdict (reported_metric.status), for figures judged against peers, not a limit
    warn_statuses: list[str] = Field(default_factory=list)
    critical_statuses: list[str] = Field(default_factory=list)


PARAMS: dict[str, type[_Strict]] = {
    "rate": EventParams,
    "count": EventParams,
    "response_time": ResponseParams,
    "average": AverageParams,
    "reported": ReportedParams,
}


class AdaptiveWindow(_Strict):
    """eBay's 400-transaction rule and the like: use ``days`` when the normal window has fewer than ``below``."""

    days: int = Field(ge=1)
    below: int = Field(ge=1)


class ReportedRef(_Strict):
    metric_id: str
    scope: str | None = None


class Metric(_Strict):
    id: str
    name: str
    calculator: str
    params: dict[str, Any] = Field(default_factory=dict)
    window_days: int = Field(default=30, ge=1)
    lag_days: int = Field(default=0, ge=0)  # the window ends this many days before "now"
    fallback_window: AdaptiveWindow | None = None
    comparator: Comparator
    threshold: float | None = None  # None: informational (a component of another metric)
    warn: float | None = None
    warn_suggested: bool = True  # the warning band is sellerguard's own default, not the marketplace's
    count_gate: int | None = Field(default=None, ge=1)  # a breach also needs at least this many defects
    warn_count_gate: int | None = Field(default=None, ge=1)
    breach_level: Literal["critical", "warn"] = "critical"
    min_volume: int = Field(default=0, ge=0)
    consequence: str
    source: str = Field(pattern=r"^https?://")
    sources: list[str] = Field(default_factory=list)
    confirmed: bool
    unconfirmed: str | None = None  # what exactly is not confirmed by the marketplace
    reported: ReportedRef | None = None  # the marketplace's own figure to compare with (default: same id)
    forecast: bool = True
    enabled: bool = True  # false: off until an account turns it on (a seller's own targets, e.g. Shopify)

    @field_validator("calculator")
    @classmethod
    def _calculator(cls, v: str) -> str:
        if v not in CALCULATORS:
            raise ValueError(f"unknown calculator '{v}' (known: {', '.join(CALCULATORS)})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Metric:
        if not self.confirmed and not self.unconfirmed:
            raise ValueError("confirmed = false needs unconfirmed = \"<what is not confirmed>\"")
        if self.warn is not None and self.threshold is None:
            raise ValueError("warn needs a threshold")
        return self

    @property
    def parsed(self) -> Any:
        """The calculator's parameters as their model (validated at load)."""
        return PARAMS[self.calculator].model_validate(self.params)

    @property
    def reported_ref(self) -> ReportedRef:
        return self.reported or ReportedRef(metric_id=self.id)


class Pack(_Strict):
    marketplace: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    reviewed: str = Field(pattern=r"^\d{4}-\d\d-\d\d$")  # when the sources were last checked
    reference: str | None = None
    metrics: list[Metric]
    source: Path | None = Field(default=None, exclude=True)

    def metric(self, metric_id: str) -> Metric | None:
        return next((m for m in self.metrics if m.id == metric_id), None)


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
    flat = {**data, "metrics": [{"id": mid, **raw[mid]} for mid in ids]}
    try:
        pack = Pack.model_validate(flat)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = _key_path(tuple(err["loc"]), ids)
        raise ConfigError(err["msg"].removeprefix("Value error, "), where=f"{where}:{key}") from None
    for m in pack.metrics:
        check_params(m, m.params, where=f"{where}:metrics.{m.id}.params")
    return pack


def check_params(metric: Metric, params: dict[str, Any], where: str) -> Any:
    try:
        return PARAMS[metric.calculator].model_validate(params)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, where=f"{where}.{key}" if key else where) from None


def load_pack(path: Path) -> Pack:
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
