import gzip
import json
import os
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


# -- encodings, corrupt gzip, plausibility, new facts, buyer ids ------------------------------------------

# the field cases live outside the repo, beside it (as tests/conftest.py's SPECS); SELLERGUARD_FIELD_CASES moves them
REPO = Path(__file__).resolve().parents[1]
FIELD_CASES = Path(os.environ.get("SELLERGUARD_FIELD_CASES", REPO.parent / "shared" / "field-cases"))
HANDMADE = Path(__file__).resolve().parent / "fixtures" / "import"


def order_line(**kw):
    base = {"kind": "order", "account": "shop", "external_id": "1", "purchased_at": "2026-11-01T10:00:00Z",
            "fulfilment": "seller", "status": "shipped"}
    return json.dumps({**base, **kw})


def test_excel_csv_with_a_byte_order_mark_imports(store, tmp_path):
    case = FIELD_CASES / "messages_excel_bom.csv"
    if not case.is_file():
        pytest.skip(f"field case not found at {case} (set SELLERGUARD_FIELD_CASES to the shared/field-cases folder)")
    assert case.read_bytes().startswith(b"\xef\xbb\xbfkind,")
    result = import_files(store, [case])
    assert result.records == result.changed == store.count("message", account="etsy-field") > 0


def test_handmade_excel_csv_with_a_byte_order_mark_and_crlf_imports(store):
    # the same path in every clone: BOM before the header, CRLF line ends, an empty first_reply_at (unanswered)
    case = HANDMADE / "messages_excel_bom.csv"
    assert case.read_bytes().startswith(b"\xef\xbb\xbfkind,") and b"\r\n" in case.read_bytes()
    result = import_files(store, [case])
    assert result.records == result.changed == store.count("message", account="bom-shop") == 3


def test_byte_order_mark_in_jsonl_and_gzip(store, tmp_path):
    f = tmp_path / "bom.jsonl.gz"
    f.write_bytes(gzip.compress(b"\xef\xbb\xbf" + order_line().encode() + b"\n"))
    assert import_files(store, [f]).changed == 1


def test_other_encodings_name_the_line_and_the_encoding_expected(store, tmp_path):
    f = tmp_path / "sjis.csv"
    f.write_bytes("kind,account,external_id,thread_id,received_at\n"
                  "message,shop,M1,T1,2026-11-20T09:00:00Z\n"
                  "message,shop,M2,スレッド,2026-11-20T09:00:00Z\n".encode("cp932"))
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value).startswith(f"{f}:3: not UTF-8 text: byte 0x")
    assert "save the file as UTF-8" in str(exc.value)
    u16 = tmp_path / "unicode.csv"
    u16.write_bytes("kind,account\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"unicode\.csv:1: the file is UTF-16/UTF-32 text; save it as UTF-8"):
        import_files(store, [u16])
    assert total(store) == 0


@pytest.mark.parametrize("content", [
    b"\x1f\x8b\x08\x00garbage after a gzip magic number" * 3,  # corrupt deflate data
    b"this is not gzip at all\n",  # not gzip
    gzip.compress((order_line() + "\n").encode() * 1000, mtime=0)[:60],  # truncated
    b"",  # empty
])
def test_corrupt_gzip_is_one_error_and_nothing_is_written(store, tmp_path, content):
    good = tmp_path / "good.jsonl"
    good.write_text(order_line() + "\n")
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(content)
    if not content:
        assert import_files(store, [good, bad]).records == 1  # an empty .gz is an empty file: fine
        return
    with pytest.raises(InputError) as exc:
        import_files(store, [good, bad])
    message = str(exc.value)
    assert message.startswith(f"{bad}: ") and "gzip" in message and "nothing was imported" in message
    assert "\n" not in message and "Traceback" not in message
    assert total(store) == 0


@pytest.mark.parametrize(("record", "message"), [
    (order_line(purchased_at="9999-01-01T00:00:00Z"), "purchased_at: '9999-01-01T00:00:00+00:00' is more than 3 days"),
    ('{"kind": "return", "account": "shop", "external_id": "r", "order_ref": "1", '
     '"requested_at": "2026-11-01T00:00:00Z", "refund_amount": "-50"}',
     "refund_amount: Input should be greater than or equal to 0 (value '-50')"),
    ('{"kind": "reported_metric", "account": "shop", "external_id": "m", "metric_id": "amazon.odr", '
     '"value": Infinity, "as_of": "2026-11-01T00:00:00Z"}', "value: Input should be a finite number (value inf)"),
    ('{"kind": "reported_metric", "account": "shop", "external_id": "m", "metric_id": "amazon.odr", '
     '"value": 1.7, "as_of": "2026-11-01T00:00:00Z"}', "value: 1.7 for amazon.odr, a rate"),
    (order_line(external_id="nan"), "external_id: 'nan' is a null written as text"),
    (order_line(buyer_country="XX"), "buyer_country: 'XX' is not an ISO 3166-1 alpha-2 country code"),
    (order_line(item_count=-3), "item_count: Input should be greater than or equal to 0 (value -3)"),
    (order_line(paid_at="2026-11-01T10:00:00"), "paid_at: naive datetime"),
    (order_line(seller_timezone="Europe/Atlantis"), "seller_timezone: 'Europe/Atlantis' is not an IANA time zone"),
    (order_line(lines=[{"quantity": -1}]), "lines.0.quantity: Input should be greater than or equal to 0"),
])
def test_implausible_values_are_refused_naming_field_and_value(store, tmp_path, record, message):
    f = tmp_path / "x.jsonl"
    f.write_text(record + "\n")
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value).startswith(f"{f}:1: {message}"), str(exc.value)
    assert total(store) == 0


