"""How a metric's value is written: by what its pack declares, never by the size of the number.

The pack's calculator declares what a value is (docs/policy-packs.md): ``rate`` and ``response_time`` give a
fraction of events (shown as a percentage), ``average`` an average rating (Etsy's 4.74 stars: "4.74", never
"474.00%"), ``count`` a count. ``reported`` and ``periodic`` metrics carry whatever the marketplace reports: a
fraction only when the status proves it (value = numerator / denominator), else the plain number. A pack metric
may also declare ``display`` ("ratio" | "average" | "count" | "number") to say it outright.
"""

from __future__ import annotations

from typing import Any, Literal

from sellerguard.rules.report import MetricStatus

Unit = Literal["ratio", "average", "count", "number"]
_BY_CALCULATOR: dict[str, Unit] = {"rate": "ratio", "response_time": "ratio", "average": "average", "count": "count"}


def _pack_metrics() -> dict[str, Any]:
    try:
        from sellerguard.rules.packs import load_packs

        return {m.id: m for pack in load_packs().values() for m in pack.metrics}
    except Exception:  # a broken pack is reported by status/check; messages still go out, numbers plain
        return {}


def _proven_ratio(m: MetricStatus) -> bool:
    if m.value is None or m.numerator is None or not m.denominator:
        return False
    return abs(m.value - m.numerator / m.denominator) < 1e-9


def unit(m: MetricStatus) -> Unit:
    declared = _pack_metrics().get(m.id)
    display = getattr(declared, "display", None)
    if display in ("ratio", "average", "count", "number"):
        return display  # type: ignore[no-any-return]
    if declared is not None and declared.calculator in _BY_CALCULATOR:
        return _BY_CALCULATOR[declared.calculator]
    return "ratio" if _proven_ratio(m) else "number"


def fmt(m: MetricStatus, value: float | None) -> str:
    """``value`` (the metric's value, threshold, warning band or a what-if) in the metric's unit."""
    if value is None:
        return "n/a"
    kind = unit(m)
    if kind == "ratio":
        return f"{value * 100:.2f}%"
    if kind == "average":
        return f"{value:.2f}"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:,.4g}"
