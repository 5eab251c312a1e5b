"""Issue 17/16 end to end on the loopback sandbox, on a small world (a fifth of the orders) to stay fast:
Amazon's German feedback report, a Japanese cp932 All Orders backfill, sub-statuses, the 403 whose expiry is only
in ``details``, a report document of the wrong kind, catalog categories; Walmart buyer keys, countries, reasons."""

from __future__ import annotations

import gzip
from collections import Counter

import pytest
from db_templates import sqlite_copy
from sqlmodel import select

from sellerguard.config import parse_config
from sellerguard.connectors import amazon, walmart
from sellerguard.sandbox import Sandbox
from sellerguard.sandbox.amazon import orders_tsv
from sellerguard.sandbox.world import World
from sellerguard.store import Store
from sellerguard.store.tables import OrderRow, ReturnRow, ShipmentRow
from sellerguard.sync import sync_account

pytestmark = pytest.mark.slow
ACCOUNTS = [("amazon-us", "amazon", "drifting", "ATVPDKIKX0DER", "USD", 40, 0.35),
            ("amazon-de", "amazon", "healthy", "A1PA6795UKMFR9", "EUR", 20, 0.5),
            ("walmart-us", "walmart", "drifting", "US", "USD", 20, 0.3)]


@pytest.fixture
def box(clock):
    with Sandbox(World(clock.now(), scale=0.2, accounts=ACCOUNTS), clock=clock) as sandbox:
        yield sandbox


@pytest.fixture
def db(tmp_path):
    store = Store(f"sqlite:///{sqlite_copy(tmp_path / 'q.db')}")  # migrated once per process (db_templates)
    yield store
    store.close()


def _account(box, account_id: str):
    module = walmart if account_id.startswith("walmart") else amazon
    return parse_config({"accounts": [module.sandbox_account(box.base_url(module.MARKETPLACE), account_id)]},
                        where="t").accounts[0]


def _sync(box, db, clock, account_id: str, *streams: str):
    return sync_account(_account(box, account_id), db, clock=clock, sleep=clock.sleep, streams=list(streams))


def test_german_feedback_report_and_sub_statuses_and_categories(box, db, clock):
    outcome = _sync(box, db, clock, "amazon-de", "orders", "feedback")
    assert outcome.ok, outcome.error
    expected = sum(1 for o in box.world.accounts["amazon-de"].orders if o.feedback and o.feedback.score <= 3
                   and not o.feedback.removed and o.feedback.at >= clock.now().replace(year=2026, month=8))
    assert db.count("rating", account="amazon-de") == expected > 0  # German titles, day-first dates
    with db.session() as s:
        rows = s.exec(select(OrderRow).where(OrderRow.account == "amazon-de")).all()
    statuses = Counter(r.status for r in rows)
    assert statuses["delivered"] > 0 and "pending" not in statuses and "unknown" not in statuses
    categorised = [r for r in rows if r.fulfilment == "seller" and any(ln.get("category_name") for ln in r.lines)]
    assert categorised and {ln["category_name"] for r in categorised for ln in r.lines} <= {
        "Toys", "Kitchen", "Shoes", "Home", "Wireless"}
    assert {r.buyer_country for r in rows if r.buyer_country} == {"DE"}


def test_japanese_cp932_backfill_is_stored(box, db, clock):
    box.amazon_languages["amazon-us"] = "ja"
    outcome = _sync(box, db, clock, "amazon-us", "orders")
    assert outcome.ok, outcome.error
    world = box.world.accounts["amazon-us"].orders
    assert db.count("order", account="amazon-us") == len(world)
    assert db.state("amazon-us", "report:GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL") is None


def test_an_expired_token_worded_in_details_is_refreshed_once(box, db, clock):
    assert _sync(box, db, clock, "amazon-de", "performance").ok
    box.expire_tokens("amazon")  # the saved token now gets 403 Unauthorized + details "...has expired."
    clock.advance(86400 * 2)
    outcome = _sync(box, db, clock, "amazon-de", "performance")
    assert outcome.ok, outcome.error
    tokens = [p for mp, m, p in box.log if mp == "amazon" and p == "/auth/o2/token"]
    assert len(tokens) == 2


def test_a_report_document_of_the_wrong_kind_is_a_payload_error_and_dropped(box, db, clock):
    wrong = gzip.compress(orders_tsv(box.world.accounts["amazon-de"], clock.now().replace(month=1), clock.now()))
    box.inject("amazon", r"^/_s3/", status=200, body=wrong)
    outcome = _sync(box, db, clock, "amazon-de", "feedback")
    assert outcome.error_kind == "payload" and "not a GET_SELLER_FEEDBACK_DATA document" in outcome.error
    assert db.count("rating", account="amazon-de") == 0
    assert db.state("amazon-de", "report:GET_SELLER_FEEDBACK_DATA") is None  # not re-read forever
    assert _sync(box, db, clock, "amazon-de", "feedback").ok  # the next sync asks for a new report


def test_walmart_buyer_keys_countries_and_return_reasons(box, db, clock):
    outcome = _sync(box, db, clock, "walmart-us", "orders", "returns")
    assert outcome.ok, outcome.error
    with db.session() as s:
        orders = s.exec(select(OrderRow).where(OrderRow.account == "walmart-us")).all()
        returns = s.exec(select(ReturnRow).where(ReturnRow.account == "walmart-us")).all()
        shipments = s.exec(select(ShipmentRow).where(ShipmentRow.account == "walmart-us")).all()
    keys = Counter(o.buyer_key for o in orders)
    assert all(k and len(k) == 64 for k in keys) and max(keys.values()) > 1  # repeat buyers, pseudonymous
    assert not any("sbx-buyer" in (o.buyer_key or "") for o in orders)
    assert {o.buyer_country for o in orders} == {"US"} and {o.order_type for o in orders} >= {"REGULAR"}
    assert all(o.lines and sum(ln["quantity"] for ln in o.lines) == o.item_count for o in orders)
    categories = {r.reason: r.reason_category for r in returns if r.reason}
    assert categories and set(categories.values()) <= {"not_as_described", "remorse", "damaged", "not_received",
                                                        "other"}
    # the upload time is the Shipped status date; a line already Delivered no longer shows it: unknown, not guessed
    assert all(s.tracking_uploaded_at == s.confirmed_at for s in shipments)
    assert any(s.tracking_uploaded_at is not None for s in shipments)
