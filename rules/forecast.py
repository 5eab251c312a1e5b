"""How likely a breach is: the probability that a metric crosses its threshold within the horizon, and the value
expected at the horizon with a 10-90 % band. Pure arithmetic over a Series; no I/O, no clock (docs/forecast.md).

The model, per thresholded metric (the deterministic ``assess.forecast`` gives one day; this gives odds):

- **The window rolls as its kind says.** For each day ``t`` of the horizon the window's bounds are recomputed
  (``windows.bounds`` at ``as_of + t``: days, calendar months, ISO weeks, date alignment, lag); buckets that left
  drop out, known buckets (the lag period) enter with their counts, and buckets after ``as_of`` are future days.
- **Future volume** per day: the mean of the last ``LEVEL_DAYS`` complete days times a weekday factor from the last
  ``PATTERN_DAYS`` (shrunk toward 1 when a weekday was seen only a few times). Taken as its expectation.
- **Future defect share** ``p``: Beta(a, b) around the window's share, its strength the recent days (the window's
  last ``BASIS_DAYS``, weight ``RECENT_WEIGHT``) and the rest of the window (weight ``OLDER_WEIGHT``) over a
  Jeffreys prior. Down-weighting the counts widens the Beta: the rate of the coming weeks varies more than
  sampling error says, and the backtest (``sellerguard backtest``, scripts/forecast-tune) is how these weights
  were chosen. New defects by day ``t`` are then Beta-Binomial
  (``count`` metrics: Gamma-Poisson, i.e. negative binomial per day; ``average`` metrics: normal on the new mean,
  with the largest variance a score bounded by worst/best can have).
- **The breach test** is ``assess.breached`` itself (comparator, count gate in its unit, Etsy's count rule,
  minimum volume), so "x more defects by day t breaches" is exactly what status would say on day t. The gate's
  count moves with the defects in the ratio it has today (unique buyers per defect, events per unit).
- P(breach within the horizon) = max over t of P(new defects by t >= the smallest breaching count at t). New
  defects are cumulative, so the daily events are strongly nested; the max is exact when the boundary only rises
  and a lower bound otherwise. Already breached now counts only if it is still breached on a later day. Odds
  that are not certain then go through ``CALIBRATION``, an isotonic map fitted on the backtest's training worlds.

Deterministic (no random numbers) and cheap: O(horizon x defects-to-breach) float operations per metric, with
``math.lgamma`` for the log-Beta terms; ``scipy.stats`` is the reference the tests compare against (importing it
costs more than the whole evaluation, docs/forecast.md).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist

from sellerguard.rules import assess, windows
from sellerguard.rules.calculators import Series
from sellerguard.rules.packs import Metric

DAY = timedelta(days=1)
BASIS_DAYS = 14  # recent window days the rate is read from (as assess.forecast)
LEVEL_DAYS = 14  # complete days the volume level is read from
PATTERN_DAYS = 28  # complete days the weekday pattern is read from
PATTERN_SHRINK = 2.0  # pseudo-observations of "no weekday effect" per weekday
# Chosen on the sandbox backtest's training worlds by leaving one out at a time (docs/forecast.md;
# scripts/forecast-tune cv). The rate of the coming two weeks varies far more than sampling error says (the
# sandbox's phases, real sellers' bad weeks): the Beta's strength is a fraction of the orders read (sd ~2x binomial).
RECENT_WEIGHT = 0.3  # weight of a recent order/event in the strength of the rate's Beta (1 = plain counts)
OLDER_WEIGHT = 0.1  # weight of an older one
# The rate's mean is the window's share: carrying part of a recent jump or rise forward, and weakening the Beta when
# the recent and the window's share disagree, were tried and scored worse left out; both were dropped (docs/forecast.md)
# Isotonic recalibration of odds that are not certain (0 and 1 stay): (model, calibrated) knots, linear between,
# fitted on four training worlds pooled (tuning, holdout, fresh, train-d) by ``scripts/forecast-tune fit --world
# tuning,holdout,fresh,train-d``; RECENT_WEIGHT 0.3 and this map were chosen by leaving one training world out at a
# time; the check worlds check-a and check-b were scored once, after (docs/forecast.md)
CALIBRATION = ((0.0, 0.0), (0.0019, 0.0104), (0.0189, 0.0178), (0.0433, 0.0459), (0.0788, 0.0945),
               (0.1241, 0.1267), (0.1752, 0.1809), (0.2224, 0.202), (0.2743, 0.2289), (0.3481, 0.3089),
               (0.4495, 0.4122), (0.5489, 0.5854), (0.6457, 0.7193), (0.7438, 0.7771), (0.8413, 0.7843),
               (0.9471, 0.8667), (1.0, 1.0))
BAND = (0.1, 0.9)
HISTORY_DAYS = 28  # the span of per-day history ``wants_history`` asks for
TAIL_SD = 10.0  # quantiles: the pmf is summed from this many standard deviations below the mean
TAIL_LOG = -700.0  # a log-pmf below this at c > mean: P(X >= c) is 0 in floats (exp underflows at -745)


@dataclass(frozen=True)
class Outlook:
    """``probability``: P(breached on some day in (as_of, at]); ``expected`` the metric's expected value at
    ``at`` and ``low``/``high`` its 10 % and 90 % quantiles (in the metric's value unit: fraction, count or
    average; low <= high whichever direction is bad)."""

    probability: float
    expected: float | None
    low: float | None
    high: float | None
    at: datetime


# -- distributions ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Discrete:
    """A count distribution by its log-pmf, the ratio pmf(k+1)/pmf(k), mean and standard deviation."""

    kind: str  # "betabinom" (n, a, b) | "negbinom" (r, q: success probability)
    n: float
    a: float
    b: float

    @property
    def mean(self) -> float:
        if self.kind == "betabinom":
            return self.n * self.a / (self.a + self.b)
        r, q = self.a, self.b
        return r * (1 - q) / q

    @property
    def sd(self) -> float:
        if self.kind == "betabinom":
            n, a, b = self.n, self.a, self.b
            return math.sqrt(n * a * b * (a + b + n) / ((a + b) ** 2 * (a + b + 1)))
        r, q = self.a, self.b
        return math.sqrt(r * (1 - q)) / q

    @property
    def top(self) -> float:
        return self.n if self.kind == "betabinom" else math.inf

    def logpmf(self, k: int) -> float:
        if self.kind == "betabinom":
            n, a, b = self.n, self.a, self.b
            return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                    + _lbeta(k + a, n - k + b) - _lbeta(a, b))
        r, q = self.a, self.b
        return math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1) + r * math.log(q) + k * math.log1p(-q)

    def ratio(self, k: int) -> float:
        """pmf(k+1) / pmf(k)."""
        if self.kind == "betabinom":
            n, a, b = self.n, self.a, self.b
            return (n - k) * (k + a) / ((k + 1) * (n - k - 1 + b))
        r, q = self.a, self.b
        return (k + r) / (k + 1) * (1 - q)

    def sf(self, c: int) -> float:
        """P(X >= c), from the smaller side: above the mean the pmf summed upward from c, else 1 - the pmf
        summed downward from c - 1, each until its terms vanish. No cut at a number of deviations: a
        Beta-Binomial with a small ``a`` (no defect seen yet) has 3e-4 at 2 defects against mean 0.01, sd 0.1."""
        if c <= 0:
            return 1.0
        if c > self.top:
            return 0.0
        upper = c > self.mean
        k = c if upper else c - 1
        log_first = self.logpmf(k)
        if log_first < TAIL_LOG:  # beyond the mode the terms only fall: the sum is below top x this, nothing
            return 0.0 if upper else 1.0
        term, total = math.exp(log_first), 0.0
        # ``ratio`` written out once here (the same float operations): this sum is most of the odds' cost, and
        # calling the method per term made ``sf`` 20-40 % slower (medians 52-62 vs 42-43 us per call, six cases,
        # 2 x 6 interleaved runs at load 3-8, docs/forecast.md "Cost"; results bit-identical); in
        # ``outlook`` 28.3 -> 25.0 ms per status (docs/forecast.md, Cost)
        top, beta, n, a, b = self.top, self.kind == "betabinom", self.n, self.a, self.b
        keep = 1 - b  # negbinom: 1 - q
        while term > 0.0 and 0 <= k <= top:
            total += term
            if term <= 1e-17 * total:
                break
            j = k if upper else k - 1  # pmf(j + 1) / pmf(j) links this term and the next
            if j < 0:
                break
            r = (n - j) * (j + a) / ((j + 1) * (n - j - 1 + b)) if beta else (j + a) / (j + 1) * keep
            if upper:
                term *= r
                k = j + 1
            else:
                term = term / r
                k = j
        return min(total, 1.0) if upper else min(max(1.0 - total, 0.0), 1.0)

    def quantiles(self, qs: tuple[float, ...]) -> list[int]:
        """The smallest k with P(X <= k) >= q, for each q (ascending)."""
        mean, sd = self.mean, self.sd
        k = max(0, int(mean - TAIL_SD * sd))
        top = self.top
        term = math.exp(self.logpmf(k))
        cdf = term
        out: list[int] = []
        for q in qs:
            while cdf < q and k < top and k < mean + TAIL_SD * sd + 1:
                term *= self.ratio(k)
                k += 1
                cdf += term
            out.append(k)
        return out


def _lbeta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


# -- the window rolled forward --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Day:
    """Day ``t`` of the horizon: the rolled window's known counts and its expected future volume."""

    t: int
    known_d: float
    known_n: float
    new_n: float  # expected eligible (in the metric's unit) from future days inside the window
    new_days: int  # future days inside the window (count metrics: days of defect arrivals)


