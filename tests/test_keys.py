"""The store secret: created once beside the data, never in it; subkeys per purpose; buyer keys never mixed."""

import os
import stat
import types
from datetime import UTC, datetime

import pytest
from pg import pg_schema_url
from sqlalchemy import text

from sellerguard import connectors, keys, pseudonym
from sellerguard.config import parse_config
from sellerguard.connectors.contract import Batch
from sellerguard.errors import StoreError
from sellerguard.schema import Order
from sellerguard.store import Store
from sellerguard.sync import sync_accounts

T0 = datetime(2026, 11, 1, tzinfo=UTC)
RAW_BUYER = "jane.doe-buyer-77"


def test_sqlite_key_file_is_created_beside_the_database_once(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    before = set(os.listdir(tmp_path))
    secret = keys.store_secret(store)
    path = tmp_path / "sg.db.key"
    assert keys.key_location(store) == str(path)
    assert set(os.listdir(tmp_path)) - before == {"sg.db.key"}  # nothing else in the folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == secret.hex() and len(secret) == 32
    assert keys.store_secret(store) == secret
    store.close()
    again = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    assert keys.store_secret(again) == secret  # a later run uses the same key
    again.close()


def test_subkeys_differ_per_purpose_and_are_stable():
    secret = bytes(range(32))
    buyer, token = keys.subkey(secret, "buyer-key"), keys.subkey(secret, "token-encryption")
    assert buyer != token and len(buyer) == len(token) == 32
    assert keys.subkey(secret, "buyer-key") == buyer
    assert keys.subkey(bytes(32), "buyer-key") != buyer
    assert len(keys.subkey(secret, "x", length=80)) == 80


def test_hkdf_matches_rfc5869_test_case_1():
    okm = keys.hkdf_sha256(bytes.fromhex("0b" * 22), salt=bytes.fromhex("000102030405060708090a0b0c"),
                           info=bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), length=42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_buyer_secret_is_the_buyer_key_subkey(store):
    assert keys.buyer_secret(store) == keys.subkey(keys.store_secret(store), "buyer-key")
    assert keys.store_subkey(store, "token-encryption") == keys.subkey(keys.store_secret(store), "token-encryption")


def test_in_memory_store_gets_a_secret_for_its_lifetime():
    store = Store("sqlite:///:memory:")
    assert keys.key_location(store) == "memory"
    assert keys.store_secret(store) == keys.store_secret(store)
    store.close()


def test_env_reference(store, monkeypatch):
    keys.configure(store, key="env:SG_TEST_STORE_KEY")
    with pytest.raises(StoreError, match="environment variable SG_TEST_STORE_KEY is not set"):
        keys.store_secret(store)
    monkeypatch.setenv("SG_TEST_STORE_KEY", "not hex")
    with pytest.raises(StoreError, match="64 hex characters expected") as err:
        keys.store_secret(store)
    assert "not hex" not in str(err.value)  # the value is never echoed
    monkeypatch.setenv("SG_TEST_STORE_KEY", "ab" * 32)
    assert keys.store_secret(store) == bytes.fromhex("ab" * 32)
    with pytest.raises(StoreError, match="env:NAME"):
        keys.configure(store, key="ab" * 32)  # the key itself in the config is refused


def test_config_store_key_setting():
    assert parse_config({"store": {"key": "env:SG_KEY"}}).store.key == "env:SG_KEY"
    assert parse_config({"store": {"key": "file:keys/sg.key"}}).store.key == "file:keys/sg.key"
    from sellerguard.errors import ConfigError

    with pytest.raises(ConfigError, match=r"store\.key"):
        parse_config({"store": {"key": "ab" * 32}})


def test_file_reference_is_relative_to_the_config(store, tmp_path):
    keys.configure(store, key="file:keys/sg.key", config_path=tmp_path / "etc" / "sellerguard.toml")
    (tmp_path / "etc" / "keys").mkdir(parents=True)
    secret = keys.store_secret(store)
    assert (tmp_path / "etc" / "keys" / "sg.key").read_text().strip() == secret.hex()


def _order(buyer_key=None, n=1):
    return Order(account="acc", external_id=f"o{n}", purchased_at=T0, fulfilment="seller", status="shipped",
                 buyer_key=buyer_key)


def test_a_wrong_key_is_refused_and_a_lost_key_restarts_buyer_keys(tmp_path, caplog):
    db = tmp_path / "sg.db"
    store = Store(f"sqlite:///{db}")
    key = pseudonym.buyer_key(keys.buyer_secret(store), "ebay", RAW_BUYER)
    store.write([_order(key)])
    store.close()

    keyfile = tmp_path / "sg.db.key"
    good = keyfile.read_text()
    keyfile.write_text("cd" * 32 + "\n")  # someone else's key
    store = Store(f"sqlite:///{db}")
    with pytest.raises(StoreError, match="is not the key this database's buyer keys were made with"):
        keys.buyer_secret(store)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT buyer_key FROM orders")).scalar() == key  # nothing changed
    store.close()

    keyfile.unlink()  # lost (or moved away to rotate)
    store = Store(f"sqlite:///{db}")
    new = keys.buyer_secret(store)
    assert keyfile.read_text() != good
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT buyer_key FROM orders")).scalar() is None  # never mixed with new keys
    assert "per-buyer counts restart" in caplog.text
    # re-syncing the order stores the new key (the row's hash includes it)
    assert store.write([_order(pseudonym.buyer_key(new, "ebay", RAW_BUYER))]) == 1
    store.close()


def test_unreadable_key_file_is_one_error(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sg.db'}")
    (tmp_path / "sg.db.key").mkdir()  # a folder where the file should be
    with pytest.raises(StoreError, match="cannot read the store key file"):
        keys.store_secret(store)
    store.close()


def _scan(store):
    """Every text value in every table of the store."""
    from sqlalchemy import inspect

    found = []
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                found.extend(str(v) for v in row)
    return "\n".join(found)


def test_sync_passes_the_store_buyer_secret_and_no_raw_id_reaches_the_store(store, clock, monkeypatch):
    seen = {}

    def fetch(ctx, stream, cursor):
        seen["secret"] = ctx.buyer_secret
        yield Batch([_order(ctx.buyer_key(RAW_BUYER))], cursor="1")

    monkeypatch.setattr(connectors, "get", lambda mp: types.SimpleNamespace(
        MARKETPLACE="ebay", STREAMS=("orders",), fetch=fetch))
    config = parse_config({"accounts": [{"id": "acc", "marketplace": "ebay"}]})
    [outcome] = sync_accounts(config, store, clock=clock)
    assert outcome.ok, outcome.error
    assert seen["secret"] == keys.buyer_secret(store) != b"sellerguard-test-secret"
    dump = _scan(store)
    assert pseudonym.buyer_key(keys.buyer_secret(store), "ebay", RAW_BUYER) in dump
    assert RAW_BUYER not in dump
    assert keys.store_secret(store).hex() not in dump and keys.buyer_secret(store).hex() not in dump


@pytest.mark.postgres
def test_postgres_key_file_beside_the_config(tmp_path):
    with pg_schema_url("sg_keys") as url:
        store = Store(url)
        try:
            keys.configure(store, config_path=tmp_path / "sellerguard.toml")
            secret = keys.store_secret(store)
            assert keys.key_location(store) == str(tmp_path / "sellerguard.key")
            assert (tmp_path / "sellerguard.key").read_text().strip() == secret.hex()
            assert store.state("_store", "key-fingerprint") == keys.fingerprint(secret)
            assert secret.hex() not in _scan(store)
        finally:
            store.close()


def test_adopt_makes_a_changed_env_key_the_stores_own(store, monkeypatch):
    keys.configure(store, key="env:SG_TEST_STORE_KEY")
    monkeypatch.setenv("SG_TEST_STORE_KEY", "ab" * 32)
    store.write([_order(pseudonym.buyer_key(keys.buyer_secret(store), "ebay", RAW_BUYER))])
    monkeypatch.setenv("SG_TEST_STORE_KEY", "cd" * 32)
    keys._CHECKED.pop(store, None)  # a new process
    with pytest.raises(StoreError, match="env:SG_TEST_STORE_KEY"):
        keys.store_secret(store)
    assert keys.adopt(store) == keys.fingerprint(bytes.fromhex("cd" * 32))
    assert keys.store_secret(store) == bytes.fromhex("cd" * 32)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT buyer_key FROM orders")).scalar() is None


def test_postgres_default_key_folder_is_created_when_missing(tmp_path, monkeypatch):
    """No config file and no config folder yet (a daemon started with --db only): the folder is made, 0700."""
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    keyfile = tmp_path / "cfg" / "sellerguard" / "sellerguard.key"
    monkeypatch.setattr(keys, "_location", lambda s: ("file", str(keyfile)))
    keys.store_secret(store)
    assert stat.S_IMODE((tmp_path / "cfg" / "sellerguard").stat().st_mode) == 0o700
    store.close()
