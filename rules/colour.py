"""Mercado Libre's thermometer: the colour each reputation rate gives, and the colour Mercado Libre reports.

Each rate has per-site limits per colour (``rules/sites/mercadolibre-colours.toml``, from the Global Selling help
table): at most ``green`` keeps green, at most ``yellow`` yellow, at most ``orange`` orange, above it red. Below
the minimum volume (10 sales) there is no colour yet (``grey``). The thermometer is the worst of the three rates'
colours ("worst variable wins": how the limits tables read, not spelled out by Mercado Libre, unconfirmed).
The site is the account's configured ``region`` (where its thresholds come from), else the one of its newest order
(``Order.site``: MLB, MLM...); sites without a row use MLB's.
``mercadolibre.level`` (Mercado Libre's own ``level_id``, stored as 1 red .. 5 green) gets its colour name.
Used by one hook in ``engine.Engine._account``: ``status --json`` carries ``colour`` on those metrics.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from sellerguard.errors import ConfigError
from sellerguard.rules.events import ORDERS
from sellerguard.rules.report import MetricStatus
from sellerguard.rules.sites import site_file

ORDER = ("green", "yellow", "orange", "red")  # best to worst
LEVEL_COLOURS = {1: "red", 2: "orange", 3: "yellow", 4: "light_green", 5: "green"}
DEFAULT_SITE = "MLB"
REPORTED_LEVEL = "mercadolibre.level"


@cache
def colour_table(marketplace: str) -> dict[str, dict[str, dict[str, float]]]:
    """{site: {metric id: {colour: most rate}}}; empty when the marketplace has no thermometer."""
    found = site_file(f"{marketplace}-colours.toml")
    if found is None:
        return {}
    path, data = found
    for site, rows in data.items():
        for metric_id, limits in rows.items():
            if not isinstance(limits, dict) or set(limits) != set(ORDER[:3]) or not all(
                    isinstance(v, int | float) for v in limits.values()):
                raise ConfigError("expected { green = <rate>, yellow = <rate>, orange = <rate> }",
                                  where=f"{path}:{site}.{metric_id}")
            if not limits["green"] <= limits["yellow"] <= limits["orange"]:
                raise ConfigError("limits must grow from green to orange", where=f"{path}:{site}.{metric_id}")
    return data


def colour_of(value: float | None, limits: dict[str, float]) -> str | None:
    """The colour one rate gives on its site's table. Mercado Libre's own limits only: a seller's own target
    (``[accounts.policy]`` threshold) changes the metric's level, never the colour Mercado Libre shows."""
    if value is None:
        return None
    for name in ORDER[:3]:
        if value <= limits[name]:
            return name
    return "red"


def site_of(session: Session, account: str) -> str | None:
    o = ORDERS
    row = session.execute(
        select(o.c.site).where(o.c.account == account, o.c.site.is_not(None))
        .order_by(o.c.purchased_at.desc()).limit(1)
    ).first()
    return str(row[0]).upper() if row else None


def annotate(session: Session, account: str, marketplace: str, metrics: list[MetricStatus],
             region: str | None = None) -> list[MetricStatus]:
    """``metrics`` with ``colour`` set where the marketplace has a thermometer (others unchanged). The site is
    the account's configured ``region`` (the one its thresholds come from), else its newest order's."""
    table = colour_table(marketplace)
    if not table:
        return metrics
    site = region.upper() if region else site_of(session, account)
    limits = table.get(site or DEFAULT_SITE) or table[DEFAULT_SITE]
    out: list[MetricStatus] = []
    colours: list[str] = []
    for m in metrics:
        if m.id in limits:
            if m.level == "unknown" and m.value is not None:
                colour: str | None = "grey"  # below 10 sales: no colour yet
            else:
                colour = colour_of(m.value, limits[m.id])
            if colour in ORDER:
                colours.append(colour)
            m = m.model_copy(update={"colour": colour})
        out.append(m)
    thermometer = max(colours, key=ORDER.index) if len(colours) == len(limits) else None
    final = []
    for m in out:
        if m.id == REPORTED_LEVEL:
            reported = LEVEL_COLOURS.get(int(m.value)) if m.value is not None else None
            note = f"computed thermometer ({site or DEFAULT_SITE}): {thermometer}" if thermometer else None
            reason = "; ".join(x for x in (m.reason, note) if x)
            m = m.model_copy(update={"colour": reported, "reason": reason or None})
        final.append(m)
    return final
