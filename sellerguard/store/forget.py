"""``sellerguard account forget``: every row of one account, in every table that has an ``account`` column.

Tables are found by reflection, so tables added later (alerts, rate buckets, ...) are covered without a list to
keep up to date. Silences with wildcard patterns stay (they name no single account).
"""

from __future__ import annotations

from sqlalchemy import MetaData, Table, delete, func, select

from sellerguard.store.db import Store


def _tables(store: Store) -> list[tuple[Table, str]]:
    """(table, key column) for every table holding rows of an account."""
    meta = MetaData()
    meta.reflect(bind=store.engine)
    found = []
    for table in meta.sorted_tables:
        if table.name == "account":
            found.append((table, "id"))
        elif "account" in table.c:
            found.append((table, "account"))
    # children before the account row itself (foreign keys)
    return sorted(found, key=lambda t: t[0].name == "account")


def count_account_rows(store: Store, account: str) -> dict[str, int]:
    """Rows per table that belong to ``account``."""
    with store.engine.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t).where(t.c[key] == account)).scalar_one())
                for t, key in _tables(store)}


def forget_account(store: Store, account: str) -> dict[str, int]:
    """Delete them all in one transaction; returns rows removed per table."""
    removed: dict[str, int] = {}
    with store.engine.begin() as conn:
        for t, key in _tables(store):
            removed[t.name] = conn.execute(delete(t).where(t.c[key] == account)).rowcount
    return removed
