"""The backtest's reliability bins (rules/forecast_backtest.py): runs and the run-clustered standard error."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sellerguard.rules.forecast_backtest import Forecast, Result, cluster_se


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
