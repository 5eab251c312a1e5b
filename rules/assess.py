"""Pure judgement over a Series: value, level, headroom and breach forecast. No I/O, no clock.

Conventions (docs/policy-packs.md, "How status judges a metric"):
- ``comparator`` says when a value is good: ``value <comparator> threshold``. Exactly at the threshold is
  therefore a breach under ``<`` / ``>`` and fine under ``<=`` / ``>=``.
- A count gate (eBay) makes a breach need the rate AND at least ``count_gate`` defects.
- The warning band uses the same comparator against ``warn``.
- Headroom > 0: how many more defects (on events already in the window) still keep the metric good;
  headroom < 0: how many defect-free events (or, for counts, how many defects leaving the window) are needed.
- Forecast: roll the window day by day; events that leave it drop out, known events of the lag period enter,
  and beyond today events arrive at the recent daily rates (the last ``BASIS_DAYS`` of the window).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime, timedelta

from sellerguard.rules.calculators import Series
from sellerguard.rules.packs import Metric

BASIS_DAYS = 14
_CAP = 10**9
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge
}


def value_of(kind: str, defects: float, eligible: float) -> float | None:
    if kind == "count":
        return defects
    if eligible <= 0:
        return None
    if kind == "successes":
        return (eligible - defects) / eligible
    return defects / eligible  # rate, or average (defects = sum of scores)


def is_good(value: float, comparator: str, threshold: float) -> bool:
    return _OPS[comparator](value, threshold)


def under_count_rule(metric: Metric, eligible: float | None) -> bool:
    """The small-volume count rule applies (Etsy: fewer than 40 reviews)."""
    return metric.count_rule is not None and eligible is not None and eligible < metric.count_rule.below


def breached(metric: Metric, value: float | None, defect_count: float, eligible: float | None = None) -> bool:
    """``defect_count`` is the gate's count (defects, defective events or unique buyers by ``gate_unit``)."""
    if value is None or metric.threshold is None:
        return False
    if under_count_rule(metric, eligible):
        return defect_count > metric.count_rule.max  # type: ignore[union-attr]
    if is_good(value, metric.comparator, metric.threshold):
        return False
    return metric.count_gate is None or defect_count >= metric.count_gate


def in_warn_band(metric: Metric, value: float | None, defect_count: float, eligible: float | None = None) -> bool:
    if value is None or metric.warn is None:
        return False
    if under_count_rule(metric, eligible):
        return defect_count >= metric.count_rule.max  # type: ignore[union-attr]  # the next defect fails
    if is_good(value, metric.warn_comparator or metric.comparator, metric.warn):
        return False
    return metric.warn_count_gate is None or defect_count >= metric.warn_count_gate


def _first_true(pred: Callable[[int], bool], lo: int, cap: int = _CAP) -> int | None:
    """Smallest k in [lo, cap] with pred(k), for a monotone pred; None when there is none."""
    if pred(lo):
        return lo
    hi = max(lo * 2, lo + 1)
    while not pred(hi):
        if hi >= cap:
            return None
        lo, hi = hi, min(hi * 2, cap)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def headroom(metric: Metric, kind: str, defects: float, eligible: float, *,
             worst: float = 1.0, best: float = 5.0, gate: float | None = None) -> float | None:
    """See the module docstring; None when it cannot be said (no threshold, no events)."""
    if metric.threshold is None:
        return None
    d, n = defects, eligible
    g = d if gate is None else gate  # each further defect adds one to the gate (a new buyer, at worst)
    if kind in ("rate", "successes") and n <= 0:
        return None
    if kind == "average" and n <= 0:
        return None

    def worse(k: int) -> bool:  # breached after k more defects?
        if kind == "count":
            return breached(metric, d + k, g + k)
        if kind == "average":
            return breached(metric, (d + k * worst) / (n + k), 0, n + k)
        return breached(metric, value_of(kind, d + k, n), g + k, n)

    def better(m: int) -> bool:  # good again after m more defect-free events (count: m defects leaving)?
        if kind == "count":
            return not breached(metric, max(d - m, 0), max(g - m, 0))
        if kind == "average":
            return not breached(metric, (d + m * best) / (n + m), 0, n + m)
        return not breached(metric, value_of(kind, d, n + m), g, n + m)

    if not worse(0):
        cap = int(n - d) if kind in ("rate", "successes") else _CAP
        k = _first_true(worse, 0, cap=max(cap, 0))
        if k is None:  # every remaining event could fail and it would still hold
            return float(cap) if kind in ("rate", "successes") else None
        return float(k - 1)
    m = _first_true(better, 1)
    return -float(m) if m is not None else None


def forecast(metric: Metric, series: Series, as_of: datetime, horizon_days: int,
             gate_shift: float = 0.0) -> datetime | None:
    """The first day within the horizon when the rolled window breaches, or None (also when already breached)."""
    if metric.threshold is None or not metric.forecast:
        return None
    w, lag = series.window_days, series.lag_days
    known = w + lag
    basis = min(BASIS_DAYS, w)
    rate_n = sum(series.eligible[w - basis : w]) / basis
    rate_d = sum(series.defects[w - basis : w]) / basis
    for t in range(1, horizon_days + 1):
        hi = min(w + t, known)
        projected = max(0, t - lag)
        n = sum(series.eligible[t:hi]) + rate_n * projected
        d = sum(series.defects[t:hi]) + rate_d * projected
        if series.kind != "count" and (n <= 0 or n < metric.population_min_volume):
            continue
        value = value_of(series.kind, d, n)
        # the gate's count moves with the defects; ``gate_shift`` keeps its offset (unique buyers <= defects)
        gate_count = max(d + gate_shift, 0) if series.kind != "average" else 0
        if breached(metric, value, gate_count, n):
            return as_of + timedelta(days=t)
    return None


def level_of(metric: Metric, value: float | None, defect_count: float, forecast_at: datetime | None,
             eligible: float | None = None) -> str:
    """ok / warn / critical for a value that is known (unknown is decided by the caller)."""
    if breached(metric, value, defect_count, eligible):
        return metric.breach_level
    if in_warn_band(metric, value, defect_count, eligible) or forecast_at is not None:
        return "warn"
    return "ok"
