"""Pack fields that say what a limit counts and how its edge is judged. Counting the seller's sales instead of a
metric's own events (rules/packs.py `fallback_window.of`,
`min_volume_of`): Mercado Libre picks one window per seller by its sales and greys every rate below 10 completed
sales in 365 days (../shared/reference/policies/mercadolibre.md). The worked examples are in
tests/rules/test_worked_mercadolibre.py; here the pack format."""

import pytest

from sellerguard.rules.packs import Metric

BASE = {"id": "mercadolibre.x", "name": "x", "calculator": "rate", "comparator": "<=", "threshold": 0.1,
        "consequence": "c", "source": "https://www.mercadolibre.com.br/ajuda", "confirmed": True,
        "params": {"events": "shipments", "anchor": "shipped_at", "defects": ["shipped_late"]}}


def test_sales_counted_window_and_minimum_load():
    m = Metric.model_validate({**BASE, "fallback_window": {"days": 365, "below": 40, "of": "sales"},
                               "min_volume": 10, "min_volume_of": "sales", "min_volume_days": 365})
    assert (m.fallback_window.of, m.min_volume_of, m.min_volume_days) == ("sales", "sales", 365)
    assert m.population_min_volume == 0  # the metric's own shipments are not what the minimum counts


def test_an_events_minimum_is_the_populations():
    assert Metric.model_validate({**BASE, "min_volume": 10}).population_min_volume == 10


def test_sales_without_days_are_counted_in_the_metrics_window():
    """Etsy: every standard needs 5 sales in its own 3 months."""
    m = Metric.model_validate({**BASE, "min_volume": 5, "min_volume_of": "sales"})
    assert (m.min_volume_of, m.min_volume_days, m.population_min_volume) == ("sales", None, 0)


@pytest.mark.parametrize(("extra", "says"), [
    ({"min_volume_days": 365}, "only with min_volume_of"),
    ({"calculator": "reported", "params": {}, "window_days": None, "min_volume": 3, "min_volume_of": "sales"},
     "needs a computed metric"),
    ({"fallback_window": {"days": 365, "below": 40, "of": "orders"}}, "'events' or 'sales'"),
])
def test_a_bad_sales_count_is_refused(extra, says):
    with pytest.raises(ValueError, match=says):
        Metric.model_validate({**BASE, **extra})


def test_a_warn_comparator_keeps_the_direction():
    """Amazon's suggested "<= 96%" band beside ">= 95%": the band's edge is inclusive, the threshold's is not."""
    base = {**BASE, "comparator": ">=", "threshold": 0.95, "warn": 0.96}
    assert Metric.model_validate({**base, "warn_comparator": ">"}).warn_comparator == ">"
    with pytest.raises(ValueError, match="must keep the direction"):
        Metric.model_validate({**base, "warn_comparator": "<"})
