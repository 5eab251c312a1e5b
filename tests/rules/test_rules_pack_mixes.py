"""The loader rejects a pack that mixes window kinds, units and gates wrongly, naming the file and the key."""

from typing import Any

import pytest

from sellerguard.errors import ConfigError
from sellerguard.rules.packs import parse_pack

RATE = {"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]}


def _load(**metric: Any) -> Any:
    body = {"name": "m", "calculator": "rate", "params": RATE, "comparator": "<", "threshold": 0.1,
            "consequence": "c", "source": "https://example.org", "confirmed": True, **metric}
    return parse_pack({"marketplace": "t", "name": "t", "reviewed": "2026-11-29", "metrics": {"t.m": body}},
                      where="rules/packs/t.toml")


@pytest.mark.parametrize(("metric", "key", "words"), [
    ({"window_months": 3}, "window_months", "not allowed with window_kind = \"days\""),
    ({"window_kind": "months", "window_days": 90}, "window_days", "not allowed"),
    ({"window_kind": "months"}, "window_months", "needs window_months"),
    ({"window_kind": "iso_weeks", "window_weeks": 1}, "timezone", "needs the marketplace's timezone"),
    ({"window_kind": "iso_weeks", "window_weeks": 1, "timezone": "Mars/Olympus"}, "timezone", "unknown IANA"),
    ({"window_kind": "months", "window_months": 3, "fallback_window": {"days": 365, "below": 400}},
     "fallback_window.days", "falls back to months"),
    ({"fallback_window": {"months": 12, "below": 400}}, "fallback_window.months", "falls back to days"),
    ({"fallback_window": {"days": 365, "months": 12, "below": 400}}, "fallback_window", "exactly one"),
    ({"gate_unit": "unique_buyers"}, "gate_unit", "needs count_gate"),
    ({"count_rule": {"below": 40, "max": 4}, "count_gate": 5}, "count_rule", "not allowed with count_gate"),
    ({"params": {**RATE, "unit": "items"}}, "params.unit", "events"),
    ({"params": {"events": "messages", "anchor": "received_at", "defects": ["late_reply"], "unit": "units"}},
     "params", "needs events with item counts"),
    ({"params": {"events": "ratings", "anchor": "rated_at", "defects": ["negative"]}, "count_gate": 2,
      "gate_unit": "unique_buyers"}, "gate_unit", "tied to an order"),
    ({"verdict": {"every": "month"}}, "verdict", "day"),
    ({"seller_target": True}, "metrics.t.m", "seller_target"),
])
def test_a_wrong_mix_names_file_and_key(metric, key, words):
    with pytest.raises(ConfigError) as err:
        _load(**metric)
    text = str(err.value)
    assert "rules/packs/t.toml:metrics.t.m" in text and key in text and words in text, text


def test_the_good_mixes_load():
    m = _load(window_kind="months", window_months=3, fallback_window={"months": 12, "below": 400},
              timezone="America/Los_Angeles", count_gate=5, gate_unit="unique_buyers",
              verdict={"every": "month", "day": 20}).metrics[0]
    assert (m.window_length, m.fallback_window.length, m.nominal_days) == (3, 12, 90)
    w = _load(window_kind="iso_weeks", window_weeks=1, timezone="Europe/Amsterdam",
              params={**RATE, "unit": "units"}).metrics[0]
    assert (w.window_kind, w.parsed.unit) == ("iso_weeks", "units")
    assert _load(count_rule={"below": 40, "max": 4}).metrics[0].count_rule.max == 4
