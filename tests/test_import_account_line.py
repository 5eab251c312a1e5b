"""Issue 18 (review): an ``account`` line of an import is held to the config's rules, like a record's ``account``.

Before, ``{"kind": "account", "id": "x\\u0001y"}`` registered an account no config could name, and a display name
with a terminal escape or a bidi override was stored as is (the dashboard shows it).
Also: a folder named ``x.jsonl`` was
reported as "no such file".
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from sellerguard.errors import InputError
from sellerguard.importer import import_files
from sellerguard.store.tables import AccountRow


@pytest.mark.parametrize(("line", "message"), [
    ({"id": "x\u0001y"}, "id: 'x\\x01y' is not an account id"),
    ({"id": "my shop"}, "id: 'my shop' is not an account id"),
    ({"id": "ok", "display_name": "\u001b[31mred"}, "display_name: '\\x1b[31mred' is empty or holds a control"),
    ({"id": "ok", "display_name": "shop\u202eevil"}, "display_name: 'shop\\u202eevil' is empty or holds"),
    ({"id": "ok", "seller_id": " "}, "seller_id: ' ' is empty"),
])
def test_account_line_with_an_id_or_name_no_config_could_hold_is_refused(store, tmp_path, line, message):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"kind": "account", "marketplace": "amazon", **line}) + "\n")
    with pytest.raises(InputError) as exc:
        import_files(store, [path])
    assert str(exc.value).startswith(f"{path}:1: {message}"), str(exc.value)
    assert "\n" not in str(exc.value)
    with Session(store.engine) as session:
        assert session.exec(select(AccountRow)).all() == []


def test_a_plain_account_line_still_registers(store, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"kind": "account", "id": "my-shop.2", "marketplace": "amazon",
                                "display_name": "Mein Laden 😀", "seller_id": "A1B2C3"}) + "\n")
    assert import_files(store, [path]).registered == {"my-shop.2": "amazon"}


def test_a_folder_named_like_a_data_file_is_not_called_missing(store, tmp_path):
    folder = tmp_path / "orders.jsonl"
    folder.mkdir()
    with pytest.raises(InputError) as exc:
        import_files(store, [folder])
    assert str(exc.value) == f"{folder}: cannot read: a folder, not a file"
    with pytest.raises(InputError) as exc:
        import_files(store, [tmp_path / "gone.jsonl"])
    assert str(exc.value).endswith(": no such file")