def _index(moment: datetime, start: datetime) -> int:
    return round((moment - start) / DAY)


def _complete(series: Series, as_of: datetime) -> int:
    """Buckets that are whole days before ``as_of`` (a date-aligned window's last bucket may be today so far)."""
    return min(len(series.eligible), math.floor((as_of - series.start) / DAY + 1e-9))


def _volume(series: Series, as_of: datetime) -> list[float]:
    """Expected eligible per weekday (Monday = 0) for future days: level x shrunk weekday factor."""
    full = _complete(series, as_of)
    level_days = series.eligible[max(0, full - LEVEL_DAYS):full]
    level = sum(level_days) / len(level_days) if level_days else 0.0
    lo = max(0, full - PATTERN_DAYS)
    span = series.eligible[lo:full]
    mean = sum(span) / len(span) if span else 0.0
    per: list[list[float]] = [[] for _ in range(7)]
    for i, n in enumerate(span, start=lo):
        per[(series.start + i * DAY).weekday()].append(n)
    out = []
    for seen in per:
        factor = 1.0 if mean <= 0 else (sum(seen) / mean + PATTERN_SHRINK) / (len(seen) + PATTERN_SHRINK)
        out.append(level * factor)
    return out


def _prefix(values: list[float]) -> list[float]:
    out = [0.0]
    for v in values:
        out.append(out[-1] + v)
    return out


