"""``sellerguard worker`` when PostgreSQL goes away: one clear line and exit 3 (the unit restarts it), not
"internal error ... a bug". The live case was checked by hand through a TCP proxy that was killed (notes)."""

from __future__ import annotations

import pytest

pytest.importorskip("procrastinate")


def test_losing_the_database_is_a_store_error_not_a_bug(monkeypatch) -> None:
    from procrastinate.exceptions import ConnectorException

    from sellerguard.errors import StoreError
    from sellerguard.workers import run

    async def gone(url, rt, opts):
        try:
            raise OSError('connection to server at "127.0.0.1", port 5432 failed:\n Connection refused')
        except OSError as cause:
            raise ConnectorException("\n    Database error.\n    ") from cause

    monkeypatch.setattr(run, "_main", gone)
    with pytest.raises(StoreError, match=r"lost its PostgreSQL connection .*Connection refused") as exc:
        run.serve("postgresql://sg@127.0.0.1/sg", None, run.WorkerOptions())  # type: ignore[arg-type]
    assert "\n" not in str(exc.value)
