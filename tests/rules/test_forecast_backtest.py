"""The backtest's reliability bins (rules/forecast_backtest.py): runs and the run-clustered standard error."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sellerguard.rules.forecast_backtest import (
    MIN_UNCERTAIN_BREACH_RUNS,
    MIN_UNCERTAIN_BREACHES,
    Forecast,
    Result,
    cluster_se,
)


def fc(account: str, day: int, p: float, outcome: int) -> Forecast:
    return Forecast(account, "m", date(2026, 8, 1) + timedelta(days=day), p, 0.0, 0.0, outcome)


def test_cluster_se_counts_a_run_as_one_draw() -> None:
    # two runs, each 10 days alike: the same residuals as 2 draws of 10, not 20 independent forecasts
    group = [fc("a", d, 0.5, 1) for d in range(10)] + [fc("b", d, 0.5, 0) for d in range(10)]
    se = cluster_se(group)
    # residuals +0.5 x 10 and -0.5 x 10 around mean 0: sqrt(2 / 1 x (5^2 + 5^2)) / 20 = 0.5
    assert se == pytest.approx(0.5)
    independent = (sum((f.outcome - 0.5) ** 2 for f in group) / 19) ** 0.5 / 20 ** 0.5
    assert se > 4 * independent


def test_cluster_se_needs_two_runs_and_reaches_the_bins() -> None:
    assert cluster_se([fc("a", d, 0.3, 0) for d in range(5)]) is None
    result = Result(date(2026, 8, 1), date(2026, 9, 1), 14, ["a", "b"],
                    [fc("a", d, 0.35, d % 2) for d in range(6)] + [fc("b", d, 0.32, 0) for d in range(4)])
    third = result.reliability()[3]
    assert (third.count, third.series) == (10, 2)
    assert third.gap_se == pytest.approx(cluster_se(result.forecasts))
    assert result.reliability()[0].gap_se is None


def fcm(account: str, metric: str, day: int, p: float, outcome: int) -> Forecast:
    return Forecast(account, metric, date(2026, 8, 1) + timedelta(days=day), p, 0.0, 0.0, outcome)


def test_warnings_when_too_few_uncertain_breaches_or_runs() -> None:
    start, end = date(2026, 8, 1), date(2026, 12, 1)
    assert Result(start, end, 14, ["a"]).warnings()[0].startswith("no forecast could be scored")
    # the demo store's shape: many calm forecasts, breaches only where certain (p = 1), a few uncertain ones
    calm = [fcm("a", f"m{i}", d, 0.01, 0) for i in range(10) for d in range(60)]
    certain = [fcm("b", "m", d, 1.0, 1) for d in range(60)]
    few = [fcm("c", "m", d, 0.2, 1) for d in range(11)]
    thin = Result(start, end, 14, ["a", "b", "c"], calm + certain + few)
    (warning,) = thin.warnings()
    assert "11 uncertain forecasts" in warning and "in 1 account/metric runs" in warning
    # enough uncertain breaches, but all from too few runs: still a warning
    runs = MIN_UNCERTAIN_BREACH_RUNS - 1
    one_run = [fcm("c", f"m{i}", d, 0.3, 1) for i in range(runs) for d in range(MIN_UNCERTAIN_BREACHES)]
    assert "runs" in Result(start, end, 14, ["c"], calm + one_run).warnings()[0]
    # enough of both: no warning, and the scores are the same with or without it
    many = [fcm("c", f"m{i}", d, 0.3, 1) for i in range(MIN_UNCERTAIN_BREACH_RUNS) for d in range(5)]
    enough = Result(start, end, 14, ["a", "c"], calm + many)
    assert enough.warnings() == []
    assert thin.brier("probability") == Result(start, end, 14, [], calm + certain + few).brier("probability")


def test_warning_when_no_decile_is_populated() -> None:
    many = [fcm("c", f"m{i}", d, 0.05 + 0.1 * (i % 10), 1) for i in range(20) for d in range(5)]
    warnings = Result(date(2026, 8, 1), date(2026, 9, 1), 14, ["c"], many).warnings()
    assert len(warnings) == 1 and warnings[0].startswith("no decile holds 50 forecasts")
