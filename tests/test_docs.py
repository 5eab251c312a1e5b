"""Docs that drift from the code are bugs: every command, schema field and example must be in docs/ and valid."""

import json
import re
from pathlib import Path

import pytest

from sellerguard.cli import cli
from sellerguard.schema import RECORD_TYPES, parse_record

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented(command):
    assert f"## `sellerguard {command}`" in (DOCS / "cli.md").read_text()


@pytest.mark.parametrize("kind", sorted(RECORD_TYPES))
def test_every_schema_field_is_documented(kind):
    text = (DOCS / "schema.md").read_text()
    section = text.split(f"\n## {kind}\n", 1)[1].split("\n## ", 1)[0]
    for name in RECORD_TYPES[kind].model_fields:
        if name in ("account", "external_id", "raw_hash", "kind"):
            assert f"| `{name}` |" in text
        else:
            assert f"| `{name}` |" in section, f"{kind}.{name} missing from docs/schema.md"


def test_import_format_examples_are_valid_records():
    text = (DOCS / "import-format.md").read_text()
    block = re.search(r"```jsonl\n(.*?)```", text, re.S)
    assert block is not None
    kinds = set()
    for line in block.group(1).splitlines():
        record = parse_record(json.loads(line))
        kinds.add(record.kind)
    assert kinds == set(RECORD_TYPES)
