"""eBay worked examples, written by an independent checker from ../shared/reference/policies/ebay.md alone.

Each expected figure is computed by hand from the policy page (quoted beside it); the product's answer comes from the
store + engine (`status --json`'s path). Verdicts use `horizon=0` so that sellerguard's forecast warning cannot mask
the threshold verdict. Rule of the page: "breach = rate > R AND count >= N"; lookback 3 calendar months with >= 400
transactions, else 12; evaluation on the 20th. SQLite only, to stay fast.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, D, H
from worked_helpers import builtin_pack, cli_status, sqlite_store, threshold_metric

from sellerguard.schema import Claim, ReportedMetric, Shipment

PACK = builtin_pack("ebay")
S = timedelta(seconds=1)
AT = NOW - 20 * D  # inside every lookback


store = sqlite_store("we")
metric = threshold_metric(PACK)


def buyer(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def population(world, total: int, defect_buyers: list[str], at: datetime = AT) -> list[str]:
    """`total` transactions; one seller cancellation ('out of stock') per name in `defect_buyers`."""
    refs = [world.order(at, buyer_key=buyer(f"ok{i}")) for i in range(total - len(defect_buyers))]
    for who in defect_buyers:
        ref = world.order(at, status="cancelled", buyer_key=buyer(who))
        world.cancel(ref, by="seller", at=at + H)
    return refs


def case(world, ref: str, *, for_buyer: bool = True, n: int = 0) -> None:
    world.records.append(Claim(account=world.account, external_id=f"case-{ref}-{n}", claim_kind="item_not_received",
                               order_ref=ref, opened_at=AT + D, closed_at=AT + 2 * D, seller_at_fault=for_buyer))


# -- Transaction defect rate -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "buyers", "level"), [
    (240, ["a", "b", "c", "d", "e"], "critical"),  # 2.08% > 2% AND 5 unique buyers: Below Standard
    (200, ["a", "a", "b", "c", "d"], "warn"),  # 2.5% but 4 unique buyers: not Below; suggested band (> 1.5%, >= 4)
    (300, ["a", "b", "c", "d"], "ok"),  # 1.33%: under the 1.5% band
    (400, ["a", "b", "c", "d", "e", "f"], "ok"),  # 1.5% exactly is not '> 1.5%'; 2% not reached
])
def test_tdr_rate_and_unique_buyer_gate(world, total, buyers, level):
    population(world, total, buyers)
    m = metric(world, "ebay.transaction_defect_rate")
    assert (m.numerator, m.denominator, m.unique_buyers, m.level) == (len(buyers), total, len(set(buyers)), level)


def test_tdr_exclusions_and_one_defect_per_transaction(world):
    """Defects: a seller cancellation ('out of stock') and a case closed for the buyer. Not defects: a cancellation
    with the 'buyer asked' reason, a case closed for the seller. A transaction with a cancellation and a case counts
    once. 100 transactions: 2/100."""
    refs = population(world, 100, [])
    world.cancel(refs[0], by="seller")
    case(world, refs[0])
    world.cancel(refs[1], by="buyer", buyer_requested=True)
    world.cancel(refs[2], by="seller", buyer_requested=True)  # seller cancelled, with the 'buyer asked' reason
    case(world, refs[3], for_buyer=False)
    case(world, refs[4])
    m = metric(world, "ebay.transaction_defect_rate")
    assert (m.numerator, m.denominator) == (2, 100)


@pytest.mark.parametrize(("buyers", "reason_start"), [
    (["a", "b", "c", "d"], "threshold crossed"),  # 1% > 0.5% AND 4 unique buyers: Top Rated lost
    (["a", "b", "c", "c"], "in the warning band"),  # 3 unique buyers: still Top Rated; band > 0.4% with >= 3
])
def test_top_rated_tdr_gate(world, buyers, reason_start):
    population(world, 400, buyers)
    m = metric(world, "ebay.top_rated_transaction_defect_rate")
    assert m.level == "warn"  # losing Top Rated is not a penalty: breach level warn
    assert m.reason.startswith(reason_start)


# -- Cases closed without seller resolution ---------------------------------------------------------------------


@pytest.mark.parametrize(("total", "cases", "level"), [
    (1000, 3, "warn"),  # 0.3% is not '> 0.3%'; 3 cases already (band: 2 cases)
    (1000, 4, "critical"),  # 0.4% and 4 cases
    (900, 3, "critical"),  # 0.33% and 3 cases
    (100, 2, "warn"),  # 2%, but only 2 cases: the gate (3) is not met; 'any new case at 2 cases already'
    (100, 1, "ok"),
])
def test_cases_rate_and_count_gate(world, total, cases, level):
    refs = population(world, total, [])
    for ref in refs[:cases]:
        case(world, ref)
    case(world, refs[-1], for_buyer=False)  # closed for the seller: does not count
    m = metric(world, "ebay.cases_closed_without_seller_resolution")
    assert (m.numerator, m.denominator, m.gate_count, m.level) == (cases, total, cases, level)


# -- Late shipment -----------------------------------------------------------------------------------------------


def _transaction(world, *, scan_late: bool, delivered_late: bool, at: datetime = AT) -> str:
    ship_by, edd = at + 2 * D, at + 6 * D
    ref = world.order(at, ship_by=ship_by, deliver_by=edd, buyer_key=buyer(f"t{at}{world._n}"))
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref,
                                  shipped_at=ship_by + (D if scan_late else -D),
                                  first_scan_at=ship_by + (D if scan_late else -D),
                                  delivered_at=edd + (D if delivered_late else -D), tracking_number=f"1Z{ref}"))
    return ref


def test_late_needs_both_no_scan_in_handling_and_delivery_after_the_estimate(world):
    """Late iff 'no acceptance scan within handling time and delivery after the estimated date'."""
    _transaction(world, scan_late=True, delivered_late=True)  # late
    _transaction(world, scan_late=False, delivered_late=True)  # scanned in time: on time
    _transaction(world, scan_late=True, delivered_late=False)  # delivered by the estimate: on time
    _transaction(world, scan_late=False, delivered_late=False)
    m = metric(world, "ebay.top_rated_late_shipment_rate")
    assert (m.numerator, m.denominator) == (1, 4)


@pytest.mark.parametrize(("total", "late", "level", "reason_start"), [
    (150, 6, "warn", "threshold crossed"),  # 4% > 3% AND 6 late: Top Rated lost (breach level warn)
    (100, 5, "warn", "in the warning band"),  # 5% but 5 late (gate 6): still Top Rated; in the band (> 2.5%)
    (200, 5, "ok", None),  # exactly 2.5% is not '> 2.5%'
])
def test_top_rated_late_shipment_gate(world, total, late, level, reason_start):
    for i in range(total):
        _transaction(world, scan_late=i < late, delivered_late=i < late)
    m = metric(world, "ebay.top_rated_late_shipment_rate")
    assert (m.numerator, m.denominator, m.level) == (late, total, level)
    if reason_start:
        assert m.reason.startswith(reason_start)


# -- Lookback: the 400-transaction rule on calendar months (Pacific) --------------------------------------------


def test_exactly_400_in_three_months_at_a_leap_month_end(world):
    """31 May 2024 12:00 PDT: 3 calendar months back is 29 Feb 2024 12:00 PST (leap year). 400 transactions in it:
    the 3-month lookback."""
    as_of = datetime(2024, 5, 31, 19, 0, tzinfo=UTC)
    start = datetime(2024, 2, 29, 20, 0, tzinfo=UTC)
    world.orders(399, as_of - 5 * D)
    world.order(start)  # first instant: the 400th
    world.order(start - S)  # out
    m = metric(world, "ebay.transaction_defect_rate", as_of=as_of)
    assert (m.window_start, m.window_end, m.denominator) == (start, as_of, 400)


def test_399_in_three_months_looks_back_twelve_from_a_leap_day(world):
    """29 Feb 2024 12:00 PST, 399 in 3 months: the 12-month lookback starts 28 Feb 2023 12:00 PST (clamped)."""
    as_of = datetime(2024, 2, 29, 20, 0, tzinfo=UTC)
    start = datetime(2023, 2, 28, 20, 0, tzinfo=UTC)
    world.orders(399, as_of - 5 * D)
    world.order(start)
    world.order(start - S)
    m = metric(world, "ebay.transaction_defect_rate", as_of=as_of)
    assert (m.window_start, m.denominator) == (start, 400)


# -- Tracking uploaded on time and validated ---------------------------------------------------------------------


def _tracked(world, paid: datetime, uploaded: datetime, *, country: str = "US", validated: bool = True,
             zone: str | None = None) -> str:
    ref = world.order(paid, paid_at=paid, handling_days=1, buyer_country=country, seller_timezone=zone)
    world.records.append(Shipment(account=world.account, external_id=f"s-{ref}", order_ref=ref, shipped_at=uploaded,
                                  tracking_number=f"1Z{ref}", tracking_validated=validated,
                                  tracking_uploaded_at=uploaded))
    return ref


def test_tracking_deadline_is_23_59_59_pacific_of_the_last_handling_day(world):
    """Paid Friday 20 Nov 2026 10:00 PST, 1 business day: upload by Monday 23 Nov 23:59:59 PST (24 Nov 07:59:59
    UTC). On the second: on time; one second later: not. A number the carrier never scanned fails; the scan may
    come after the deadline (validated later). Non-US buyers are out. 2 of 4 = 50%."""
    paid = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    deadline = datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC)
    _tracked(world, paid, deadline)
    _tracked(world, paid, deadline + S)
    _tracked(world, paid, deadline - H, validated=False)
    _tracked(world, paid, deadline - H)
    _tracked(world, paid, deadline + D, country="GB")
    m = metric(world, "ebay.tracking_uploaded_on_time_validated", as_of=NOW + 5 * D)
    assert (m.numerator, m.denominator, m.value) == (2, 4, 0.5)


def test_tracking_deadline_is_pacific_whatever_the_sellers_clock(world):
    """'The upload deadline is 23:59:59 Pacific Time on the last business day of the handling time': a seller in
    New York who uploads Monday 23:30 PST (Tuesday 02:30 in New York) is on time."""
    paid = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # Friday 10:00 PST / 13:00 EST
    _tracked(world, paid, datetime(2026, 11, 24, 7, 30, tzinfo=UTC), zone="America/New_York")
    m = metric(world, "ebay.tracking_uploaded_on_time_validated", as_of=NOW + 5 * D)
    assert (m.numerator, m.denominator) == (1, 1)


def test_handling_time_skips_holidays(world):
    """Paid Wednesday 25 Nov 2026 (PST), 1 business day; Thursday 26 Nov is Thanksgiving (a US federal and USPS
    holiday): the deadline is Friday 27 Nov 23:59:59 PST, so an upload on Friday afternoon is on time."""
    paid = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    _tracked(world, paid, datetime(2026, 11, 27, 22, 0, tzinfo=UTC))
    m = metric(world, "ebay.tracking_uploaded_on_time_validated", as_of=NOW + 8 * D)
    assert (m.numerator, m.denominator) == (1, 1)


@pytest.mark.parametrize(("bad", "level", "reason_start"), [
    (1, "ok", None),  # 24/25 = 96%: the suggested band is '< 96%'
    (2, "warn", "threshold crossed"),  # 23/25 = 92% < 95%: Top Rated lost (breach level warn)
    (5, "warn", "threshold crossed"),  # 20/25 = 80%
])
def test_tracking_at_least_95_percent_top_rated_only(world, bad, level, reason_start):
    """Uploaded an hour after the deadline is not 'within the stated handling time'."""
    paid = datetime(2026, 11, 2, 18, 0, tzinfo=UTC)  # Monday 10:00 PST
    deadline = datetime(2026, 11, 4, 7, 59, 59, tzinfo=UTC)  # Tuesday 23:59:59 PST
    for i in range(25):
        _tracked(world, paid, deadline + (H if i < bad else -H))
    m = metric(world, "ebay.tracking_uploaded_on_time_validated")
    assert (m.numerator, m.denominator, m.level) == (25 - bad, 25, level)
    if reason_start:
        assert m.reason.startswith(reason_start)


# -- Top Rated minimum, evaluation day, service metrics ---------------------------------------------------------


def test_top_rated_minimum_is_always_twelve_months_of_us_buyers(world):
    """>= 100 transactions with US buyers in 12 months, whatever the 400 rule: 99 US + 10 CA in 12 months is under
    the minimum (breach level warn); one more US transaction 11 months back reaches 100."""
    world.orders(99, NOW - 200 * D, buyer_country="US")
    world.orders(10, NOW - 10 * D, buyer_country="CA")
    world.order(NOW - 370 * D, buyer_country="US")  # over 12 months: out
    m = metric(world, "ebay.top_rated_min_transactions")
    assert (m.value, m.level) == (99, "warn") and m.reason.startswith("threshold crossed")
    world.order(NOW - 335 * D, buyer_country="US")
    m = metric(world, "ebay.top_rated_min_transactions")
    assert m.value == 100 and not m.reason.startswith("threshold crossed")


def test_evaluation_is_fixed_on_the_20th_pacific(world):
    """As of 23 Nov 2026 the last evaluation is 20 Nov 00:00 PST; its lookback (< 400: 12 months) ends there."""
    world.orders(50, datetime(2026, 10, 1, tzinfo=UTC))
    m = metric(world, "ebay.transaction_defect_rate")
    assert m.final is not None
    assert (m.final.at, m.final.window_end) == (datetime(2026, 11, 20, 8, tzinfo=UTC),) * 2
    assert m.final.window_start == datetime(2025, 11, 20, 8, tzinfo=UTC)


def test_the_20th_verdict_across_the_dst_change(world):
    """As of 25 Mar 2026 the last evaluation is 20 Mar 00:00 PDT (07:00 UTC; DST began 8 Mar). With >= 400
    transactions its lookback is the 3 calendar months before it: from 20 Dec 2025 00:00 PST (08:00 UTC)."""
    world.orders(399, datetime(2026, 2, 1, tzinfo=UTC))
    world.order(datetime(2025, 12, 20, 8, tzinfo=UTC))  # the first instant: the 400th
    world.order(datetime(2025, 12, 20, 7, 59, 59, tzinfo=UTC))  # out
    m = metric(world, "ebay.transaction_defect_rate", as_of=datetime(2026, 3, 25, 12, tzinfo=UTC))
    assert m.final is not None
    assert (m.final.at, m.final.window_start) == (datetime(2026, 3, 20, 7, tzinfo=UTC),
                                                  datetime(2025, 12, 20, 8, tzinfo=UTC))
    assert m.final.denominator == 400


@pytest.mark.parametrize(("rating", "level"), [("LOW", "ok"), ("AVERAGE", "ok"), ("HIGH", "warn"),
                                                ("VERY_HIGH", "critical")])
def test_service_metrics_use_ebays_rating(world, rating, level):
    world.records.append(ReportedMetric(account=world.account, external_id="inr", metric_id="ebay.inr_rate",
                                        value=0.02, status=rating, as_of=NOW - D, scope="DOMESTIC"))
    assert metric(world, "ebay.inr_rate").level == level



@pytest.mark.parametrize(("metric_id", "word", "level"), [
    ("ebay.seller_level", "TOP_RATED", "ok"), ("ebay.seller_level", "ABOVE_STANDARD", "ok"),
    ("ebay.seller_level", "BELOW_STANDARD", "critical"),
    ("ebay.seller_level_projected", "BELOW_STANDARD", "warn"),  # not yet the level: fixed on the 20th
])
def test_ebays_own_level_words(world, metric_id, word, level):
    world.records.append(ReportedMetric(account=world.account, external_id="lvl", metric_id=metric_id, status=word,
                                        as_of=NOW - D, scope="PROGRAM_US"))
    assert metric(world, metric_id).level == level

# -- the public path: `sellerguard import` + `status --json` -------------------------------------------------------


def test_import_and_status_json_end_to_end(tmp_path):
    """Raw buyer ids through the import: 200 transactions, 6 seller cancellations from 4 buyers: 3% but 4 unique
    buyers: not Below Standard (warn); the Top Rated limit (> 0.5% and >= 4) is crossed."""
    rows: list[dict] = [{"kind": "account", "id": "shop", "marketplace": "ebay", "region": "EBAY_US"}]
    for i in range(200):
        who = ["ann", "ann", "bob", "bob", "cy", "dee"][i] if i < 6 else f"b{i}"
        rows.append({"kind": "order", "account": "shop", "external_id": f"o{i}", "fulfilment": "seller",
                     "purchased_at": "2026-10-20T10:00:00Z", "status": "cancelled" if i < 6 else "delivered",
                     "buyer_id": who})
        if i < 6:
            rows.append({"kind": "cancellation", "account": "shop", "external_id": f"c{i}", "order_ref": f"o{i}",
                         "cancelled_at": "2026-10-20T12:00:00Z", "initiated_by": "seller", "reason": "OUT_OF_STOCK"})
    code, got = cli_status(tmp_path, rows, "2026-11-23T12:00:00Z")
    tdr = got["ebay.transaction_defect_rate"]
    assert (tdr["numerator"], tdr["denominator"], tdr["unique_buyers"], tdr["level"]) == (6, 200, 4, "warn")
    top = got["ebay.top_rated_transaction_defect_rate"]
    assert (top["level"], top["reason"].startswith("threshold crossed")) == ("warn", True)
    assert code == 1
