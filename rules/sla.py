"""Ship-by deadlines the marketplace would compute, for orders that arrive without one (``derive_ship_by``).

TikTok Shop (../shared/reference/policies/tiktok-shop.md, K1 US Fulfillment Policy 2025-10-23; T3 UK from
2024-11-04) sets the dispatch deadline by order type and region:

| order type | deadline |
|---|---|
| regular (``NORMAL``) | 2 business days after the order date |
| made-to-order, back-order | the seller's handling time (``handling_days``) in business days |
| pre-order (``PRE_ORDER``) | 1 business day after the pre-order closes: not in the records, so unknown |

Business days are Monday-Friday in the region's clock: US orders end at 11:59 PM Pacific (the cut-off of K1/K3),
UK orders at 23:59:59 UK time. Holidays move the deadline only when TikTok announces an extension (and then TikTok
sends the deadline with the order). The region is the order's ``site``, else its buyer country (TikTok Shop sells
domestically). An order whose type or region is not known gets no deadline: the engine counts it as unknown and
names it, never as on time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, column, select, values
from sqlalchemy.orm import Session

from sellerguard.rules.events import ORDERS
from sellerguard.store.tables import UTCDateTime

REGION_CLOCK = {"US": "America/Los_Angeles", "GB": "Europe/London"}
REGULAR = frozenset({"NORMAL"})
HANDLING = frozenset({"MADE_TO_ORDER", "BACK_ORDER", "BACKORDER"})
REGULAR_DAYS = 2


def add_business_days(day: date, n: int) -> date:
    """``day`` moved ``n`` business days (Monday-Friday) forward."""
    while n > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def region_of(site: str | None, buyer_country: str | None) -> str | None:
    for raw in (site, buyer_country):
        code = (raw or "").strip().upper()
        code = "GB" if code == "UK" else code
        if code in REGION_CLOCK:
            return code
    return None


def tiktok_ship_by(purchased_at: datetime, order_type: str | None, region: str | None,
                   handling_days: int | None) -> datetime | None:
    """TikTok's dispatch deadline for one order, or None when the policy gives none for what is known."""
    if region is None or order_type is None:
        return None
    kind = order_type.strip().upper()
    if kind in REGULAR:
        days = REGULAR_DAYS
    elif kind in HANDLING and handling_days is not None:
        days = max(int(handling_days), 1)
    else:
        return None  # pre-order (close date unknown), a handling time not given, or a type the policy does not name
    tz = ZoneInfo(REGION_CLOCK[region])
    ordered = purchased_at if purchased_at.tzinfo else purchased_at.replace(tzinfo=UTC)
    last = add_business_days(ordered.astimezone(tz).date(), days)
    return datetime.combine(last, time(23, 59, 59), tzinfo=tz).astimezone(UTC)


def tiktok_table(session: Session, account: str, params: Any, start: datetime, as_of: datetime) -> Any:
    """A VALUES table (ref, ship_by) for the window's orders with no stored ship-by, or None when none."""
    o = ORDERS
    anchor = o.c[params.anchor]
    rows = session.execute(
        select(o.c.external_id, o.c.purchased_at, o.c.order_type, o.c.site, o.c.buyer_country,
               o.c.handling_days).where(o.c.account == account, anchor >= start, anchor < as_of,
                                        o.c.ship_by.is_(None))
    ).all()
    data = []
    for ref, purchased, order_type, site, country, handling in rows:
        due = tiktok_ship_by(purchased, order_type, region_of(site, country), handling)
        if due is not None:
            data.append((ref, due))
    if not data:
        return None
    # a CTE: SQLite cannot alias a VALUES list with column names in FROM, PostgreSQL takes both
    return values(column("ref", String), column("ship_by", UTCDateTime()), name="derived_ship_by").data(data).cte(
        "derived_ship_by")
