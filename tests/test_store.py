from datetime import UTC, datetime, timedelta

import pytest
from pg import pg_schema_url

from sellerguard.schema import Cancellation, Order
from sellerguard.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def orders(n, account="acc", status="shipped"):
    return [Order(account=account, external_id=f"o{i}", purchased_at=T0 + timedelta(hours=i),
                  fulfilment="seller", status=status) for i in range(n)]


def test_migrations_reach_head(store):
    assert store.schema_version() == Store.head_version()


def test_upsert_is_idempotent(store):
    assert store.write(orders(50)) == 50
    assert store.write(orders(50)) == 0
    assert store.count("order") == 50


def test_upsert_updates_changed_records(store):
    store.write(orders(3))
    assert store.write(orders(3, status="delivered")[:1]) == 1
    assert store.count("order") == 3


def test_same_external_id_in_two_accounts_are_two_records(store):
    store.write(orders(2, "a") + orders(2, "b"))
    assert store.count("order") == 4
    assert store.count("order", account="a") == 2


def test_cursor_moves_with_its_records(store):
    store.write(orders(2), {("acc", "orders"): "2026-11-01T02:00:00Z"})
    assert store.cursor("acc", "orders") == "2026-11-01T02:00:00Z"
    assert store.cursor("acc", "other") is None


def test_failure_mid_batch_leaves_neither_records_nor_cursor(store):
    store.write(orders(1), {("acc", "orders"): "c1"})
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.write(orders(10), {("acc", "orders"): "c2"})
        raise RuntimeError("connection lost")
    assert store.count("order") == 1
    assert store.cursor("acc", "orders") == "c1"


def test_connector_state_round_trip(store):
    store.put_state("acc", "refresh_token", "r2")
    assert store.state("acc", "refresh_token") == "r2"
    store.put_state("acc", "refresh_token", None)
    assert store.state("acc", "refresh_token") is None


def test_lock_is_exclusive(store):
    release = store.try_lock("daemon")
    assert release is not None
    assert store.try_lock("daemon") is None
    release()
    again = store.try_lock("daemon")
    assert again is not None
    again()


def test_unreachable_database_is_one_clear_error(tmp_path):
    from sellerguard.errors import StoreError

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the database folder"):
        Store(f"sqlite:///{tmp_path}/file/sub/x.db")
    (tmp_path / "notadb.db").write_text("garbage " * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Store(f"sqlite:///{tmp_path}/notadb.db")


@pytest.fixture
def pg_store():
    with pg_schema_url() as url:
        store = Store(url)
        yield store
        store.close()


@pytest.mark.postgres
def test_postgres_same_code_path(pg_store):
    assert pg_store.schema_version() == Store.head_version()
    assert pg_store.write(orders(20)) == 20
    assert pg_store.write(orders(20)) == 0
    pg_store.write([Cancellation(account="acc", external_id="c1", order_ref="o1", cancelled_at=T0,
                                 initiated_by="seller")], {("acc", "orders"): "x"})
    assert pg_store.count("cancellation") == 1
    assert pg_store.cursor("acc", "orders") == "x"
    with pytest.raises(RuntimeError), pg_store.transaction() as tx:
        tx.write(orders(30), {("acc", "orders"): "y"})
        raise RuntimeError("boom")
    assert pg_store.count("order") == 20
    assert pg_store.cursor("acc", "orders") == "x"
    with pg_store.lock("acc:oauth"):
        assert pg_store.try_lock("acc:oauth") is None


def test_stores_open_and_write_in_parallel_threads(tmp_path):
    """Two syncs of one account in two threads: no IntegrityError, no Alembic race."""
    import threading

    from sellerguard.schema import Account

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    errors: list[BaseException] = []

    def work(n):
        try:
            s = Store(url)
            s.upsert_accounts([Account(id="acc", marketplace="x")])
            s.put_state("acc", "token", f"t{n}")
            s.write(orders(5), {("acc", "orders"): f"c{n}"})
            s.close()
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = Store(url)
    assert check.count("order") == 5 and check.cursor("acc", "orders") in {"c0", "c1", "c2", "c3"}
    check.close()


def test_closed_postgres_port_is_one_line_without_password():
    from sellerguard.errors import StoreError

    with pytest.raises(StoreError) as err:
        Store("postgresql+psycopg://u:PGPASSW0RD@127.0.0.1:1/db")
    message = str(err.value)
    assert "\n" not in message and "PGPASSW0RD" not in message
    assert message.startswith("cannot open database postgresql+psycopg://u:***@127.0.0.1:1/db: connection failed")
