"""Property tests: the SQL calculators agree with a plain-Python recomputation on random data,
and headroom means what it says."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sellerguard.rules import assess
from sellerguard.rules.packs import Pack, load_packs, parse_pack
from sellerguard.schema import Cancellation, Claim, Message, Order, Rating, Shipment

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
_accounts = itertools.count()
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def amazon_only(*metric_ids: str) -> Pack:
    """The Amazon pack with only the metrics a property checks, as the pack defines them: the engine computes
    them the same way, without the other 20-odd metrics each example would otherwise pay for."""
    pack = load_packs()["amazon"]
    return pack.model_copy(update={"metrics": [m for m in pack.metrics if m.id in metric_ids]})


ODR_PFCR_LSR = amazon_only("amazon.odr", "amazon.pre_fulfillment_cancel_rate", "amazon.late_shipment_rate_10d")
CONTACT = amazon_only("amazon.contact_response_time")

minutes = st.integers(min_value=0, max_value=100 * 24 * 60)  # up to 100 days before NOW
order_st = st.fixed_dictionaries({
    "age": minutes,
    "seller": st.booleans(),
    "cancelled": st.booleans(),
    "ship_by_after": st.one_of(st.none(), st.integers(0, 5 * 24 * 60)),
    "confirm_after": st.one_of(st.none(), st.integers(0, 7 * 24 * 60)),
    "feedback": st.sampled_from([None, "negative", "removed", "positive"]),
    "claim": st.sampled_from([None, "a_to_z", "chargeback"]),
    "fault": st.sampled_from([True, False, None]),
    "cancel": st.sampled_from([None, "seller", "buyer", "marketplace"]),
    "buyer_requested": st.booleans(),
})


def _write(store, account: str, orders: list[dict]) -> list[dict]:
    records = []
    for i, o in enumerate(orders):
        ref = f"o{i}"
        o["at"] = NOW - o["age"] * MIN
        o["ship_by"] = o["at"] + o["ship_by_after"] * MIN if o["ship_by_after"] is not None else None
        records.append(Order(account=account, external_id=ref, purchased_at=o["at"], ship_by=o["ship_by"],
                             fulfilment="seller" if o["seller"] else "marketplace",
                             status="cancelled" if o["cancelled"] else "shipped"))
        if o["confirm_after"] is not None:
            o["confirmed"] = o["at"] + o["confirm_after"] * MIN
            records.append(Shipment(account=account, external_id=f"s{i}", order_ref=ref, confirmed_at=o["confirmed"]))
        else:
            o["confirmed"] = None
        if o["feedback"]:
            records.append(Rating(account=account, external_id=f"r{i}", rating_kind="seller_feedback", score="1",
                                  negative=o["feedback"] != "positive", removed=o["feedback"] == "removed",
                                  rated_at=NOW, order_ref=ref))
        if o["claim"]:
            records.append(Claim(account=account, external_id=f"c{i}", claim_kind=o["claim"], order_ref=ref,
                                 opened_at=NOW, seller_at_fault=o["fault"]))
        if o["cancel"]:
            records.append(Cancellation(account=account, external_id=f"x{i}", order_ref=ref, cancelled_at=NOW,
                                        initiated_by=o["cancel"], buyer_requested=o["buyer_requested"]))
    store.write(records)
    return orders


def _rate(orders: list[dict], eligible, defect) -> tuple[int, int]:
    pop = [o for o in orders if eligible(o)]
    return sum(1 for o in pop if defect(o)), len(pop)


@SETTINGS
@given(orders=st.lists(order_st, max_size=40))
def test_odr_pfcr_lsr_match_python(world, orders):
    world.account = f"h{next(_accounts)}"
    orders = _write(world.store, world.account, orders)
    got = {m.id: (m.numerator, m.denominator) for m in world.status("amazon", pack=ODR_PFCR_LSR).metrics}

    odr_start, odr_end = NOW - 74 * timedelta(days=1), NOW - 14 * timedelta(days=1)
    odr = _rate(
        orders,
        lambda o: o["seller"] and odr_start <= o["at"] < odr_end,
        lambda o: o["feedback"] == "negative" or (o["claim"] is not None and o["fault"] is True),
    )
    pfcr = _rate(
        orders,
        # every seller-fulfilled order of the 7 days: buyer-requested cancellations stay in the denominator
        lambda o: o["seller"] and NOW - timedelta(days=7) <= o["at"] < NOW,
        lambda o: o["cancel"] in ("seller", "marketplace") and not o["buyer_requested"],
    )
    lsr = _rate(
        orders,
        lambda o: o["seller"] and not o["cancelled"] and o["ship_by"] is not None
        and NOW - timedelta(days=10) <= o["ship_by"] < NOW,
        lambda o: o["confirmed"] is None or o["confirmed"] > o["ship_by"],
    )
    assert got["amazon.odr"] == odr
    assert got["amazon.pre_fulfillment_cancel_rate"] == pfcr
    assert got["amazon.late_shipment_rate_10d"] == lsr


@SETTINGS
@given(msgs=st.lists(st.tuples(minutes, st.one_of(st.none(), st.integers(0, 48 * 60)), st.booleans()), max_size=40))
def test_contact_response_matches_python(world, msgs):
    world.account = f"m{next(_accounts)}"
    records = []
    for i, (age, reply_after, needs) in enumerate(msgs):
        received = NOW - age * MIN
        replied = received + reply_after * MIN if reply_after is not None and received + reply_after * MIN < NOW \
            else None
        records.append(Message(account=world.account, external_id=f"m{i}", thread_id=f"t{i}",
                               received_at=received, first_reply_at=replied, needs_reply=needs))
    world.store.write(records)
    m = world.metric("amazon.contact_response_time", pack=CONTACT)
    start = NOW - timedelta(days=30)
    pop = [(NOW - a * MIN, r) for a, r, n in msgs if n and start <= NOW - a * MIN < NOW]
    late = 0
    for received, reply_after in pop:
        replied = received + reply_after * MIN if reply_after is not None and received + reply_after * MIN < NOW \
            else None
        due = received + timedelta(hours=24)
        late += (replied > due) if replied is not None else (due < NOW)
    assert (m.numerator, m.denominator) == (late, len(pop))


def _metric(comparator: str, threshold: float, gate: int | None):
    body = {"name": "m", "calculator": "rate", "comparator": comparator, "threshold": threshold,
            "consequence": "c", "source": "https://example.org", "confirmed": True, "count_gate": gate,
            "params": {"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]}}
    body = {k: v for k, v in body.items() if v is not None}
    return parse_pack({"marketplace": "t", "name": "t", "reviewed": "2026-11-23", "metrics": {"t.m": body}},
                      "t.toml").metrics[0]


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 5000), d_frac=st.floats(0, 1), threshold=st.sampled_from([0.003, 0.01, 0.02, 0.04, 0.1]),
       comparator=st.sampled_from(["<", "<="]), gate=st.sampled_from([None, 3, 5]))
def test_headroom_is_exact(n, d_frac, threshold, comparator, gate):
    metric = _metric(comparator, threshold, gate)
    d = int(n * d_frac)
    h = assess.headroom(metric, "rate", d, n)
    assert h is not None
    if h >= 0:  # h more defects keep it good, one more breaks it (unless every event is already counted)
        k = int(h)
        assert not assess.breached(metric, (d + k) / n, d + k)
        if d + k < n:
            assert assess.breached(metric, (d + k + 1) / n, d + k + 1)
    else:  # -h clean events recover, one fewer does not
        m = int(-h)
        assert assess.breached(metric, d / n, d)
        assert not assess.breached(metric, d / (n + m), d)
        assert m == 1 or assess.breached(metric, d / (n + m - 1), d)


@SETTINGS
@given(
    orders=st.lists(  # one in six cancelled, and younger: the clean orders tend to leave the window first
        st.tuples(st.integers(14 * 24 * 60 + 1, 30 * 24 * 60 - 1), st.integers(0, 5)).map(
            lambda t: (14 * 24 * 60 + 1 + t[0] % (6 * 24 * 60), True) if t[1] == 0 else (t[0], False)),
        min_size=3, max_size=30),
    threshold=st.sampled_from([0.1, 0.2, 0.34, 0.5]),
    comparator=st.sampled_from(["<", "<="]),
)
def test_forecast_equals_evaluating_the_future_when_nothing_new_arrives(world, make_pack, orders, threshold,
                                                                         comparator):
    """No events in the last 14 days (the basis of the projected rates, start included): the rates are zero, so
    the forecast must name exactly the first day on which evaluating as of that day (same data) breaches."""
    world.account = f"f{next(_accounts)}"
    pack = make_pack(calculator="rate", comparator=comparator, threshold=threshold, window_days=30,
                     params={"events": "orders", "anchor": "purchased_at", "defects": ["seller_cancelled"]})
    records = []
    for i, (age, cancelled) in enumerate(orders):
        at = NOW - age * MIN
        records.append(Order(account=world.account, external_id=f"o{i}", purchased_at=at, fulfilment="seller",
                             status="cancelled" if cancelled else "shipped"))
        if cancelled:
            records.append(Cancellation(account=world.account, external_id=f"x{i}", order_ref=f"o{i}",
                                        cancelled_at=at, initiated_by="seller"))
    world.store.write(records)
    now = world.status("test", pack=pack).metrics[0]
    if now.level == "critical":
        event("already breached")
        assert now.breach_forecast is None
        return
    expected = None
    for t in range(1, 15):
        later = world.status("test", pack=pack, as_of=NOW + t * timedelta(days=1)).metrics[0]
        if later.level == "critical":
            expected = NOW + t * timedelta(days=1)
            break
    event("forecast" if expected else "no breach")
    assert now.breach_forecast == expected
