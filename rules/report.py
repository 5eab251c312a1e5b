"""The status report: what ``sellerguard status --json`` prints and what alerts are built from.

Field names are a public contract (docs/status-json.md); add fields, never rename them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Level = Literal["ok", "warn", "critical", "unknown"]
Comparator = Literal["<", "<=", ">", ">="]  # "good iff value <comparator> threshold"
# Severity for "worst first" and the overall level: a critical anywhere wins over an unknown elsewhere.
LEVEL_ORDER: dict[str, int] = {"ok": 0, "unknown": 1, "warn": 2, "critical": 3}
# Nagios plugin exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
NAGIOS_EXIT: dict[str, int] = {"ok": 0, "warn": 1, "critical": 2, "unknown": 3}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeriodFigures(_Model):
    """One period (an ISO week) of a periodic metric: computed figures, the marketplace's own, the level."""

    period: str  # "2026-W48"
    window_start: datetime
    window_end: datetime
    value: float | None
    numerator: float | None
    denominator: float | None
    reported_value: float | None = None
    level: Level


class StrikeWeek(_Model):
    """A final week that struck (bol.com): which metrics were bad and which figure said so."""

    period: str
    window_start: datetime
    window_end: datetime
    metrics: list[str]  # metric ids bad that week
    sources: list[str]  # per metric: "reported" (bol's final figure) or "computed"


class Part(_Model):
    """One scope of a split metric (Amazon valid tracking per product category): the worst decides."""

    scope: str
    value: float | None
    numerator: float | None
    denominator: float | None
    defect_count: float | None = None
    level: Level


class Period(_Model):
    """The metric as the marketplace fixed it at its last verdict (eBay's 20th, Etsy's 1st, bol's Monday)."""

    at: datetime  # the verdict moment; the running/projected figure is the metric itself
    window_start: datetime | None
    window_end: datetime | None
    value: float | None
    numerator: float | None
    denominator: float | None
    gate_count: float | None = None
    level: Level
    reason: str | None = None


class MetricStatus(_Model):
    id: str  # pack metric id, e.g. amazon.odr
    name: str
    value: float | None
    numerator: float | None
    denominator: float | None
    window_days: int | None
    window_start: datetime | None = None
    window_end: datetime | None = None
    threshold: float | None
    warn: float | None = None
    comparator: Comparator
    warn_comparator: Comparator | None = None  # how the warn edge is judged when it differs (Amazon "<= 96%")
    breach_level: Literal["critical", "warn"] = "critical"  # the level a crossed threshold gives
    level: Level
    reason: str | None = None  # why unknown / why this level, in one phrase
    headroom: float | None = None  # >0: defects still allowed; <0: defect-free events needed to recover
    breach_forecast: datetime | None = None  # first day within the horizon the metric crosses, or None
    # the breach odds (rules/forecast.py, docs/forecast.md): P(breached on some day within the horizon), and the
    # value expected at forecast_at (= as_of + horizon) with its 10 % and 90 % quantiles (low <= high)
    breach_probability: float | None = None
    forecast_value: float | None = None
    forecast_low: float | None = None
    forecast_high: float | None = None
    forecast_at: datetime | None = None
    reported_value: float | None = None  # the marketplace's own figure, when it reports one
    drift: float | None = None  # value - reported_value
    confirmed: bool = True  # false when the marketplace never confirmed this rule (see the pack)
    consequence: str | None = None
    source: str
    # how it was counted (docs/policy-packs.md): window kind, counting unit, and the gate's count beside the rate
    window_kind: str | None = None  # days | months | iso_weeks
    unit: str | None = None  # events | units (numerator and denominator are in this unit)
    defect_count: float | None = None  # defective events (orders, cases, messages...), whatever the unit
    eligible_count: float | None = None  # eligible events in the window
    gate_unit: str | None = None  # unit | events | unique_buyers
    gate_count: float | None = None  # what count_gate / count_rule compared
    count_gate: float | None = None  # the pack's gate for a breach (site rows differ: eBay DE Top Rated 7, US 6)
    warn_count_gate: float | None = None  # the gate for a warning
    unique_buyers: float | None = None  # distinct buyers among the defects (gate_unit unique_buyers)
    marketplace_status: str | None = None  # the marketplace's own verdict (reported_metric.status)
    scope: str | None = None  # the category (or program, region) that decided the level
    breakdown: list[Part] = []  # one row per category of a split metric
    final: Period | None = None  # the last fixed verdict, for metrics with a verdict day
    unknown_count: int = 0  # events left out because a fact is missing (no ship-by): never counted on time
    unknown_refs: list[str] = []  # some of them, by order id
    # periodic verdicts (rules/periodic.py, bol.com ISO weeks; rules-B): the evaluated period's label, the
    # running period beside it, and for bol.strikes the weeks that struck
    period: str | None = None  # e.g. "2026-W47" (the last final ISO week)
    running: PeriodFigures | None = None
    strikes: list[StrikeWeek] | None = None
    colour: str | None = None  # the marketplace's colour verdict (Mercado Libre thermometer: green .. red)


class Deadline(_Model):
    kind: Literal["ship", "reply", "tracking", "deliver", "return"]
    ref: str  # order / thread external id
    due: datetime
    metric: str
    value_if_missed: float | None = None


class AccountStatus(_Model):
    marketplace: str
    account: str
    display_name: str | None = None
    level: Level
    last_sync: datetime | None = None
    # when the marketplace credential `sellerguard connect` stored runs out (a refresh token, Amazon's or TikTok's
    # authorization); None: it does not, or the account was not connected here
    credentials_expire_at: datetime | None = None
    metrics: list[MetricStatus]
    deadlines: list[Deadline]


class StatusReport(_Model):
    as_of: datetime
    accounts: list[AccountStatus]

    @property
    def level(self) -> Level:
        levels = [a.level for a in self.accounts] or ["ok"]
        return max(levels, key=lambda lv: LEVEL_ORDER[lv])  # type: ignore[return-value]

    @property
    def exit_code(self) -> int:
        return NAGIOS_EXIT[self.level]
