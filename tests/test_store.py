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


# -- migration 0003: the facts the rules need -------------------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url_at(backend, tmp_path, stack):
    if backend == "postgres":
        return stack.enter_context(pg_schema_url("sg_mig"))
    return f"sqlite:///{tmp_path / 'old.db'}"


def _store_at_0002_with_data(url):
    """A store as the previous release left it: schema 0002, one row in each table the migration touches."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from sellerguard.store.db import _alembic_config

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002")
    with engine.begin() as conn:
        t = T0.replace(tzinfo=None) if engine.dialect.name == "sqlite" else T0
        conn.execute(text("INSERT INTO orders (account, external_id, raw_hash, purchased_at, fulfilment, status, "
                          "total, currency, item_count) VALUES ('acc', 'o1', 'h1', :t, 'seller', 'shipped', "
                          "'12.50', 'EUR', 2)"), {"t": t})
        conn.execute(text("INSERT INTO shipment (account, external_id, order_ref, shipped_at, item_count) "
                          "VALUES ('acc', 's1', 'o1', :t, 2)"), {"t": t})
        conn.execute(text("INSERT INTO cancellation (account, external_id, order_ref, cancelled_at, initiated_by, "
                          "buyer_requested) VALUES ('acc', 'c1', 'o1', :t, 'buyer', true)"), {"t": t})
        conn.execute(text("INSERT INTO message (account, external_id, thread_id, received_at, needs_reply, sender) "
                          "VALUES ('acc', 'm1', 't1', :t, true, 'buyer')"), {"t": t})
        conn.execute(text("INSERT INTO return_request (account, external_id, order_ref, requested_at, "
                          "refund_amount) VALUES ('acc', 'r1', 'o1', :t, '3.00')"), {"t": t})
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0003_upgrades_a_store_with_data_in_place(backend, tmp_path):
    from contextlib import ExitStack

    from sqlmodel import Session, select

    from sellerguard.schema import Message, OrderLine, Return, Shipment
    from sellerguard.store.tables import CancellationRow, MessageRow, OrderRow, ReturnRow, ShipmentRow

    with ExitStack() as stack:
        url = _url_at(backend, tmp_path, stack)
        _store_at_0002_with_data(url)
        store = Store(url)
        stack.callback(store.close)
        assert store.schema_version() == Store.head_version() >= "0003"  # 0004 (alerts) follows
        with Session(store.engine) as s:
            old = s.exec(select(OrderRow)).one()
            assert (old.external_id, old.purchased_at, old.total, old.item_count) == ("o1", T0, "12.50", 2)
            assert old.lines == [] and old.buyer_key is None and old.paid_at is None
            assert s.exec(select(ShipmentRow)).one().first_attempt_at is None
            assert s.exec(select(CancellationRow)).one().buyer_requested is True
            assert s.exec(select(MessageRow)).one().marketplace_flag is None
            assert s.exec(select(ReturnRow)).one().refund_amount == "3.00"
        lines = (OrderLine(line_id="l1", quantity=2, category_id="123", category_name="Books"),
                 OrderLine(line_id="l2", quantity=1, category_id="9", category_name="Toys & Games"))
        full = Order(account="acc", external_id="o1", purchased_at=T0, fulfilment="seller", status="shipped",
                     buyer_key="ab" * 32, buyer_country="US", paid_at=T0 + timedelta(minutes=5), handling_days=2,
                     seller_timezone="America/Los_Angeles", order_type="NORMAL", items_subtotal="19.99",
                     lines=lines, item_count=3)
        facts = [
            full,
            Shipment(account="acc", external_id="s1", order_ref="o1", shipped_at=T0,
                     tracking_uploaded_at=T0 + timedelta(hours=1), first_scan_at=T0 + timedelta(hours=5),
                     first_attempt_at=T0 + timedelta(days=2)),
            Cancellation(account="acc", external_id="c1", order_ref="o1", cancelled_at=T0, initiated_by="buyer",
                         processed_at=T0 + timedelta(hours=3)),
            Message(account="acc", external_id="m1", thread_id="t1", received_at=T0, marketplace_flag="spam"),
            Return(account="acc", external_id="r1", order_ref="o1", requested_at=T0, reason="DEFECTIVE",
                   reason_category="not_as_described"),
        ]
        assert store.write(facts) == 5  # the new facts reach the old rows
        assert store.write(facts) == 0  # and writing them again changes nothing
        with Session(store.engine) as s:
            row = s.exec(select(OrderRow)).one()
            back = Order.model_validate({k: v for k, v in row.model_dump().items() if k not in ("id", "raw_hash")})
            assert back == full
            assert row.lines[1] == {"line_id": "l2", "quantity": 1, "category_id": "9",
                                    "category_name": "Toys & Games"}
            assert s.exec(select(ShipmentRow)).one().first_attempt_at == T0 + timedelta(days=2)
            assert s.exec(select(CancellationRow)).one().processed_at == T0 + timedelta(hours=3)
            assert s.exec(select(MessageRow)).one().marketplace_flag == "spam"
            assert s.exec(select(ReturnRow)).one().reason_category == "not_as_described"
        changed = full.model_copy(update={"lines": lines[:1]})
        assert store.write([changed]) == 1  # a change inside lines is a change


def test_same_payload_hash_normalized_differently_updates_the_row(store):
    """A connector's raw_hash is the payload's: a new code version filling a new fact must still store it."""
    base = dict(account="acc", external_id="o1", purchased_at=T0, fulfilment="seller", status="shipped",
                raw_hash="f" * 64)
    assert store.write([Order(**base)]) == 1
    assert store.write([Order(**base)]) == 0
    assert store.write([Order(**base, buyer_country="US")]) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_lines_are_queryable_per_category_in_sql(backend, tmp_path):
    """What a per-category rule reads: units per category_id from orders.lines (json_each / jsonb_array_elements)."""
    from pg import store_on
    from sqlalchemy import text

    from sellerguard.schema import OrderLine

    gen = store_on(backend, tmp_path, "sg_lines")
    store = next(gen)
    try:
        store.write([
            Order(account="acc", external_id="o1", purchased_at=T0, fulfilment="seller", status="shipped",
                  lines=(OrderLine(quantity=2, category_id="267"), OrderLine(quantity=1, category_id="1249"))),
            Order(account="acc", external_id="o2", purchased_at=T0, fulfilment="seller", status="shipped",
                  lines=(OrderLine(quantity=3, category_id="267"),)),
            Order(account="acc", external_id="o3", purchased_at=T0, fulfilment="seller", status="shipped"),
        ])
        if store.dialect == "sqlite":
            sql = ("SELECT json_extract(l.value, '$.category_id') AS cat, SUM(json_extract(l.value, '$.quantity')) "
                   "FROM orders, json_each(orders.lines) AS l GROUP BY cat ORDER BY cat")
        else:
            sql = ("SELECT l->>'category_id' AS cat, SUM((l->>'quantity')::int) "
                   "FROM orders, jsonb_array_elements(orders.lines) AS l GROUP BY cat ORDER BY cat")
        with store.engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(text(sql))] == [("1249", 1), ("267", 5)]
    finally:
        next(gen, None)


def test_sqlite_write_stores_what_sqlalchemy_would(store):
    """SQLite writes bypass SQLAlchemy's per-value bind processing (issue 21): the stored text must be the same."""
    from datetime import timezone
    from decimal import Decimal

    from sqlalchemy import text

    from sellerguard.schema import OrderLine, Shipment
    from sellerguard.store.db import _row
    from sellerguard.store.tables import OrderRow, ShipmentRow

    berlin = timezone(timedelta(hours=1))
    records = [
        Order(account="acc", external_id="o1", purchased_at=datetime(2026, 11, 1, 10, 0, 0, 1234, tzinfo=berlin),
              ship_by=T0, fulfilment="seller", status="shipped", total=Decimal("12.50"), currency="EUR",
              lines=(OrderLine(line_id="l1", quantity=2, category_name="Bücher"),)),
        Shipment(account="acc", external_id="s1", order_ref="o1", shipped_at=T0, tracking_validated=True,
                 carrier="DHL"),
    ]
    assert store.write(records) == 2
    with store.engine.begin() as conn:
        for record, table in zip(records, (OrderRow, ShipmentRow), strict=True):
            conn.execute(table.__table__.insert(), {**_row(record), "external_id": "copy"})
            name = table.__tablename__
            ours, theirs = (conn.execute(text(f"SELECT * FROM {name} WHERE external_id = :e"), {"e": e}).mappings()
                            .one() for e in (record.external_id, "copy"))
            assert {k: v for k, v in ours.items() if k not in ("id", "external_id")} == \
                {k: v for k, v in theirs.items() if k not in ("id", "external_id")}
        assert conn.execute(text("SELECT purchased_at FROM orders WHERE external_id = 'o1'")).scalar() == \
            "2026-11-01 09:00:00.001234"


