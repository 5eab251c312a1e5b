"""Backtest of the breach probability: replay the stored history day by day and score the forecasts against
what happened within the horizon (docs/forecast.md). Reads the store through the engine; prints nothing.

For every account and every day ``d`` from ``start`` to ``end`` the engine evaluates as of ``d`` (00:00 UTC).
Each thresholded metric with a probability that day is one forecast; its outcome is 1 when the metric was
breached (``assess.breached`` on that day's figures) on at least one of the days ``d+1 .. d+horizon``, 0 when it
was judged on all of them and never breached; a forecast whose horizon reaches past ``end`` or meets an unknown
day is not scored. Three forecasters are scored on the same forecasts:

- ``probability``: ``breach_probability`` (rules/forecast.py);
- ``level``: today's level as a 0/1 forecast (1 when breached today);
- ``forecast_day``: the deterministic forecast as a 0/1 forecast (1 when breached today or ``breach_forecast``
  names a day within the horizon).

Scores: the Brier score (mean squared error of the probability, 0 is perfect; a 0/1 forecaster's Brier score is
its error rate), and a reliability table per decile of the forecast probability: how many forecasts, their mean,
and how often a breach followed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sellerguard.rules import assess
from sellerguard.rules.engine import AccountRef, Engine, apply_override
from sellerguard.rules.packs import Metric
from sellerguard.rules.report import MetricStatus

DAY = timedelta(days=1)
FORECASTERS = ("probability", "level", "forecast_day")
# a decile is populated, and judged by its gap, from this many forecasts: below it one outcome moves the observed
# share by 2+ points and the binomial noise alone (sd 7 points at 50 %) nears the 10-point goal; forecasts of one
# account's metric on consecutive days are alike, so ``Bin.series`` says how many independent-ish runs it holds
MIN_POPULATED = 50
# Too few to score: the comparison of the forecasters is decided by the uncertain forecasts (0 < p < 1) that a
# breach followed (a certain 0 or 1 is window arithmetic the naive rules mostly share). Below these the Brier
# scores are a handful of runs' luck and ``Result.warnings`` says so (the demo store: 55 such forecasts in 3 runs)
MIN_UNCERTAIN_BREACHES = MIN_POPULATED  # uncertain forecasts followed by a breach
MIN_UNCERTAIN_BREACH_RUNS = 10  # distinct account/metric runs among them


@dataclass(frozen=True)
class Forecast:
    """One scored forecast: made on ``day`` for ``account`` / ``metric``."""

    account: str
    metric: str
    day: date
    probability: float
    level: float  # 0/1: breached today
    forecast_day: float  # 0/1: breached today or a breach_forecast day within the horizon
    outcome: int  # 1: breached on some day of the horizon


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    mean_forecast: float | None
    observed: float | None  # share of forecasts in the bin followed by a breach
    series: int = 0  # distinct (account, metric) pairs among them
    gap_se: float | None = None  # standard error of (observed - mean forecast), clustered by run (see ``cluster_se``)

    @property
    def populated(self) -> bool:
        return self.count >= MIN_POPULATED


@dataclass
class Result:
    start: date
    end: date
    horizon_days: int
    accounts: list[str]
    forecasts: list[Forecast] = field(default_factory=list)

    @property
    def base_rate(self) -> float | None:
        return sum(f.outcome for f in self.forecasts) / len(self.forecasts) if self.forecasts else None

    def brier(self, forecaster: str) -> float | None:
        """Mean of (forecast - outcome)^2 over the scored forecasts; None without any."""
        if not self.forecasts:
            return None
        return sum((getattr(f, forecaster) - f.outcome) ** 2 for f in self.forecasts) / len(self.forecasts)

    def reliability(self, forecaster: str = "probability", bins: int = 10) -> list[Bin]:
        """Forecasts grouped by decile of their probability ([0, 0.1), ..., [0.9, 1.0])."""
        groups: list[list[Forecast]] = [[] for _ in range(bins)]
        for f in self.forecasts:
            groups[min(int(getattr(f, forecaster) * bins), bins - 1)].append(f)
        out = []
        for i, group in enumerate(groups):
            n = len(group)
            mean = sum(getattr(f, forecaster) for f in group) / n if n else None
            seen = sum(f.outcome for f in group) / n if n else None
            runs = len({(f.account, f.metric) for f in group})
            out.append(Bin(i / bins, (i + 1) / bins, n, mean, seen, runs, cluster_se(group, forecaster)))
        return out

    def warnings(self) -> list[str]:
        """Why the scores cannot be trusted, if they cannot: no forecast scored, or fewer than
        ``MIN_UNCERTAIN_BREACHES`` uncertain forecasts followed by a breach, or fewer than
        ``MIN_UNCERTAIN_BREACH_RUNS`` runs holding them, or no populated decile. Empty when none applies; the
        scores themselves are the same either way."""
        if not self.forecasts:
            return ["no forecast could be scored: the range holds no day whose whole horizon was judged"]
        out = []
        hits = [f for f in self.forecasts if 0.0 < f.probability < 1.0 and f.outcome]
        runs = len({(f.account, f.metric) for f in hits})
        if len(hits) < MIN_UNCERTAIN_BREACHES or runs < MIN_UNCERTAIN_BREACH_RUNS:
            out.append(f"too few breaches to score: {len(hits)} uncertain forecasts (0 < p < 1) followed by a "
                       f"breach, in {runs} account/metric runs (needs {MIN_UNCERTAIN_BREACHES} in "
                       f"{MIN_UNCERTAIN_BREACH_RUNS}); the Brier scores here are a few runs' luck, not a "
                       "comparison of the forecasters (docs/forecast.md, 'Too few to score')")
        if not any(b.populated for b in self.reliability()):
            out.append(f"no decile holds {MIN_POPULATED} forecasts: the reliability table cannot be judged")
        return out

    def worst_gap(self, min_count: int = MIN_POPULATED) -> float | None:
        """The largest |mean forecast - observed| over deciles holding at least ``min_count`` forecasts (the
        populated ones by default)."""
        gaps = [abs(b.mean_forecast - b.observed) for b in self.reliability()
                if b.count >= min_count and b.mean_forecast is not None and b.observed is not None]
        return max(gaps) if gaps else None


def cluster_se(group: list[Forecast], forecaster: str = "probability") -> float | None:
    """Standard error of the mean residual (outcome - forecast) of ``group``, clustered by account/metric run:
    one run's consecutive days are nearly the same forecast and outcome, so they count as one draw, not many.
    The usual cluster-robust (sandwich) estimate, sqrt(C / (C - 1) x sum over runs of (their summed residual
    minus their share of the mean)^2) / n; None with fewer than two runs."""
    n = len(group)
    runs: dict[tuple[str, str], list[float]] = {}
    for f in group:
        runs.setdefault((f.account, f.metric), []).append(f.outcome - getattr(f, forecaster))
    c = len(runs)
    if c < 2:
        return None
    mean = sum(sum(r) for r in runs.values()) / n
    total = sum((sum(r) - len(r) * mean) ** 2 for r in runs.values())
    return (c / (c - 1) * total) ** 0.5 / n


def breached_now(metric: Metric, status: MetricStatus) -> bool | None:
    """Whether the status shows the metric breached (None: not judged that day: unknown, no value)."""
    if status.level == "unknown" or status.value is None:
        return None
    gate = status.gate_count if status.gate_count is not None else (status.defect_count or 0.0)
    return assess.breached(metric, status.value, gate, status.denominator)


def days(start: date, end: date) -> Iterator[date]:
    d = start
    while d <= end:
        yield d
        d += DAY


def run(engine: Engine, accounts: list[AccountRef], start: date, end: date, horizon_days: int,
        progress: Callable[[str, date], None] | None = None) -> Result:
    """Evaluate every account as of 00:00 UTC of each day in ``[start, end]`` and score the forecasts made on
    the days whose whole horizon lies inside the range. Staleness is ignored (the replay judges stored data)."""
    result = Result(start, end, horizon_days, [a.id for a in accounts])
    for acc in accounts:
        ref = AccountRef(acc.id, acc.marketplace, acc.display_name, acc.policy, None, acc.region)
        pack = engine.packs.get(acc.marketplace)
        if pack is None:
            continue
        pack = pack.for_site(acc.region)  # scored against the account's site limits, as status judges it
        metrics = {m.id: e for m in pack.metrics
                   if (e := apply_override(m, acc.policy.get(m.id), f"accounts[{acc.id}].policy.{m.id}"))}
        seen: dict[str, dict[date, tuple[MetricStatus, bool | None]]] = {}
        for day in days(start, end):
            if progress is not None:
                progress(acc.id, day)
            as_of = datetime(day.year, day.month, day.day, tzinfo=UTC)
            report = engine.evaluate([ref], as_of, horizon_days)
            for status in report.accounts[0].metrics if report.accounts else []:
                metric = metrics.get(status.id)
                if metric is None or metric.threshold is None:
                    continue
                seen.setdefault(status.id, {})[day] = (status, breached_now(metric, status))
        for metric_id, by_day in seen.items():
            for day, (status, now) in by_day.items():
                if status.breach_probability is None or now is None:
                    continue
                ahead = [by_day.get(day + k * DAY) for k in range(1, horizon_days + 1)]
                if any(a is None or a[1] is None for a in ahead):
                    continue  # past the range, or a day not judged: no outcome
                outcome = int(any(a[1] for a in ahead if a is not None))
                fc = status.breach_forecast
                within = fc is not None and fc <= datetime(day.year, day.month, day.day, tzinfo=UTC) + \
                    horizon_days * DAY
                result.forecasts.append(Forecast(acc.id, metric_id, day, status.breach_probability,
                                                 float(now), float(now or within), outcome))
    return result
