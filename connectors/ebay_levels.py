"""eBay's own verdict in the seller standards profile: the seller level now and the level projected for the next
monthly evaluation (eBay evaluates on the 20th). Pure functions, no HTTP, no clock, no store.

``getSellerStandardsProfiles`` (Sell Analytics, the same answer ``ebay_normalize.normalize_standards`` reads for
the metric figures) gives, per program, a CURRENT and a PROJECTED profile with ``standardsLevel`` (TOP_RATED,
ABOVE_STANDARD, BELOW_STANDARD) and ``cycle {cycleType, evaluationDate, evaluationMonth}``:

- ``ebay.seller_level``: the CURRENT level; window_end = the evaluation it came from (``evaluationDate``).
- ``ebay.seller_level_projected``: the PROJECTED level; window_end = the evaluation it is projected for, the 20th
  of ``evaluationMonth`` (00:00 UTC; eBay gives the month, and the 20th is eBay's published evaluation day), or the
  next 20th after the report when the month is absent; window_start = when eBay computed the projection.

Only the default program is read (as for the metrics). A cycle the answer leaves out is stored as NOT_REPORTED.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sellerguard.connectors.ebay_normalize import default_profiles, profile_cycle, profile_program
from sellerguard.payload import iso_time, payload_error
from sellerguard.schema import ReportedMetric, payload_hash

CURRENT, PROJECTED = "ebay.seller_level", "ebay.seller_level_projected"
EVALUATION_DAY = 20  # eBay evaluates seller levels on the 20th of each month


def next_evaluation(after: datetime) -> datetime:
    """The first 20th (00:00 UTC) strictly after ``after``."""
    day = datetime(after.year, after.month, EVALUATION_DAY, tzinfo=UTC)
    if day > after:
        return day
    return datetime(after.year + after.month // 12, after.month % 12 + 1, EVALUATION_DAY, tzinfo=UTC)


def _month_day(month: Any, where: str, field: str) -> datetime | None:
    if month in (None, ""):
        return None
    try:
        year, mon = (int(p) for p in str(month).split("-"))
        return datetime(year, mon, EVALUATION_DAY, tzinfo=UTC)
    except ValueError:
        raise payload_error("ebay", where, field, f"not a month (YYYY-MM): {str(month)[:20]!r}") from None


def normalize_levels(account: str, body: Any, as_of: datetime, where: str) -> list[ReportedMetric]:
    """The default program's CURRENT and PROJECTED seller levels (see the module docstring)."""
    default = default_profiles(body, where)
    out: dict[str, ReportedMetric] = {}
    for n, profile in default:
        kind, cycle = profile_cycle(profile, where, n)
        metric_id = {"CURRENT": CURRENT, "PROJECTED": PROJECTED}[kind]
        if metric_id in out:
            continue
        program = profile_program(profile, where, n)
        level = str(profile.get("standardsLevel") or "").strip().upper()[:50] or None
        field = f"standardsProfiles[{n}].cycle"
        evaluated = iso_time(cycle.get("evaluationDate"), "ebay", where, f"{field}.evaluationDate", required=False)
        if kind == "CURRENT":
            start, end = None, evaluated
        else:
            end = _month_day(cycle.get("evaluationMonth"), where, f"{field}.evaluationMonth") \
                or next_evaluation(evaluated or as_of)
            start = evaluated if evaluated is not None and evaluated <= end else None
        out[metric_id] = ReportedMetric(
            account=account, external_id=f"{metric_id}:{program}:{as_of:%Y-%m-%d}", metric_id=metric_id,
            status=level, scope=program, window_start=start, window_end=end, as_of=as_of,
            raw_hash=payload_hash({"level": level, "cycle": cycle}),
        )
    # a cycle the answer leaves out: NOT_REPORTED under the id a reported level of that day has (the default
    # program's), as the metric figures do, so a later full answer replaces it instead of standing beside it
    program = profile_program(default[0][1], where, default[0][0]) if default else None
    for metric_id in (CURRENT, PROJECTED):
        if metric_id not in out:
            out[metric_id] = ReportedMetric(account=account, external_id=f"{metric_id}:{program}:{as_of:%Y-%m-%d}",
                                            metric_id=metric_id, scope=program, as_of=as_of, status="NOT_REPORTED")
    return list(out.values())