def test_sqlite_lock_files_do_not_stay_and_locks_still_exclude(store):
    """A lock file exists only while its lock is held (one per lock name piled up beside the database); removing
    it must not let two holders in: a waiter that locked the removed file retries on the current one."""
    import threading
    import time
    from pathlib import Path

    folder = Path(store.engine.url.database).parent
    with store.lock("a"):
        assert len(list(folder.glob("*.lock"))) == 1
    release = store.try_lock("b")
    assert store.try_lock("b") is None
    release()
    with store.lock("state:x:y"):
        pass
    assert list(folder.glob("*.lock")) == []

    counter, inside, overlaps = [0], [0], []

    def work() -> None:
        done = 0
        while done < 150:
            release = store.try_lock("n")
            if release is None:
                time.sleep(0)
                continue
            inside[0] += 1
            if inside[0] != 1:
                overlaps.append(inside[0])
            value = counter[0]
            time.sleep(0)
            counter[0] = value + 1
            inside[0] -= 1
            release()
            done += 1

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (counter[0], overlaps) == (450, [])
    assert list(folder.glob("*.lock")) == []


def test_busy_accounts_are_those_with_volume_in_the_last_days(store):
    """Where day rollups turn on by themselves (rules.rollup): enough orders within the days before the newest."""
    from sellerguard.store.rollups import busy

    with store.session() as session:
        assert not busy(session, "acc", orders=3)
    store.write([*orders(3), Order(account="acc", external_id="old", purchased_at=T0 - timedelta(days=200),
                                   fulfilment="seller", status="shipped")])
    with store.session() as session:
        assert busy(session, "acc", orders=3, days=90)
        assert not busy(session, "acc", orders=4, days=90)  # the fourth is 200 days older than the newest
        assert busy(session, "acc", orders=4, days=365)
        assert not busy(session, "other", orders=1)


