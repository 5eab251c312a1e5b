"""Reading records by their keys in batches: ``key IN (...)`` per account on the (account, key) indexes, from
statements built once per list length. SQLAlchemy renders an expanding IN list afresh at every execution (~2 ms for
200 keys); ingest looks keys up once per page (stored versions, rollup marks)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Table, text

CHUNK = 500  # keys per IN list


def rows_by_key(conn: Any, t: Table, columns: list[str], key: str,
                 keys: Iterable[tuple[str, str]]) -> Iterable[Any]:
    """Rows (``columns`` of ``t``) whose (account, ``key``) is among ``keys``: per account, ``key IN (...)`` on the
    (account, key) index, in chunks, as a statement built once per list length (rounded up to a power of two,
    padded with a repeated value). ``conn``: a Connection or Session. Rows keep the columns' types (aware times)."""
    by_account: dict[str, list[str]] = {}
    for account, value in keys:
        by_account.setdefault(account, []).append(value)
    for account, values in by_account.items():
        for part in chunks(sorted(set(values))):
            size = 1 << (len(part) - 1).bit_length()
            params = {f"k{i}": v for i, v in enumerate(part + part[-1:] * (size - len(part)))}
            yield from conn.execute(_key_select(t, tuple(columns), key, size), {"a": account, **params})


@cache
def _key_select(t: Table, columns: tuple[str, ...], key: str, size: int) -> Any:
    keys = ", ".join(f":k{i}" for i in range(size))
    return text(f"SELECT {', '.join(columns)} FROM {t.name} WHERE account = :a AND {key} IN ({keys})").columns(
        *[t.c[c] for c in columns])


def chunks(items: list[Any]) -> Iterable[list[Any]]:
    """``items`` in lists of at most CHUNK (one IN list each)."""
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]
