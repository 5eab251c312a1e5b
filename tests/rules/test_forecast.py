"""Breach probability (rules/forecast.py): window arithmetic, gates, monotonicity, and the distributions against
scipy.stats. Synthetic Series, no store: fast."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from sellerguard.alerts.model import metric_level
from sellerguard.rules import assess, forecast
from sellerguard.rules.calculators import Series
from sellerguard.rules.packs import Metric
from sellerguard.rules.report import MetricStatus

NOW = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
EVENTS = {"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]}


def metric(**kw: object) -> Metric:
    base: dict[str, object] = dict(id="t.rate", name="test rate", calculator="rate", params=EVENTS, window_days=30,
                                   comparator="<", threshold=0.01, consequence="-", source="https://example.com",
                                   confirmed=True)
    return Metric.model_validate({**base, **kw})


def series(m: Metric, eligible: list[float], defects: list[float], kind: str = "rate") -> Series:
    """Buckets ending at NOW: the window's days, then ``m.lag_days`` lag days."""
    w, lag = m.window_length, m.lag_days
    assert len(eligible) == len(defects) == w + lag
    start = NOW - (w + lag) * DAY
    return Series(kind, start, w, lag, eligible, defects, numerator=sum(defects[:w]), denominator=sum(eligible[:w]),
                  end_at=start + w * DAY)


def odds(m: Metric, s: Series, horizon: int = 14, gate: float | None = None) -> forecast.Outlook:
    out = forecast.outlook(m, s, m.window_length, NOW, horizon, s.numerator if gate is None else gate)
    assert out is not None
    return out


def test_far_from_the_threshold_is_near_zero() -> None:
    m = metric(threshold=0.05)
    s = series(m, [100.0] * 30, [0.0, 1.0] * 15)  # 0.5 % against a 5 % limit
    out = odds(m, s)
    assert out.probability < 0.001
    assert out.low is not None and out.high is not None and out.low <= out.expected <= out.high  # type: ignore[operator]
    assert out.at == NOW + 14 * DAY


def test_breached_and_unable_to_recover_within_the_horizon_is_one() -> None:
    m = metric()
    s = series(m, [100.0] * 30, [5.0] * 30)  # 5 % against 1 %
    # window arithmetic: on day 14 the 16 oldest days remain: 80 defects over at most 3000 + 14 clean days
    assert assess.breached(m, 80 / (3000 + 14 * 100), 80)
    assert odds(m, s).probability == 1.0


def test_breached_now_but_the_bad_days_leave_is_below_one() -> None:
    m = metric()
    s = series(m, [100.0] * 30, [40.0] + [0.0] * 29)  # one bad day, about to leave the window
    assert assess.breached(m, 40 / 3000, 40)
    assert odds(m, s).probability < 0.2


def test_monotone_in_the_defect_rate() -> None:
    m = metric(threshold=0.02)
    probabilities = []
    for per_day in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        s = series(m, [100.0] * 30, [1.0] * 16 + [per_day] * 14)
        probabilities.append(odds(m, s).probability)
    assert probabilities == sorted(probabilities)
    assert probabilities[0] < 0.05 < 0.8 < probabilities[-1]
    assert len(set(probabilities)) == len(probabilities)  # strictly: every step of the rate moves the odds


def test_a_count_gate_out_of_reach_gives_zero() -> None:
    m = metric(id="t.cases", window_days=90, threshold=0.003, count_gate=4)
    eligible = [0.0] * 90
    for i in (80, 84, 88):  # three sales in the last two weeks: ~3 more in the horizon, 3 < the gate of 4
        eligible[i] = 1.0
    s = series(m, eligible, [0.0] * 90)
    assert odds(m, s).probability == 0.0
    ungated = metric(id="t.cases", window_days=90, threshold=0.003)
    assert odds(ungated, series(ungated, eligible, [0.0] * 90)).probability > 0.05  # the gate is what holds


def test_gate_counts_move_in_their_unit() -> None:
    m = metric(id="t.cases", window_days=30, threshold=0.003, count_gate=4, gate_unit="unique_buyers")
    eligible, defects = [50.0] * 30, [0.0] * 27 + [2.0, 2.0, 2.0]
    s = series(m, eligible, defects)  # 6 defects over 1500 = 0.4 %: a breach by the rate
    assert odds(m, s, gate=6).probability == 1.0  # six buyers: the gate is met and stays met
    assert odds(m, s, gate=2).probability < 1.0  # the same six defects from two buyers: the gate holds for now


def test_lag_days_enter_known_and_no_future_day_enters() -> None:
    m = metric(window_days=30, lag_days=14)
    # the lag period holds a bad fortnight that enters the window day by day: certain within the horizon
    s = series(m, [100.0] * 44, [0.0] * 30 + [4.0] * 14)
    out = odds(m, s)
    assert out.probability == 1.0 and out.low == out.high == out.expected  # nothing unknown enters
    clean = series(m, [100.0] * 44, [0.0] * 44)
    assert odds(m, clean).probability == 0.0


