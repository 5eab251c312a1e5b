"""Mercado Libre worked examples written from the policy page alone
(/work/shared/reference/policies/mercadolibre.md), by the fidelity audit (audit-b); expected figures are worked
by hand in each test's comments, never read from the code.

Policy facts used: per site (country) limits per colour, "up to" (<=) per colour and "more than" for red (M3):
claims BR 2 / 4.5 / 8 %, MX 1.5 / 3 / 6 %, CO and CL 3.5 / 5.5 / 7 %; cancellations BR 1.5 / 3.5 / 4 %,
MX 1 / 2.5 / 3 %, CO and CL 2.5 / 7 / 9 %; delayed handling BR 10 / 18 / 22 %, MX 10 / 15 / 22 %,
CO and CL 12 / 18 / 26 %; the worst rate decides the thermometer (unconfirmed, the page says so). Window: 60 days
when the seller has at least 40 sales in that span, otherwise 365 days, for all three rates ("as above"); no colour
(grey) before 10 completed sales in 365 days. Claims and cancellations count against all sales in the window,
delayed handling against shipped sales.

Accounts go through the public path: an account in the config with its ``region`` (the site), then the engine.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from worked_helpers import builtin_pack, cli_run

from sellerguard.config import AccountConfig, Config
from sellerguard.connectors.mercadolibre_normalize import normalize_claim, normalize_reputation
from sellerguard.rules.engine import Engine, accounts_to_check
from sellerguard.schema import Order, Shipment

PACK = builtin_pack("mercadolibre")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
D = timedelta(days=1)
H = timedelta(hours=1)
_ids = itertools.count()


def _sale(world, at: datetime, *, site: str = "MLB", ship_by: datetime | None = None,
          status: str = "delivered", fulfilment: str = "seller") -> str:
    ref = f"ml{next(_ids)}"
    world.records.append(Order(account=world.account, external_id=ref, purchased_at=at, ship_by=ship_by,
                               fulfilment=fulfilment, status=status, site=site))
    return ref


def _sales(world, n: int, at: datetime = NOW - 10 * D, **kw) -> list[str]:
    return [_sale(world, at, **kw) for _ in range(n)]


def _shipped(world, ref: str, at: datetime) -> None:
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref, shipped_at=at))


def _status(world, region: str | None = "MLB", as_of: datetime = NOW):
    world.flush()
    cfg = Config(accounts=[AccountConfig(id=world.account, marketplace="mercadolibre", region=region)])
    refs = accounts_to_check(cfg, world.store, accounts=(world.account,))
    return Engine(world.store, {"mercadolibre": PACK}).evaluate(refs, as_of, 14).accounts[0]


def _metric(world, metric_id: str, region: str | None = "MLB", as_of: datetime = NOW):
    return next(m for m in _status(world, region, as_of).metrics if m.id == metric_id)


def _claims(world, refs: list[str]) -> None:
    for ref in refs:
        world.claim(ref, kind="case", at=NOW - 5 * D)


def _cancels(world, refs: list[str]) -> None:
    for ref in refs:
        world.cancel(ref, by="seller", at=NOW - 9 * D)


# -- claims per site: every colour edge, exactly at the limit and one claim over ---------------------------------

# (site, sales, claims, expected colour, expected level): 200 sales in 60 days, so 1 claim = 0.5 %
CLAIMS = [
    ("MLB", 4, "green", "warn"),     # 2.0 %: "up to 2 %" keeps green (warn: over sellerguard's 1.5 % band)
    ("MLB", 5, "yellow", "critical"),  # 2.5 %
    ("MLB", 9, "yellow", "critical"),  # 4.5 %: up to 4.5 % yellow
    ("MLB", 10, "orange", "critical"),  # 5.0 %
    ("MLB", 16, "orange", "critical"),  # 8.0 %: up to 8 % orange
    ("MLB", 17, "red", "critical"),     # 8.5 %: more than 8 % red
    ("MLM", 3, "green", "warn"),     # 1.5 %: Mexico's green limit
    ("MLM", 4, "yellow", "critical"),  # 2.0 %
    ("MLM", 6, "yellow", "critical"),  # 3.0 %
    ("MLM", 7, "orange", "critical"),  # 3.5 %
    ("MLM", 12, "orange", "critical"),  # 6.0 %
    ("MLM", 13, "red", "critical"),     # 6.5 %
    ("MCO", 7, "green", "warn"),     # 3.5 %: Colombia's green limit
    ("MCO", 8, "yellow", "critical"),  # 4.0 %
    ("MLC", 11, "yellow", "critical"),  # 5.5 %: Chile, up to 5.5 % yellow
    ("MLC", 12, "orange", "critical"),  # 6.0 %
    ("MLC", 14, "orange", "critical"),  # 7.0 %
    ("MLC", 15, "red", "critical"),     # 7.5 %
]


@pytest.mark.parametrize(("site", "claims", "colour", "level"), CLAIMS)
def test_claims_colour_edges_per_site(world, site, claims, colour, level):
    refs = _sales(world, 200, site=site)
    _claims(world, refs[:claims])
    m = _metric(world, "mercadolibre.claims_rate", region=site)
    assert (m.numerator, m.denominator, m.window_days) == (claims, 200, 60)
    assert m.value == pytest.approx(claims / 200)
    assert (m.colour, m.level) == (colour, level)


# -- cancellations per site -------------------------------------------------------------------------------

CANCELS = [
    ("MLB", 3, "green", "warn"),     # 1.5 %
    ("MLB", 4, "yellow", "critical"),  # 2.0 %
    ("MLB", 7, "yellow", "critical"),  # 3.5 %
    ("MLB", 8, "orange", "critical"),  # 4.0 %: up to 4 % orange
    ("MLB", 9, "red", "critical"),     # 4.5 %
    ("MLM", 2, "green", "warn"),     # 1.0 %
    ("MLM", 3, "yellow", "critical"),  # 1.5 %
    ("MLM", 5, "yellow", "critical"),  # 2.5 %
    ("MLM", 6, "orange", "critical"),  # 3.0 %
    ("MLM", 7, "red", "critical"),     # 3.5 %
    ("MCO", 5, "green", "warn"),     # 2.5 %
    ("MCO", 14, "yellow", "critical"),  # 7.0 %
    ("MCO", 18, "orange", "critical"),  # 9.0 %
    ("MCO", 19, "red", "critical"),     # 9.5 %
]


@pytest.mark.parametrize(("site", "cancelled", "colour", "level"), CANCELS)
def test_cancellation_colour_edges_per_site(world, site, cancelled, colour, level):
    refs = _sales(world, 200, site=site)
    _cancels(world, refs[:cancelled])
    m = _metric(world, "mercadolibre.cancellations_rate", region=site)
    assert (m.numerator, m.denominator) == (cancelled, 200)
    assert (m.colour, m.level) == (colour, level)


# -- delayed handling per site: over SHIPPED sales ----------------------------------------------------------

HANDLING = [
    ("MLB", 10, "green"), ("MLB", 11, "yellow"), ("MLB", 18, "yellow"), ("MLB", 19, "orange"),
    ("MLB", 22, "orange"), ("MLB", 23, "red"),
    ("MLM", 10, "green"), ("MLM", 15, "yellow"), ("MLM", 16, "orange"), ("MLM", 23, "red"),
    ("MLC", 12, "green"), ("MLC", 13, "yellow"), ("MLC", 26, "orange"), ("MLC", 27, "red"),
]


@pytest.mark.parametrize(("site", "late", "colour"), HANDLING)
def test_delayed_handling_colour_edges_per_site(world, site, late, colour):
    # 100 sales shipped in the window, `late` of them handed to the carrier after the handling deadline
    deadline = NOW - 8 * D
    for i in range(100):
        ref = _sale(world, NOW - 10 * D, site=site, ship_by=deadline)
        _shipped(world, ref, deadline + (H if i < late else -H))
    m = _metric(world, "mercadolibre.delayed_handling_rate", region=site)
    assert (m.numerator, m.denominator) == (late, 100)
    assert m.colour == colour
    assert m.level == ("critical" if colour != "green" else m.level)


def test_argentina_has_no_published_table_and_takes_brazils_limits(world):
    # the page: "AR unconfirmed" -> the product's documented choice (Brazil's limits) is kept: 2.5 % claims is
    # yellow on the Brazilian table
    refs = _sales(world, 200, site="MLA")
    _claims(world, refs[:5])
    m = _metric(world, "mercadolibre.claims_rate", region="MLA")
    assert (m.threshold, m.colour, m.level) == (0.02, "yellow", "critical")


def test_the_worst_rate_decides_the_thermometer(world):
    # 200 sales + 20 shipped ones = 220: claims 2/220 = 0.9 % (green), cancellations 8/220 = 3.6 % (orange on
    # MLB: above 3.5 %, up to 4 %), delayed handling 0 of 20 shipped (green) -> the thermometer is orange
    refs = _sales(world, 200, site="MLB")
    _claims(world, refs[:2])
    _cancels(world, refs[2:10])
    for ref in _sales(world, 20, site="MLB", ship_by=NOW - 8 * D):
        _shipped(world, ref, NOW - 9 * D)
    world.records.append(Order(account=world.account, external_id="ml-level", purchased_at=NOW - D,
                               fulfilment="seller", status="delivered", site="MLB"))
    world.reported("mercadolibre.level", 3, as_of=NOW - H)  # Mercado Libre reports yellow
    acc = _status(world, "MLB")
    by = {m.id: m for m in acc.metrics}
    assert by["mercadolibre.claims_rate"].colour == "green"
    assert by["mercadolibre.cancellations_rate"].colour == "orange"
    level = by["mercadolibre.level"]
    assert level.colour == "yellow"  # what Mercado Libre reported
    assert "orange" in (level.reason or "")  # the computed thermometer: the worst of the three


# -- windows ----------------------------------------------------------------------------------------------


def test_40_sales_in_60_days_keep_the_60_day_window_39_switch_to_365(world):
    # 40 sales 59 days ago, 1 cancelled; 60 older sales (100 days ago) with 10 cancelled
    recent = _sales(world, 40, NOW - 59 * D)
    old = _sales(world, 60, NOW - 100 * D)
    _cancels(world, recent[:1] + old[:10])
    m = _metric(world, "mercadolibre.cancellations_rate")
    assert (m.window_days, m.numerator, m.denominator) == (60, 1, 40)  # 2.5 %
    # another seller with 39 recent sales: 365 days -> (1 + 10) / (39 + 60) = 11.1 %
    other = world.__class__(world.store, account="ml-small")
    recent = _sales(other, 39, NOW - 59 * D)
    old = _sales(other, 60, NOW - 100 * D)
    _cancels(other, recent[:1] + old[:10])
    _sales(other, 30, NOW - 366 * D)  # older than 365 days: outside either window
    m = _metric(other, "mercadolibre.cancellations_rate")
    assert (m.window_days, m.numerator, m.denominator) == (365, 11, 99)


def test_the_60_day_window_rolls_daily(world):
    # 50 sales 60 days + 1 hour ago are out of a 60-day window; 50 at 59 days 23 hours are in
    _sales(world, 50, NOW - 60 * D - H)
    inside = _sales(world, 50, NOW - 60 * D + H)
    _cancels(world, inside[:1])
    m = _metric(world, "mercadolibre.cancellations_rate")
    assert (m.window_days, m.numerator, m.denominator) == (60, 1, 50)


def test_delayed_handling_window_follows_the_sellers_sales_not_its_shipments(world):
    # 45 sales in the last 60 days (>= 40: the 60-day window, "as above" for every rate); 30 of them shipped,
    # 3 late -> 3/30 = 10 % (green on MLB). 100 days ago: 20 shipped sales, all late (outside 60 days).
    # Expected (policy): window 60 days, 3/30. Counting shipments for the switch gives 30 < 40 -> 365 days,
    # 23/50 = 46 % (red).
    deadline = NOW - 8 * D
    refs = _sales(world, 45, NOW - 10 * D, ship_by=deadline)
    for i, ref in enumerate(refs[:30]):
        _shipped(world, ref, deadline + (H if i < 3 else -H))
    for ref in _sales(world, 20, NOW - 100 * D, ship_by=NOW - 98 * D):
        _shipped(world, ref, NOW - 97 * D)
    m = _metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.window_days, m.numerator, m.denominator) == (60, 3, 30)


# -- minimum volume: no colour before 10 completed sales -----------------------------------------------------


def test_nine_sales_are_grey_ten_get_a_colour(world):
    refs = _sales(world, 9, NOW - 200 * D)
    _claims(world, refs[:1])
    m = _metric(world, "mercadolibre.claims_rate")
    assert m.level == "unknown" and m.colour == "grey"
    _sale(world, NOW - 2 * D)
    m = _metric(world, "mercadolibre.claims_rate")
    assert (m.window_days, m.numerator, m.denominator, m.colour) == (365, 1, 10, "red")  # 10 % > 8 %


def test_the_minimum_counts_completed_sales_not_cancelled_ones(world):
    # 9 completed sales and 1 the seller cancelled: 9 completed < 10 -> still grey (no colour), not
    # 1/10 = 10 % cancellations (red)
    refs = _sales(world, 9, NOW - 20 * D)
    (cancelled,) = _sales(world, 1, NOW - 20 * D, status="cancelled")
    _cancels(world, [cancelled])
    m = _metric(world, "mercadolibre.cancellations_rate")
    assert refs and m.level == "unknown" and m.colour == "grey"


# -- numerators and denominators ------------------------------------------------------------------------------


def test_claims_count_against_all_sales_including_cancelled_ones(world):
    # policy note: claims count against all sales (completed plus cancelled): 196 completed + 4 cancelled = 200
    # sales, 4 claims -> 2.0 % (green), not 4/196 = 2.04 % (yellow)
    refs = _sales(world, 196)
    cancelled = _sales(world, 4, status="cancelled")
    _cancels(world, cancelled)
    _claims(world, refs[:4])
    m = _metric(world, "mercadolibre.claims_rate")
    assert (m.numerator, m.denominator, m.colour) == (4, 200, "green")


def test_delayed_handling_divides_by_shipped_sales_only(world):
    # 100 sales, 40 shipped (4 late), 60 not shipped yet with their deadline ahead: 4/40 = 10 % (green), not 4/100
    deadline = NOW - 8 * D
    refs = _sales(world, 100, NOW - 10 * D, ship_by=deadline)
    for i, ref in enumerate(refs[:40]):
        _shipped(world, ref, deadline + (H if i < 4 else -H))
    m = _metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.numerator, m.denominator, m.colour) == (4, 40, "green")


def test_buyer_cancellations_are_not_cancelled_by_you(world):
    # "Canceladas por vos": sales cancelled by the seller. 100 sales: 1 by the seller, 3 by buyers -> 1 %
    refs = _sales(world, 100)
    _cancels(world, refs[:1])
    for ref in refs[1:4]:
        world.cancel(ref, by="buyer", buyer_requested=True, at=NOW - 9 * D)
    m = _metric(world, "mercadolibre.cancellations_rate")
    assert (m.numerator, m.denominator, m.value) == (1, 100, 0.01)


# -- claims the seller solves within 2 business days do not count (M7) ------------------------------------------


def _claim_payload(closed: str | None, *, stage: str = "claim", closed_by: str = "respondent") -> dict:
    # opened Friday 20 Nov 2026 10:00 in Brazil (-03:00); the buyer benefited (refund): against the seller unless
    # solved in time
    return {"id": 5300000000 + next(_ids), "type": "mediations", "stage": stage,
            "status": "closed" if closed else "opened", "resource": "order", "resource_id": 2000009000000001,
            "reason_id": "PDD9939", "date_created": "2026-11-20T10:00:00.000-03:00",
            "resolution": {"reason": "payment_refunded", "date_created": closed, "benefited": ["complainant"],
                           "closed_by": closed_by} if closed else None}


@pytest.mark.parametrize(("closed", "stage", "closed_by", "counts"), [
    ("2026-11-24T09:59:00.000-03:00", "claim", "respondent", False),  # Tuesday 09:59: within 2 business days
    ("2026-11-24T10:00:00.000-03:00", "claim", "respondent", False),  # exactly 2 business days
    ("2026-11-24T10:01:00.000-03:00", "claim", "respondent", True),  # one minute late: counts
    ("2026-11-23T10:00:00.000-03:00", "dispute", "mediator", True),  # escalated, Mercado Libre decided: counts
    ("2026-11-21T10:00:00.000-03:00", "claim", "mediator", True),  # closed by the mediator: not solved by you
])
def test_a_claim_solved_by_the_seller_within_2_business_days_does_not_count(closed, stage, closed_by, counts):
    claim = normalize_claim("a", _claim_payload(closed, stage=stage, closed_by=closed_by))
    assert claim.seller_at_fault is counts


def test_a_claim_solved_in_time_is_outside_the_claims_rate(world):
    refs = _sales(world, 100)
    fast = normalize_claim(world.account, _claim_payload("2026-11-23T15:00:00.000-03:00"))
    slow = normalize_claim(world.account, _claim_payload("2026-11-25T15:00:00.000-03:00"))
    world.records += [fast.model_copy(update={"order_ref": refs[0]}), slow.model_copy(update={"order_ref": refs[1]})]
    m = _metric(world, "mercadolibre.claims_rate")
    assert (m.numerator, m.denominator) == (1, 100)


# -- Mercado Libre's own figures (GET /users/{id} -> seller_reputation, the M1 docs sample) ---------------------


def _reputation(level_id: str, real_level: str | None) -> dict:
    rep = {"level_id": level_id, "power_seller_status": "platinum",
           "transactions": {"canceled": 981, "completed": 6211, "total": 7192, "period": "historic"},
           "metrics": {"sales": {"period": "60 days", "completed": 244},
                       "claims": {"period": "60 days", "rate": 0.0166, "value": 4},
                       "delayed_handling_time": {"period": "365 days", "rate": 0.0877, "value": 20},
                       "cancellations": {"period": "60 days", "rate": 0, "value": 0}}}
    if real_level is not None:
        rep |= {"real_level": real_level, "protection_end_date": "2026-12-27T00:00:00.000-04:00"}
    return {"id": 128885, "site_id": "MLB", "seller_reputation": rep}


@pytest.mark.parametrize(("real", "expected"), [
    ("red", 1),  # the docs' own sample writes the bare colour
    ("1_red", 1), ("2_orange", 2), ("orange", 2), ("yellow", 3), ("light_green", 4), (None, 5),
])
def test_the_real_level_decides_while_protected(real, expected):
    # M1: while Mercado Libre protects a seller, level_id shows the protected colour; real_level is the real one
    rows = {r.metric_id: r for r in normalize_reputation("a", _reputation("5_green", real), NOW)}
    assert rows["mercadolibre.level"].value == expected


def test_reported_rates_are_fractions_over_the_period_mercado_libre_names():
    rows = {r.metric_id: r for r in normalize_reputation("a", _reputation("5_green", None), NOW)}
    claims, handling = rows["mercadolibre.claims_rate"], rows["mercadolibre.delayed_handling_rate"]
    # claims: 4 at 0.0166 -> about 241 sales (the policy note: 4 / 241 = 0.0166), over 60 days
    assert (claims.value, claims.numerator, claims.denominator) == (0.0166, 4, 241)
    assert claims.window_start == NOW - 60 * D
    # delayed handling: 20 at 0.0877 -> about 228 shipped sales, over the 365 days the block names
    assert (handling.value, handling.numerator, handling.denominator) == (0.0877, 20, 228)
    assert handling.window_start == NOW - 365 * D


def test_a_protected_red_seller_is_critical(world):
    world.records += normalize_reputation(world.account, _reputation("5_green", "red"), NOW - H)
    m = _metric(world, "mercadolibre.level")
    assert (m.value, m.level, m.colour) == (1, "critical", "red")


def test_a_mexican_seller_without_a_configured_region_gets_mexicos_limits(world):
    # the sales say MLM; no region in the config. Claims 2.0 % (4/200): Mexico's green limit is 1.5 % -> yellow,
    # not green (Brazil's 2 %); the level must be critical like the colour
    refs = _sales(world, 200, site="MLM")
    _claims(world, refs[:4])
    m = _metric(world, "mercadolibre.claims_rate", region=None)
    assert (m.threshold, m.colour, m.level) == (0.015, "yellow", "critical")


def test_end_to_end_import_with_the_site_then_status_json(tmp_path):
    # the checker's path: an `account` line naming the site (MLM), 200 sales and 4 claims decided against the
    # seller -> 2.0 %: above Mexico's 1.5 % green limit, up to its 3 % yellow -> yellow, critical, exit code 2
    lines = [{"kind": "account", "id": "mx-shop", "marketplace": "mercadolibre", "region": "MLM"}]
    lines += [{"kind": "order", "account": "mx-shop", "external_id": f"{2000000000 + i}",
               "purchased_at": "2026-11-13T12:00:00Z", "fulfilment": "seller", "status": "delivered", "site": "MLM"}
              for i in range(200)]
    lines += [{"kind": "claim", "account": "mx-shop", "external_id": f"c{i}", "claim_kind": "case",
               "order_ref": f"{2000000000 + i}", "opened_at": "2026-11-18T12:00:00Z",
               "closed_at": "2026-11-19T12:00:00Z", "seller_at_fault": True} for i in range(4)]
    code, doc = cli_run(tmp_path, lines, "2026-11-23T12:00:00Z")
    assert code == 2, doc
    acc = doc["accounts"][0]
    claims = next(m for m in acc["metrics"] if m["id"] == "mercadolibre.claims_rate")
    assert (claims["value"], claims["threshold"], claims["colour"], claims["level"]) == (0.02, 0.015, "yellow",
                                                                                        "critical")


def test_the_minimum_is_the_sellers_sales_for_delayed_handling_too(world):
    # 15 completed sales in 365 days (>= 10: the seller has a colour), 8 of them shipped, 1 late -> delayed
    # handling 1/8 = 12.5 % on the 365-day window (15 < 40 sales in 60 days): yellow on MLB (above 10 %, up to 18 %)
    deadline = NOW - 98 * D
    refs = _sales(world, 15, NOW - 100 * D, ship_by=deadline)
    for i, ref in enumerate(refs[:8]):
        _shipped(world, ref, deadline + (H if i == 0 else -H))
    m = _metric(world, "mercadolibre.delayed_handling_rate")
    assert (m.window_days, m.numerator, m.denominator, m.colour, m.level) == (365, 1, 8, "yellow", "critical")


def test_a_sellers_own_target_does_not_change_mercado_libres_colour(world):
    # the colour is Mercado Libre's (per-site table); a seller's own stricter target (claims under 1 %) changes the
    # level, never the thermometer: 4 claims of 200 = 2.0 % is still green in Brazil
    refs = _sales(world, 200)
    _claims(world, refs[:4])
    world.flush()
    cfg = Config(accounts=[AccountConfig(id=world.account, marketplace="mercadolibre", region="MLB",
                                         policy={"mercadolibre.claims_rate": {"threshold": 0.01}})])
    refs_ = accounts_to_check(cfg, world.store, accounts=(world.account,))
    acc = Engine(world.store, {"mercadolibre": PACK}).evaluate(refs_, NOW, 14).accounts[0]
    m = next(m for m in acc.metrics if m.id == "mercadolibre.claims_rate")
    assert (m.threshold, m.level, m.colour) == (0.01, "critical", "green")


def test_an_unshipped_sale_due_soon_is_in_the_deadline_queue(world):
    # a sale not yet handed to the carrier, handling deadline tomorrow: the seller must act (ship it) -> listed
    ref = _sale(world, NOW - D, ship_by=NOW + D, status="unshipped")
    _sales(world, 20)
    acc = _status(world, "MLB")
    assert any(d.ref == ref and d.kind == "ship" for d in acc.deadlines), acc.deadlines
