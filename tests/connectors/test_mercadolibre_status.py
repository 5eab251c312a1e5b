"""Mercado Libre's own account status (connectors/mercadolibre_status.py), from the hand-made fixture of Mercado
Libre's documented example (no spec is published: tests/fixtures/mercadolibre/README.md) and from the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sellerguard.connectors.mercadolibre_status import ACCOUNT_STATUS, normalize_status
from sellerguard.errors import ConnectorError
from sellerguard.sandbox.mercadolibre import user_status
from sellerguard.sandbox.world import World

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "mercadolibre" / "user_status.json").read_text())


def rows(user):
    return {r.scope: r.status for r in normalize_status("ml", user, NOW) if r.metric_id == ACCOUNT_STATUS}


def test_a_blocked_listing_is_a_row_with_its_code():
    assert rows(USER) == {"site": "ACTIVE", "sell": "ALLOWED", "list: rejected_by_regulations": "BLOCKED"}


def test_no_status_is_not_reported_and_a_bad_allow_is_logged_not_fatal(caplog):
    assert rows({"id": 1}) == {"site": "NOT_REPORTED", "sell": "NOT_REPORTED", "list": "NOT_REPORTED"}
    broken = json.loads(json.dumps(USER))
    broken["status"]["sell"]["allow"] = "yes"
    # the same /users/{id} answer carries the reputation: a bad status block must not cost it
    assert rows(broken) == {"site": "NOT_REPORTED", "sell": "NOT_REPORTED", "list": "NOT_REPORTED"}
    assert "status.sell.allow" in caplog.text
    with pytest.raises(ConnectorError, match=r"\(root\)"):
        normalize_status("ml", ["not", "a", "user"], NOW)


def test_the_sandbox_blocks_listing_for_a_critical_seller_only():
    from sellerguard.sandbox.world import DEFAULT_ACCOUNTS

    two = [a for a in DEFAULT_ACCOUNTS if a[0] in ("mercadolibre-br", "bol-nl")]
    world = World(NOW, scale=0.05, days=2, accounts=two)
    critical, healthy = world.accounts["mercadolibre-br"], world.accounts["bol-nl"]
    assert rows({"status": user_status(critical)})["list: rejected_by_regulations"] == "BLOCKED"
    assert set(rows({"status": user_status(healthy)}).values()) == {"ACTIVE", "ALLOWED"}