def test_iso_week_window_rolls_on_mondays() -> None:
    m = metric(window_kind="iso_weeks", window_days=None, window_weeks=1, timezone="Europe/Amsterdam",
               threshold=0.05)
    start, end = forecast.windows.bounds("iso_weeks", 1, 0, NOW, tz=m.tz)
    days = round((end - start) / DAY)
    s = Series("rate", start, days, 0, [100.0] * days, [0.0] * days, end_at=end)
    out = forecast.outlook(m, s, 1, NOW, 14, 0.0)
    assert out is not None and 0.0 <= out.probability < 0.01


def test_average_metric() -> None:
    m = metric(id="t.avg", calculator="average", params={"rating_kind": "product_review"}, comparator=">=",
               threshold=4.0)
    good = series(m, [10.0] * 30, [48.0] * 30, kind="average")  # 4.8 average
    bad = series(m, [10.0] * 30, [48.0] * 16 + [38.0] * 14, kind="average")  # recent 3.8
    # the recent drop counts, not in full: the recent ratings weigh RECENT_WEIGHT, older ones OLDER_WEIGHT
    assert odds(m, good).probability < 0.01 < 0.1 < odds(m, bad).probability


def test_split_metric_combines_categories() -> None:
    assert forecast.combined([0.5, 0.5]) == pytest.approx(0.75)
    assert forecast.combined([]) == 0.0


def test_betabinomial_and_negbinomial_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for n, a, b, c in ((40, 2.5, 300.0, 1), (700, 3.0, 150.0, 12), (5000, 40.0, 900.0, 260)):
        ours = forecast._Discrete("betabinom", n, a, b)
        assert ours.sf(c) == pytest.approx(stats.betabinom.sf(c - 1, n, a, b), abs=1e-9)
        assert ours.quantiles((0.1, 0.9)) == [int(stats.betabinom.ppf(q, n, a, b)) for q in (0.1, 0.9)]
    r, q = 3.5, 0.4
    nb = forecast._Discrete("negbinom", 0, r, q)
    assert nb.sf(8) == pytest.approx(stats.nbinom.sf(7, r, q), abs=1e-9)


def test_probability_rule_warns_while_green() -> None:
    m = MetricStatus(id="t.rate", name="t", value=0.005, numerator=5, denominator=1000, window_days=30,
                     threshold=0.01, comparator="<", level="ok", source="https://example.com", breach_probability=0.6)
    assert metric_level(m, 0.5) == "warn"
    assert metric_level(m, 0.7) == "ok"
    assert metric_level(m.model_copy(update={"level": "critical"}), 0.5) == "critical"
    assert metric_level(m.model_copy(update={"breach_probability": None}), 0.5) == "ok"


def test_history_gives_a_short_window_its_long_run_level() -> None:
    m = metric(window_days=7, threshold=0.03)
    s = series(m, [100.0] * 7, [3.0] * 7)  # a bad week at 3 %
    long = metric(window_days=28, threshold=0.03)
    calm = series(long, [100.0] * 28, [0.5] * 21 + [3.0] * 7)  # after three calm weeks
    assert forecast.wants_history(m, s)
    assert forecast.outlook(m, s, 7, NOW, 14, s.numerator, history=calm).probability < odds(m, s).probability


def test_tails_beyond_ten_deviations_are_not_cut() -> None:
    """No defect seen yet gives a Beta with a small ``a``: a heavy tail far past mean + 10 sd (it was cut to 0,
    a certainty the model does not have); a share near 1 has the mirror tail below the mean (it was left out)."""
    stats = pytest.importorskip("scipy.stats")
    for n, a, b, c in ((5000, 0.143, 78569.34, 2), (3, 0.1818, 73.28, 3), (10, 0.0554, 4.65, 10),
                       (1000, 233.68, 1.52, 993), (3, 511.4, 5.49, 2)):
        ours = forecast._Discrete("betabinom", n, a, b).sf(c)
        assert ours == pytest.approx(stats.betabinom.sf(c - 1, n, a, b), rel=1e-6, abs=1e-12)


def test_recalibration_is_monotone_and_keeps_only_proven_certainties() -> None:
    """The isotonic map (rules/forecast.py CALIBRATION): non-decreasing, 0 and 1 stay, nothing else becomes them."""
    knots = forecast.CALIBRATION
    assert knots[0] == (0.0, 0.0) and knots[-1] == (1.0, 1.0)
    assert all(x0 < x1 and y0 <= y1 for (x0, y0), (x1, y1) in itertools.pairwise(knots))
    grid = [i / 1000 for i in range(1001)] + [1e-12, 1 - 1e-12]
    out = [forecast.calibrated(p) for p in sorted(grid)]
    assert all(a <= b for a, b in itertools.pairwise(out))
    assert forecast.calibrated(0.0) == 0.0 and forecast.calibrated(1.0) == 1.0
    assert all(0.0 < forecast.calibrated(p) < 1.0 for p in (1e-12, 0.97, 1 - 1e-12))
