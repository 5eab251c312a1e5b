"""Import plausibility (review of session 4): nothing implausible is stored. A boolean in a number field, a step
of an event before the step it follows, one record given twice in a file with different content: one line
``Error: FILE:LINE: FIELD: what``, exit 3, nothing stored. An order's units come from its lines when not given."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, TypeAdapter, ValidationError

from sellerguard.cli import cli
from sellerguard.errors import InputError
from sellerguard.importer import import_files
from sellerguard.schema import RECORD_TYPES, OrderLine, fields_of_type, parse_record

ORDER = {"kind": "order", "account": "shop", "external_id": "O1", "purchased_at": "2026-11-01T10:00:00Z",
         "fulfilment": "seller", "status": "shipped"}
SHIPMENT = {"kind": "shipment", "account": "shop", "external_id": "S1", "order_ref": "O1",
            "shipped_at": "2026-11-02T10:00:00Z"}


def _write(tmp_path: Path, *records: dict[str, Any], name: str = "in.jsonl") -> Path:
    f = tmp_path / name
    f.write_text("".join(json.dumps(r) + "\n" for r in records))
    return f


def _refused(store: Any, f: Path, start: str) -> None:
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value).startswith(f"{f}:{start}"), str(exc.value)
    assert "\n" not in str(exc.value)
    assert sum(store.counts().values()) == 0


def _numeric_fields() -> list[tuple[type[BaseModel], str]]:
    return [(model, name) for model in (*RECORD_TYPES.values(), OrderLine)
            for kind in (int, float, Decimal) for name in fields_of_type(model, kind)]


def test_every_number_field_is_checked() -> None:
    found = {f"{m.__name__}.{n}" for m, n in _numeric_fields()}
    assert {"Order.item_count", "Order.total", "Order.handling_days", "OrderLine.quantity", "Shipment.item_count",
            "Return.refund_amount", "ReportedMetric.value", "Rating.score_normalized"} <= found


@pytest.mark.parametrize(("model", "name"), _numeric_fields(), ids=lambda x: getattr(x, "__name__", x))
@pytest.mark.parametrize("flag", [True, False])
def test_a_boolean_is_refused_by_every_number_field(model: type[BaseModel], name: str, flag: bool) -> None:
    field = model.model_fields[name]
    annotation: Any = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    adapter: Any = TypeAdapter(annotation)  # the field as declared
    with pytest.raises(ValidationError) as exc:
        adapter.validate_python(flag)
    assert "is a boolean, not a number" in str(exc.value)


def test_item_count_true_is_refused_not_stored_as_1(store: Any, tmp_path: Path) -> None:
    _refused(store, _write(tmp_path, ORDER | {"item_count": True}),
             "1: item_count: True is a boolean, not a number")
    _refused(store, _write(tmp_path, ORDER | {"lines": [{"quantity": False}]}), "1: lines.0.quantity: False is")


def test_units_come_from_the_lines_when_not_given() -> None:
    lines = [{"quantity": 5, "category_id": "267"}, {"quantity": 2}]
    assert parse_record(ORDER | {"lines": lines}).item_count == 7  # type: ignore[union-attr]
    assert parse_record(ORDER | {"lines": lines, "item_count": 3}).item_count == 3  # type: ignore[union-attr]
    assert parse_record(ORDER).item_count == 1  # type: ignore[union-attr]  # neither: one unit
    assert parse_record(ORDER | {"lines": [{}]}).item_count == 1  # type: ignore[union-attr]  # quantity default


def test_units_from_csv_lines(store: Any, tmp_path: Path) -> None:
    f = tmp_path / "o.csv"
    f.write_text("kind,account,external_id,purchased_at,fulfilment,status,lines\n"
                 'order,shop,O1,2026-11-01T10:00:00Z,seller,shipped,"[{""quantity"": 4}]"\n')
    import_files(store, [f])
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select item_count from orders").scalar_one() == 4


@pytest.mark.parametrize(("record", "field", "earlier"), [
    (SHIPMENT | {"delivered_at": "2026-11-01T10:00:00Z"}, "delivered_at", "shipped_at"),
    (SHIPMENT | {"first_attempt_at": "2026-11-02T09:59:59Z"}, "first_attempt_at", "shipped_at"),
    ({"kind": "message", "account": "shop", "external_id": "M1", "thread_id": "T1",
      "received_at": "2026-11-02T10:00:00Z", "first_reply_at": "2026-11-02T09:00:00Z"},
     "first_reply_at", "received_at"),
    ({"kind": "claim", "account": "shop", "external_id": "C1", "claim_kind": "a_to_z",
      "opened_at": "2026-11-05T10:00:00Z", "closed_at": "2026-11-04T10:00:00Z"}, "closed_at", "opened_at"),
    ({"kind": "return", "account": "shop", "external_id": "R1", "order_ref": "O1",
      "requested_at": "2026-11-05T10:00:00Z", "resolved_at": "2026-11-04T10:00:00+02:00"},
     "resolved_at", "requested_at"),
])
def test_a_step_before_the_one_it_follows_is_refused(store: Any, tmp_path: Path, record: dict[str, Any],
                                                     field: str, earlier: str) -> None:
    f = _write(tmp_path, ORDER, record)
    _refused(store, f, f"2: {field}: ")
    with pytest.raises(InputError, match=f"is before {earlier} .*impossible order of events"):
        import_files(store, [f])


def test_equal_times_and_the_right_order_pass(store: Any, tmp_path: Path) -> None:
    f = _write(tmp_path, ORDER, SHIPMENT | {"delivered_at": "2026-11-02T10:00:00Z",
                                           "first_attempt_at": "2026-11-02T11:00:00+01:00"},
               {"kind": "return", "account": "shop", "external_id": "R1", "order_ref": "O1",
                "requested_at": "2026-11-05T10:00:00Z", "resolved_at": "2026-11-05T10:00:00Z"})
    assert import_files(store, [f]).records == 3


def test_one_record_twice_in_a_file_with_different_content_is_refused(store: Any, tmp_path: Path) -> None:
    f = _write(tmp_path, ORDER, SHIPMENT, ORDER | {"status": "delivered"})
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value) == (f"{f}:3: external_id: order 'O1' of account 'shop' is already on line 1 of this file "
                              "with different content; give each record once per file")
    assert sum(store.counts().values()) == 0


def test_two_buyers_for_one_order_in_a_file_are_refused(store: Any, tmp_path: Path) -> None:
    f = _write(tmp_path, ORDER | {"buyer_id": "b-1"}, ORDER | {"buyer_id": "b-2"})
    with pytest.raises(InputError, match=r":2: external_id: order 'O1' .* already on line 1"):
        import_files(store, [f])


def test_the_same_line_twice_is_counted_honestly(store: Any, tmp_path: Path) -> None:
    result = import_files(store, [_write(tmp_path, ORDER, ORDER)])
    assert (result.records, result.changed) == (2, 1)  # the repeat changed nothing: "1 unchanged" is true
    # the same key in another file of one import: files are applied in order, each line counted as it lands
    a, b = _write(tmp_path, ORDER | {"external_id": "O2"}, name="a.jsonl"), \
        _write(tmp_path, ORDER | {"external_id": "O2", "status": "delivered"}, name="b.jsonl")
    assert import_files(store, [a, b]).changed == 2
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("select status from orders where external_id = 'O2'").scalar_one() == "delivered"


def test_cli_refusal_is_one_line_exit_3(tmp_path: Path) -> None:
    f = _write(tmp_path, ORDER | {"item_count": True})
    db = tmp_path / "sg.db"
    (tmp_path / "empty.toml").write_text("")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "empty.toml"), "--db", f"sqlite:///{db}",
                                      "import", "--marketplace", "amazon", str(f)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 3 and lines == [f"Error: {f}:1: item_count: True is a boolean, not a number"], \
        result.output




def test_a_broken_json_line_names_its_column(tmp_path):
    """An unterminated string used to end the message mid-sentence ('Invalid control character at'): the column
    says where, on one line, exit 3, no database."""
    f = tmp_path / "bad.jsonl"
    f.write_text('{"kind": "order", "external_id": "a\n')
    db = tmp_path / "sg.db"
    (tmp_path / "empty.toml").write_text("")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "empty.toml"), "--db", f"sqlite:///{db}",
                                      "import", "--marketplace", "amazon", str(f)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 3 and len(lines) == 1 and not db.exists(), result.output
    assert lines[0].startswith(f"Error: {f}:1: not valid JSON: ") and lines[0].endswith("(column 36)"), lines[0]