@pytest.mark.postgres
def test_postgres_update_state_takes_one_connection_and_excludes(pg_store):
    """A shared rate bucket's take: lock and read-modify-write on one pooled connection (workers ran out of
    PostgreSQL connections with two per take), still exclusive across threads."""
    import threading

    held = []

    def bump(old):
        held.append(pg_store.engine.pool.checkedout())
        return str(int(old or 0) + 1), None

    def work():
        for _ in range(10):
            pg_store.update_state("acc", "n", bump)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert pg_store.state("acc", "n") == "30"
    assert pg_store.update_state("acc", "n", lambda old: (old, pg_store.engine.pool.checkedout())) == 1


@pytest.mark.postgres
def test_postgres_cursor_state_and_stored_updates_through_plain_statements(pg_store):
    """The prepared statements that replaced ORM sessions per call (cursor, state, SyncContext.stored) on PostgreSQL."""
    from sellerguard.sync import stored_updates

    updated = [o.model_copy(update={"updated_at": T0 + timedelta(days=1)}) for o in orders(3)]
    assert pg_store.write(updated, {("acc", "orders"): "c1"}, now=T0) == 3
    assert pg_store.write(updated[:1], {("acc", "orders"): "c2"}, now=T0) == 0
    assert pg_store.cursor("acc", "orders") == "c2"
    assert stored_updates(pg_store, "acc", "order", ["o0", "o2", "nope"]) == {
        "o0": T0 + timedelta(days=1), "o2": T0 + timedelta(days=1)}
    pg_store.put_state("acc", "k", "v")
    assert pg_store.state("acc", "k") == "v"
    pg_store.put_state("acc", "k", None)
    assert pg_store.state("acc", "k") is None
