"""Pack loading: the built-in packs are complete; a broken pack fails with file:key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from sellerguard.errors import ConfigError
from sellerguard.rules.packs import load_pack, load_packs

GOOD = '''
marketplace = "demo"
name = "Demo"
reviewed = "2026-11-23"

[metrics."demo.late"]
name = "Late"
calculator = "rate"
params = { events = "orders", anchor = "ship_by", defects = ["shipped_late"] }
window_days = 10
comparator = "<"
threshold = 0.04
consequence = "c"
source = "https://example.org"
confirmed = true
'''


def write(tmp_path: Path, text: str, name: str = "demo.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_packs_load_and_cover_the_issue_list():
    packs = load_packs()
    amazon = {m.id for m in packs["amazon"].metrics}
    assert {"amazon.odr", "amazon.negative_feedback_rate", "amazon.atoz_claim_rate", "amazon.chargeback_rate",
            "amazon.late_shipment_rate_10d", "amazon.late_shipment_rate_30d", "amazon.pre_fulfillment_cancel_rate",
            "amazon.valid_tracking_rate", "amazon.on_time_delivery_rate", "amazon.contact_response_time",
            "amazon.return_dissatisfaction_rate"} <= amazon
    ebay = {m.id for m in packs["ebay"].metrics}
    assert {"ebay.transaction_defect_rate", "ebay.cases_closed_without_seller_resolution",
            "ebay.late_shipment_rate", "ebay.tracking_uploaded_on_time_validated"} <= ebay


@pytest.mark.parametrize("marketplace", sorted(load_packs()))
def test_every_metric_has_a_source_and_says_what_is_unconfirmed(marketplace):
    for m in load_packs()[marketplace].metrics:
        assert m.source.startswith("http")
        assert m.confirmed or m.unconfirmed
        m.parsed  # noqa: B018  (parameters validate)


def test_good_pack_loads(tmp_path):
    pack = load_pack(write(tmp_path, GOOD))
    assert pack.metric("demo.late").parsed.defects == ["shipped_late"]


@pytest.mark.parametrize(
    ("change", "where", "reason"),
    [
        (('calculator = "rate"', 'calculator = "magic"'), "metrics.demo.late.calculator", "unknown calculator 'magic'"),
        (('comparator = "<"\n', ""), "metrics.demo.late.comparator", "Field required"),
        (("threshold = 0.04", 'threshold = "high"'), "metrics.demo.late.threshold", "valid number"),
        (("window_days = 10", "window_days = 0"), "metrics.demo.late.window_days", "greater than or equal to 1"),
        (('source = "https://example.org"', 'source = "help page"'), "metrics.demo.late.source", "match pattern"),
        (('"shipped_late"', '"slow"'), "metrics.demo.late.params.defects", "unknown defect 'slow'"),
        (('anchor = "ship_by"', 'anchor = "rated_at"'), "metrics.demo.late.params.anchor", "not a time of orders"),
        (("confirmed = true", "confirmed = false"), "metrics.demo.late", "needs unconfirmed"),
        (("window_days = 10", "window_days = 10\nsurprise = 1"), "metrics.demo.late.surprise", "Extra inputs"),
        (('[metrics."demo.late"]', '[metrics."other.late"]'), "metrics.other.late", "must start with 'demo.'"),
    ],
)
def test_broken_pack_names_file_key_and_reason(tmp_path, change, where, reason):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as exc:
        load_pack(path)
    assert str(exc.value).startswith(f"{path}:{where}: ")
    assert reason in str(exc.value)


def test_pack_must_be_named_after_its_marketplace(tmp_path):
    with pytest.raises(ConfigError, match=r"file name must be demo\.toml"):
        load_pack(write(tmp_path, GOOD, name="other.toml"))


def test_invalid_toml_names_the_file(tmp_path):
    path = write(tmp_path, "marketplace = ")
    with pytest.raises(ConfigError, match=f"^{path}: not valid TOML"):
        load_pack(path)


def test_business_clock_needs_a_calendar(tmp_path):
    text = GOOD.replace('calculator = "rate"', 'calculator = "response_time"').replace(
        'params = { events = "orders", anchor = "ship_by", defects = ["shipped_late"] }',
        'params = { hours = 24, clock = "business" }')
    with pytest.raises(ConfigError, match=r"metrics\.demo\.late\.params: .*needs calendar"):
        load_pack(write(tmp_path, text))
