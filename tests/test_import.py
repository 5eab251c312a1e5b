import gzip
import json
import shutil
from pathlib import Path

import pytest

from sellerguard.errors import InputError
from sellerguard.importer import import_files

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "canonical-1000.jsonl"


def total(store):
    return sum(store.counts().values())


def test_example_file_twice_leaves_exactly_1000_records(store):
    first = import_files(store, [EXAMPLE])
    assert (first.records, first.changed) == (1000, 1000)
    second = import_files(store, [EXAMPLE])
    assert (second.records, second.changed) == (1000, 0)
    assert total(store) == 1000


def test_one_bad_line_imports_nothing_and_names_file_line_field(store, tmp_path):
    lines = EXAMPLE.read_text().splitlines()
    bad = json.loads(lines[500])
    bad["purchased_at" if bad["kind"] == "order" else "account"] = "2026-11-01T10:00:00" if bad[
        "kind"] == "order" else ""
    lines[500] = json.dumps(bad)
    f = tmp_path / "bad.jsonl"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value).startswith(f"{f}:501: ")
    assert total(store) == 0


def test_gzip_and_csv(store, tmp_path):
    gz = tmp_path / "records.jsonl.gz"
    with EXAMPLE.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert import_files(store, [gz]).records == 1000
    csv_file = tmp_path / "more.csv"
    csv_file.write_text(
        "kind,account,external_id,purchased_at,fulfilment,status,order_ref,cancelled_at,initiated_by\n"
        "order,csv-shop,A1,2026-11-01T10:00:00Z,seller,cancelled,,,\n"
        "cancellation,csv-shop,A1-c,,,,A1,2026-11-01T12:00:00+01:00,seller\n"
    )
    assert import_files(store, [csv_file]).changed == 2
    assert store.count("cancellation", account="csv-shop") == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", '{"kind": "order"\n', "x.jsonl:1: not valid JSON"),
        ("x.jsonl", "[1, 2]\n", "x.jsonl:1: each line must be a JSON object"),
        ("x.jsonl", '{"kind": "order", "account": "a", "external_id": "1", "purchased_at": "2026-01-01T00:00:00Z",'
                    ' "fulfilment": "robot", "status": "shipped"}\n', "x.jsonl:1: fulfilment: Input should be"),
        ("x.jsonl", '{"kind": "parcel", "account": "a"}\n', "x.jsonl:1: kind: Input tag 'parcel'"),
        ("x.csv", "account,external_id\na,1\n", "x.csv:1: the CSV header must include a 'kind' column"),
        ("x.txt", "hello\n", "x.txt: unknown format"),
    ],
)
def test_malformed_input_is_one_line_with_location(store, tmp_path, name, content, message):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value).startswith(str(tmp_path / message.split(":")[0]) + message[len(message.split(":")[0]):])
    assert "\n" not in str(exc.value)
    assert total(store) == 0


def test_truncated_gzip_is_a_clear_error(store, tmp_path):
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(EXAMPLE.read_bytes())[:5000])
    with pytest.raises(InputError, match=r"cut\.jsonl\.gz: cannot read"):
        import_files(store, [gz])
    assert total(store) == 0


def test_account_that_no_config_could_name_is_refused(store, tmp_path):
    f = tmp_path / "acct.jsonl"
    record = {"kind": "order", "account": "my shop/../x", "external_id": "1",
              "purchased_at": "2026-08-26T01:47:18Z", "fulfilment": "seller", "status": "shipped"}
    f.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value) == (f"{f}:1: account: 'my shop/../x' is not an account id "
                              "(letters, digits, '_', '.', '-', as in the config)")
    assert total(store) == 0
