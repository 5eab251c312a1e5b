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
    level: Level
    reason: str | None = None  # why unknown / why this level, in one phrase
    headroom: float | None = None  # >0: defects still allowed; <0: defect-free events needed to recover
    breach_forecast: datetime | None = None  # first day within the horizon the metric crosses, or None
    reported_value: float | None = None  # the marketplace's own figure, when it reports one
    drift: float | None = None  # value - reported_value
    confirmed: bool = True  # false when the marketplace never confirmed this rule (see the pack)
    consequence: str | None = None
    source: str


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