def _rolled(metric: Metric, series: Series, length: int, as_of: datetime, horizon: int,
            history: Series | None = None) -> list[_Day]:
    known = min(len(series.eligible), math.ceil((as_of - series.start) / DAY - 1e-9))
    per_weekday = _volume(history or series, as_of)
    cum_d, cum_n = _prefix(series.defects[:known]), _prefix(series.eligible[:known])
    first = series.start.weekday()
    # expected volume of future bucket i (i >= known), cumulated: new_n of [known, i) = cum_new[i - known]
    cum_new = _prefix([per_weekday[(first + i) % 7] for i in range(known, known + horizon + 1)])
    days = []
    for t in range(1, horizon + 1):
        moment = as_of + t * DAY
        start, end = windows.bounds(metric.window_kind, length, metric.lag_days, moment, tz=metric.tz,
                                    align=metric.window_align)
        i0, i1 = _index(start, series.start), min(_index(end, series.start), _index(moment, series.start))
        lo, hi = max(i0, 0), min(i1, known)
        kd = cum_d[hi] - cum_d[lo] if hi > lo else 0.0
        kn = cum_n[hi] - cum_n[lo] if hi > lo else 0.0
        f0, f1 = max(i0, known) - known, min(max(i1 - known, 0), horizon + 1)
        new_n = cum_new[f1] - cum_new[f0] if f1 > f0 else 0.0
        days.append(_Day(t, kd, kn, new_n, max(f1 - f0, 0)))
    return days


# -- the model ------------------------------------------------------------------------------------------------------

def wants_history(metric: Metric, series: Series) -> bool:
    """Whether per-day counts over ``HISTORY_DAYS`` would give this metric's odds a long-run level its window
    lacks (a window shorter than the rate's basis: Amazon's 7-day cancellations). The engine does not read them
    yet: one more series query per such metric cost 14-33 % of ``build_status`` (docs/forecast.md); the rollups'
    per-day counts (issue 21) are the cheap source to pass as ``outlook(history=...)``."""
    return (metric.threshold is not None and metric.forecast and metric.calculator not in ("reported", "periodic")
            and series.window_days < BASIS_DAYS)


