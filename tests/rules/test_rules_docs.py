"""Docs that drift from the packs and the report are bugs: every metric, field and vocabulary word is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sellerguard.rules.events import DEFECTS, POPULATIONS
from sellerguard.rules.packs import CALCULATORS, PARAMS, Metric, load_packs
from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("marketplace", sorted(load_packs()))
def test_every_metric_has_a_section_with_its_source(marketplace):
    page = (DOCS / "metrics" / f"{marketplace}.md").read_text()
    for metric in load_packs()[marketplace].metrics:
        assert f"\n## `{metric.id}`\n" in page, f"{metric.id} has no section"
        section = page.split(f"\n## `{metric.id}`\n", 1)[1].split("\n## ", 1)[0]
        assert metric.source in section, f"{metric.id}: source URL missing from its section"


def test_status_json_documents_every_field_and_its_example_validates():
    page = (DOCS / "status-json.md").read_text()
    for model in (StatusReport, AccountStatus, MetricStatus, Deadline):
        for name in model.model_fields:
            assert f"`{name}" in page, f"{model.__name__}.{name} missing from docs/status-json.md"
    example = re.search(r"```json\n(.*?)```", page, re.S)
    assert example is not None
    document = json.loads(example.group(1))
    # the document adds the overall level beside the model's fields (sellerguard.status.report_document)
    assert document.pop("level") in ("ok", "warn", "critical", "unknown")
    StatusReport.model_validate(document)


def test_pack_format_documents_the_vocabulary():
    page = (DOCS / "policy-packs.md").read_text()
    for name in CALCULATORS:
        assert f"`{name}`" in page
    for events, defects in DEFECTS.items():
        assert f"`{events}`" in page or events in page
        for name in defects:
            assert f"`{name}`" in page, f"defect {name} missing from docs/policy-packs.md"
    for pop in POPULATIONS.values():
        for anchor in pop.anchors:
            assert f"`{anchor}`" in page
    for model in PARAMS.values():
        for name in model.model_fields:
            assert f"`{name}`" in page, f"param {name} missing from docs/policy-packs.md"
    for name in Metric.model_fields:
        if name not in ("id", "params", "sources"):
            assert f"`{name}`" in page, f"metric field {name} missing from docs/policy-packs.md"