def test_new_facts_import_from_jsonl_and_csv(store, tmp_path):
    from sqlmodel import Session, select

    from sellerguard.store.tables import OrderRow

    f = tmp_path / "facts.jsonl"
    f.write_text(order_line(buyer_country="US", paid_at="2026-11-01T10:30:00-05:00", handling_days=1,
                            seller_timezone="America/New_York", order_type="NORMAL", items_subtotal="20.00",
                            lines=[{"line_id": "L1", "quantity": 2, "category_id": "171485", "category_name": "Books"}])
                 + "\n")
    c = tmp_path / "facts.csv"
    c.write_text('kind,account,external_id,purchased_at,fulfilment,status,buyer_country,lines\n'
                 'order,shop,2,2026-11-01T10:00:00Z,seller,shipped,DE,"[{""quantity"": 3, ""category_id"": ""9""}]"\n')
    assert import_files(store, [f, c]).changed == 2
    with Session(store.engine) as s:
        rows = {r.external_id: r for r in s.exec(select(OrderRow))}
    assert rows["1"].lines == [{"line_id": "L1", "quantity": 2, "category_id": "171485", "category_name": "Books"}]
    assert rows["1"].handling_days == 1 and rows["1"].items_subtotal == "20.00"
    assert rows["2"].lines == [{"line_id": None, "quantity": 3, "category_id": "9", "category_name": None}]
    assert rows["2"].buyer_country == "DE"


def test_raw_buyer_ids_are_keyed_with_the_store_secret_and_never_stored(store, tmp_path):
    from sellerguard import keys, pseudonym
    from sellerguard.schema import Account

    store.upsert_accounts([Account(id="shop", marketplace="ebay")])
    f = tmp_path / "buyers.jsonl"
    f.write_text("\n".join(order_line(external_id=str(n), buyer_id=f"buyer-raw-{n % 2}") for n in range(4)) + "\n"
                 + order_line(external_id="k", buyer_key="ab" * 32) + "\n")
    assert import_files(store, [f]).changed == 5
    expected = pseudonym.buyer_key(keys.buyer_secret(store), "ebay", "buyer-raw-1")  # as ctx.buyer_key would
    with store.engine.connect() as conn:
        from sqlalchemy import text

        keys_stored = [r[0] for r in conn.execute(text("SELECT buyer_key FROM orders ORDER BY external_id"))]
        from sqlalchemy import inspect

        dump = "".join(str(v) for t in inspect(conn).get_table_names()
                       for row in conn.execute(text(f'SELECT * FROM "{t}"')) for v in row)
    assert keys_stored == [keys_stored[0], expected, keys_stored[0], expected, "ab" * 32]
    assert "buyer-raw" not in dump
    # configured marketplaces win for accounts not synced yet
    other = tmp_path / "other.jsonl"
    other.write_text(order_line(account="etsy-1", buyer_id="buyer-raw-1") + "\n")
    import_files(store, [other], marketplaces={"etsy-1": "etsy"})
    with store.engine.connect() as conn:
        got = conn.execute(text("SELECT buyer_key FROM orders WHERE account = 'etsy-1'")).scalar()
    assert got == pseudonym.buyer_key(keys.buyer_secret(store), "etsy", "buyer-raw-1")


@pytest.mark.parametrize(("extra", "message"), [
    ({"buyer_id": "b1", "buyer_key": "ab" * 32}, "buyer_id: give buyer_id or buyer_key, not both"),
    ({"buyer_id": ["b1"]}, "buyer_id: must be text (the marketplace's buyer id)"),
])
def test_buyer_id_mistakes(store, tmp_path, extra, message):
    f = tmp_path / "x.jsonl"
    f.write_text(order_line(**extra) + "\n")
    with pytest.raises(InputError) as exc:
        import_files(store, [f])
    assert str(exc.value) == f"{f}:1: {message}" and "b1" not in str(exc.value)


def test_the_csv_example_in_the_docs_imports(store, tmp_path):
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "import-format.md").read_text()
    f = tmp_path / "doc.csv"
    f.write_text(re.search(r"```csv\n(.*?)```", text, re.S).group(1))
    assert import_files(store, [f]).changed == 2


def test_example_file_carries_the_rule_facts():
    rows = [json.loads(line) for line in EXAMPLE.read_text().splitlines()]
    present = {k for r in rows for k in r}
    assert {"buyer_key", "buyer_country", "paid_at", "handling_days", "seller_timezone", "order_type",
            "items_subtotal", "lines", "tracking_uploaded_at", "first_scan_at", "first_attempt_at", "processed_at",
            "marketplace_flag", "reason_category"} <= present
    assert "buyer_id" not in present