@dataclass(frozen=True)
class _Basis:
    """Counts the rate is read from: the window's last ``BASIS_DAYS`` (recent) and the days before them (older:
    the rest of the window, or of the ``HISTORY_DAYS`` history when the window is shorter)."""

    d_recent: float
    n_recent: float
    days_recent: int
    d_older: float
    n_older: float
    days_older: int


def _basis(series: Series, history: Series | None) -> _Basis:
    w = series.window_days
    basis = min(BASIS_DAYS, w)
    d_r, n_r = sum(series.defects[w - basis:w]), sum(series.eligible[w - basis:w])
    older = series if history is None else history
    cut = older.window_days - basis
    return _Basis(d_r, n_r, basis, sum(older.defects[:cut]), sum(older.eligible[:cut]), max(cut, 0))


def _rate_beta(b: _Basis) -> tuple[float, float]:
    """Beta(a, b) of the future defect share. Its mean is the long-run share (every day read, Jeffreys-smoothed):
    a recent jump is not carried forward (rates that jump mostly come back within the horizon). Its strength
    (a + b) is an effective count: recent events weigh ``RECENT_WEIGHT``, older ones ``OLDER_WEIGHT``, so the band
    is wider than sampling error alone."""
    mean = (b.d_recent + b.d_older + 0.5) / (b.n_recent + b.n_older + 1.0)
    strength = 1.0 + RECENT_WEIGHT * b.n_recent + OLDER_WEIGHT * b.n_older
    return mean * strength, (1.0 - mean) * strength


def _count_gamma(b: _Basis) -> tuple[float, float]:
    """Gamma(shape, rate per day) of the future daily defect count, weighted like ``_rate_beta``."""
    shape = 0.5 + RECENT_WEIGHT * b.d_recent + OLDER_WEIGHT * b.d_older
    rate = RECENT_WEIGHT * b.days_recent + OLDER_WEIGHT * b.days_older + 1e-9
    return shape, rate


def _gate_ratio(metric: Metric, series: Series, gate: float) -> float:
    """The gate's count per defect (unique buyers per defect, defective events per unit defect)."""
    d = series.numerator
    if d > 0:
        return gate / d
    if metric.gate_unit == "events" and series.eligible_events and series.denominator > 0:
        return series.eligible_events / series.denominator
    return 1.0


def _breaching_count(metric: Metric, kind: str, day: _Day, ratio: float, new_n: float) -> int | None:
    """The fewest new defects that make day ``day`` breach (0: breached whatever comes); None: cannot breach."""
    n = day.known_n + new_n
    if kind != "count" and (n <= 0 or n < metric.population_min_volume):
        return None

    def bad(x: int) -> bool:
        d = day.known_d + x
        return assess.breached(metric, assess.value_of(kind, d, n), d * ratio, n)

    top = round(new_n) if kind != "count" else max(int(10 * (day.known_d + 10)), 1000)
    if bad(0):
        return 0
    if not bad(top):
        return None
    lo, hi = 0, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if bad(mid):
            hi = mid
        else:
            lo = mid
    return hi


def outlook(metric: Metric, series: Series, length: int, as_of: datetime, horizon_days: int,
            gate: float = 0.0, *, history: Series | None = None) -> Outlook | None:
    """The breach probability within ``horizon_days`` and the value expected at its end; None when the metric
    has no threshold, no forecast (``forecast = false``) or nothing to read a rate from.

    ``series`` and ``length`` are those the engine judged (fallback window applied); ``gate`` is the gate's count
    today (``Series.gate``), 0 for ``average`` metrics; ``history`` the same population over ``HISTORY_DAYS``
    when the window is shorter (``wants_history``), else None.
    """
    if metric.threshold is None or not metric.forecast or horizon_days < 1:
        return None
    kind = series.kind
    days = _rolled(metric, series, length, as_of, horizon_days, history)
    at = as_of + horizon_days * DAY
    basis = _basis(series, history)
    if kind == "average":
        return _average_outlook(metric, basis, days, at)
    if kind == "count":
        shape, rate = _count_gamma(basis)
    elif sum(series.eligible) <= 0:
        return None
    else:
        a, b = _rate_beta(basis)
    ratio = _gate_ratio(metric, series, gate)
    prob = 0.0
    for day in days:
        if kind == "count":
            dist = _Discrete("negbinom", 0, shape, rate / (rate + day.new_days)) if day.new_days else None
            new_n = 0.0
        else:
            new_n = round(day.new_n)
            dist = _Discrete("betabinom", new_n, a, b) if new_n > 0 else None
        c = _breaching_count(metric, kind, day, ratio, new_n)
        if c is None:
            continue
        p = 1.0 if c == 0 else (dist.sf(c) if dist is not None else 0.0)
        prob = max(prob, p)
        if prob >= 1.0:
            break
    prob = calibrated(prob)
    last = days[-1]
    n = last.known_n + (round(last.new_n) if kind != "count" else 0.0)
    if kind == "count":
        dist = _Discrete("negbinom", 0, shape, rate / (rate + last.new_days)) if last.new_days else None
    else:
        dist = _Discrete("betabinom", round(last.new_n), a, b) if round(last.new_n) > 0 else None
    if kind != "count" and n <= 0:
        return Outlook(prob, None, None, None, at)
    mean = dist.mean if dist is not None else 0.0
    q_lo, q_hi = dist.quantiles(BAND) if dist is not None else (0, 0)
    values = [assess.value_of(kind, last.known_d + x, n) for x in (q_lo, q_hi)]
    expected = assess.value_of(kind, last.known_d + mean, n)
    lo, hi = sorted(v for v in values if v is not None) if None not in values else (None, None)
    return Outlook(prob, expected, lo, hi, at)


def _average_outlook(metric: Metric, basis: _Basis, days: list[_Day], at: datetime) -> Outlook | None:
    """``average`` metrics (ratings): the new ratings' mean is normal around the recent mean (weighted like the
    rate), with the Bhatia-Davis bound (m - worst)(best - m) as the score variance."""
    params = metric.parsed
    worst, best = min(params.worst, params.best), max(params.worst, params.best)
    weight = RECENT_WEIGHT * basis.n_recent + OLDER_WEIGHT * basis.n_older
    if weight <= 0:
        return None
    m = (RECENT_WEIGHT * basis.d_recent + OLDER_WEIGHT * basis.d_older) / weight
    var = max((m - worst) * (best - m), 1e-9)
    thr = metric.threshold
    assert thr is not None
    bad_low = metric.comparator in (">", ">=")  # good when high: a low new mean is the danger
    prob = 0.0
    last_dist: NormalDist | None = None
    for day in days:
        n_new = day.new_n
        n = day.known_n + n_new
        if n <= 0 or n < metric.population_min_volume:
            continue
        if n_new <= 0:
            value = day.known_d / n
            p = 1.0 if assess.breached(metric, value, 0, n) else 0.0
        else:
            dist = NormalDist(m, math.sqrt(var / weight + var / n_new))
            cut = (thr * n - day.known_d) / n_new  # the new mean at which the value sits on the threshold
            p = dist.cdf(cut) if bad_low else 1.0 - dist.cdf(cut)
        prob = max(prob, p)
    prob = calibrated(prob)
    last = days[-1]
    n = last.known_n + last.new_n
    if n <= 0:
        return Outlook(prob, None, None, None, at)
    if last.new_n <= 0:
        value = last.known_d / n
        return Outlook(prob, value, value, value, at)
    last_dist = NormalDist(m, math.sqrt(var / weight + var / last.new_n))
    values = [(last.known_d + last.new_n * min(max(last_dist.inv_cdf(q), worst), best)) / n for q in BAND]
    return Outlook(prob, (last.known_d + last.new_n * m) / n, min(values), max(values), at)


def calibrated(p: float, knots: tuple[tuple[float, float], ...] | None = None) -> float:
    """``p`` through the isotonic map ``knots`` (linear between them; non-decreasing, so monotonicity in the
    defect rate is kept); 0 and 1 (window arithmetic certainties) are kept, and a map that reaches 0 or 1 inside
    (0, 1) is held just inside: only the window arithmetic proves a certainty."""
    if p <= 0.0 or p >= 1.0:
        return p
    knots = CALIBRATION if knots is None else knots
    i = bisect.bisect_right(knots, (p, math.inf))
    (x0, y0), (x1, y1) = knots[i - 1], knots[i]
    q = y0 + (y1 - y0) * (p - x0) / (x1 - x0) if x1 > x0 else y1
    return min(max(q, 1e-6), 1.0 - 1e-6)


def combined(probabilities: list[float]) -> float:
    """P(at least one of independent parts breaches): a split metric breaches when its worst category does."""
    keep = 1.0
    for p in probabilities:
        keep *= 1.0 - p
    return 1.0 - keep
