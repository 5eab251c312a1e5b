"""A deterministic, marketplace-neutral world of seller activity that the sandbox renders per marketplace.

The same seed and ``now`` always give the same world: 90 days of orders per account with shipments,
cancellations, feedback, claims, returns and buyer messages. Profiles shape each account's health:

- ``healthy``: defects well under every threshold;
- ``drifting``: clean history, but the last two weeks ship later, cancel more and answer slower, so the
  short windows sit in the warning band and forecasts show a breach ahead;
- ``critical``: already over the line on the main rate metrics.

Events after ``now`` have not happened yet (an order purchased an hour ago is unshipped), which gives the
deadline queue real items. Tests, the demo and the benchmarks all draw from this one generator.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

DAYS = 90


@dataclass(slots=True)
class WShipment:
    shipped_at: datetime | None
    confirmed_at: datetime | None
    carrier: str
    tracking: str
    tracking_valid: bool
    delivered_at: datetime | None


@dataclass(slots=True)
class WCancel:
    at: datetime
    by: str  # buyer | seller | marketplace
    buyer_requested: bool
    reason: str


@dataclass(slots=True)
class WFeedback:
    id: str
    score: int  # 1..5
    at: datetime
    removed: bool = False


@dataclass(slots=True)
class WClaim:
    id: str
    kind: str  # a_to_z | item_not_received | not_as_described | chargeback
    opened_at: datetime
    closed_at: datetime | None
    seller_at_fault: bool | None
    outcome: str | None


@dataclass(slots=True)
class WReturn:
    id: str
    requested_at: datetime
    resolved_at: datetime | None
    refund: Decimal | None
    dissatisfied: bool
    reason: str


@dataclass(slots=True)
class WOrder:
    seq: int
    id: str
    account: str
    purchased_at: datetime
    ship_by: datetime
    deliver_by: datetime
    fulfilment: str  # seller | marketplace
    items: int
    unit_price: Decimal
    currency: str
    sku: str
    shipment: WShipment | None = None
    cancel: WCancel | None = None
    feedback: WFeedback | None = None
    claim: WClaim | None = None
    ret: WReturn | None = None
    updated_at: datetime = field(default=None)  # type: ignore[assignment]
    cart: int | None = None  # seq of the cart's first order: orders bought together share its shipment

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.items

    @property
    def status(self) -> str:
        if self.cancel is not None:
            return "cancelled"
        if self.shipment is None or self.shipment.shipped_at is None:
            return "unshipped"
        if self.shipment.delivered_at is not None:
            return "delivered"
        return "shipped"

    def touch(self, now: datetime) -> None:
        times = [self.purchased_at]
        s = self.shipment
        if s is not None:
            times += [t for t in (s.shipped_at, s.confirmed_at, s.delivered_at) if t is not None]
        for t in (
            self.cancel and self.cancel.at,
            self.feedback and self.feedback.at,
            self.claim and self.claim.opened_at,
            self.claim and self.claim.closed_at,
            self.ret and self.ret.requested_at,
            self.ret and self.ret.resolved_at,
        ):
            if t:
                times.append(t)
        self.updated_at = min(max(times), now)


@dataclass(slots=True)
class WMessage:
    id: str
    thread_id: str
    order_id: str | None
    received_at: datetime
    replied_at: datetime | None
    needs_reply: bool = True


@dataclass(frozen=True)
class Profile:
    late_ship: float  # seller-fulfilled orders confirmed after ship-by
    cancel: float  # seller cancellations
    buyer_cancel: float
    invalid_tracking: float
    late_delivery: float
    negative: float  # 1-2 star feedback
    claim: float
    returns: float
    late_reply: float  # messages answered after 24 h
    recent_factor: float = 1.0  # multiplier on defect rates over the last ``recent_days``
    recent_days: int = 14
    # (from_days_ago, to_days_ago, factor): defect-rate multipliers by age, for histories that drift, recover
    # and spike (the breach-probability backtest, docs/forecast.md); the first phase holding an age wins
    phases: tuple[tuple[int, int, float], ...] = ()

    def factor(self, days_ago: int) -> float:
        """The multiplier on defect rates for an event ``days_ago`` whole days before ``now``."""
        for start, end, factor in self.phases:
            if end <= days_ago < start:
                return factor
        return self.recent_factor if days_ago < self.recent_days else 1.0


PROFILES: dict[str, Profile] = {
    "healthy": Profile(0.004, 0.004, 0.01, 0.01, 0.03, 0.003, 0.001, 0.03, 0.02),
    "drifting": Profile(0.012, 0.006, 0.01, 0.02, 0.04, 0.004, 0.002, 0.04, 0.04, recent_factor=3.6),
    "critical": Profile(0.07, 0.03, 0.01, 0.08, 0.12, 0.012, 0.008, 0.06, 0.15),
    # forecast backtest profiles (docs/forecast.md): eventful histories, meant for World(days=...) of 180+
    "wavy": Profile(0.01, 0.005, 0.01, 0.015, 0.035, 0.004, 0.002, 0.04, 0.03, phases=(
        (170, 150, 2.6), (130, 118, 3.8), (100, 80, 1.8), (62, 50, 4.5), (34, 24, 2.4), (12, 0, 3.4))),
    "spiky": Profile(0.006, 0.004, 0.01, 0.01, 0.03, 0.003, 0.0015, 0.03, 0.02, phases=(
        (160, 155, 9.0), (121, 117, 7.0), (88, 84, 11.0), (57, 52, 6.0), (30, 27, 12.0), (8, 4, 8.0))),
    "recovering": Profile(0.02, 0.009, 0.01, 0.03, 0.06, 0.006, 0.003, 0.05, 0.06, phases=(
        (400, 110, 1.6), (110, 70, 1.0), (70, 0, 0.45))),
    # hovering near the thresholds, up and down by a third: the odds' middle range (tuning world)
    "edge": Profile(0.028, 0.014, 0.01, 0.03, 0.06, 0.0045, 0.0028, 0.04, 0.07, phases=(
        (200, 175, 1.3), (175, 150, 0.8), (150, 135, 1.5), (135, 120, 1.0), (120, 100, 1.35), (100, 85, 0.75),
        (85, 70, 1.45), (70, 55, 1.1), (55, 40, 0.85), (40, 25, 1.5), (25, 10, 1.0), (10, 0, 1.3))),
    # the held-out world's profiles (chosen before any check, never tuned on): ten-day blocks up and down,
    # a slow slide with a relapse, and short bursts at other ages than ``spiky``
    "choppy": Profile(0.024, 0.012, 0.012, 0.025, 0.05, 0.004, 0.0025, 0.035, 0.05, phases=tuple(
        (a + 10, a, f) for a, f in zip(range(190, -1, -10), (
            1.6, 0.7, 1.2, 1.9, 0.6, 1.4, 1.0, 2.2, 0.8, 1.3, 0.5, 1.7, 1.1, 0.9, 2.0, 0.7, 1.5, 1.2, 0.8, 1.8),
            strict=True))),
    "slipping": Profile(0.015, 0.008, 0.01, 0.02, 0.045, 0.004, 0.002, 0.04, 0.04, phases=(
        (200, 160, 0.6), (160, 130, 0.9), (130, 110, 1.2), (110, 95, 1.6), (95, 80, 2.0), (80, 60, 1.1),
        (60, 45, 1.5), (45, 30, 1.9), (30, 15, 2.4), (15, 0, 1.4))),
    "bursty": Profile(0.012, 0.007, 0.01, 0.015, 0.04, 0.0035, 0.002, 0.03, 0.03, phases=(
        (170, 166, 5.0), (140, 137, 7.0), (112, 106, 3.5), (95, 92, 8.0), (74, 70, 4.5), (48, 45, 6.5),
        (33, 27, 3.0), (16, 13, 7.5))),
    # a third, untouched world's profiles (scored once, after the model was fixed): ramps that reset, a steady
    # account near the lines with one shock, and a slow improvement
    "sawtooth": Profile(0.014, 0.007, 0.01, 0.02, 0.045, 0.0035, 0.002, 0.035, 0.035, phases=tuple(
        (a + 6, a, f) for a, f in zip(range(198, -1, -6), [0.8, 1.1, 1.4, 1.7, 2.0, 2.3] * 6, strict=False))),
    "steady": Profile(0.03, 0.016, 0.01, 0.035, 0.07, 0.0048, 0.003, 0.04, 0.075, phases=(
        (66, 58, 2.2),)),
    "improving": Profile(0.045, 0.022, 0.01, 0.05, 0.1, 0.008, 0.004, 0.05, 0.1, phases=tuple(
        (a + 20, a, 1.3 - 0.08 * i) for i, a in enumerate(range(180, -1, -20)))),
}

# Near-the-lines defect rates (the ``edge`` profile's), scaled by a level per profile below; buyer cancellations
# and returns are no seller defects and stay as they are.
_NEAR_LINES = (0.028, 0.014, 0.01, 0.03, 0.06, 0.0045, 0.0028, 0.04, 0.07)
_BACKTEST_AGES = 210  # phases cover a World(days=200) history


def near_lines(level: float, phases: tuple[tuple[int, int, float], ...]) -> Profile:
    """A profile at ``level`` x the near-the-lines rates, with ``phases`` (from_days_ago, to_days_ago, factor)."""
    late, cancel, buyer, tracking, delivery, negative, claim, returns, reply = _NEAR_LINES
    return Profile(late * level, cancel * level, buyer, tracking * level, delivery * level, negative * level,
                   claim * level, returns, reply * level, phases=phases)


def walk_phases(seed: str, *, lengths: tuple[int, int], sigma: float) -> tuple[tuple[int, int, float], ...]:
    """Back-to-back phases of ``lengths`` days (uniform) whose factors are log-normal(0, ``sigma``), clipped to
    0.3-3.5: a seller whose defect rate wanders in blocks of random length. Drawn from ``seed`` alone."""
    import math

    rng = random.Random(f"walk-phases:{seed}")
    out, age = [], _BACKTEST_AGES
    while age > 0:
        end = max(age - rng.randint(*lengths), 0)
        out.append((age, end, round(min(max(math.exp(rng.gauss(0.0, sigma)), 0.3), 3.5), 3)))
        age = end
    return tuple(out)


def wave_phases(period: float, amplitude: float, step: int = 3) -> tuple[tuple[int, int, float], ...]:
    """A sine wave of ``period`` days around 1 in ``step``-day phases (a seasonal rise and fall)."""
    import math

    return tuple((a + step, a, round(1 + amplitude * math.sin(2 * math.pi * a / period), 3))
                 for a in range(_BACKTEST_AGES - step, -1, -step))


def decay_phases(ages: tuple[int, ...], peak: float, keep: float, days: int = 9) -> tuple[tuple[int, int, float], ...]:
    """Spikes starting ``ages`` days ago at ``peak`` x that fade day by day (x ``keep`` of the excess a day)."""
    out = []
    for start in ages:
        for i in range(days):
            if start - i - 1 >= 0:
                out.append((start - i, start - i - 1, round(1 + (peak - 1) * keep ** i, 3)))
    return tuple(out)


# Backtest training worlds (fitting only): wandering rates at several levels, block lengths and spreads
# (scripts/forecast-backtest --world train-d / train-e, docs/forecast.md)
for _i, (_level, _lengths, _sigma) in enumerate((
        (0.7, (4, 25), 0.5), (0.9, (3, 30), 0.4), (1.0, (5, 20), 0.35), (1.15, (4, 28), 0.3), (0.8, (2, 15), 0.6),
        (1.05, (6, 35), 0.45), (0.6, (3, 18), 0.7), (1.25, (4, 22), 0.3), (0.95, (8, 40), 0.5), (0.85, (3, 12), 0.4)),
        start=1):
    PROFILES[f"walk-{_i}"] = near_lines(_level, walk_phases(f"walk-{_i}", lengths=_lengths, sigma=_sigma))
# Backtest check worlds (check-a / check-b): shapes no training world has, defined before any of them was
# scored and scored once with the final model (docs/forecast.md)
PROFILES.update({
    "seasonal": near_lines(0.95, wave_phases(30, 0.55)),
    "plateau": near_lines(0.8, ((150, 112, 1.8), (55, 15, 1.9))),  # raised rates that persist for weeks
    "worsening": near_lines(1.0, tuple((a + 10, a, round(0.6 + 1.0 * (200 - a) / 200, 3))
                                       for a in range(190, -1, -10))),
    "fading": near_lines(0.75, decay_phases((172, 133, 97, 61, 30), 4.0, 0.75)),
    "walk-x1": near_lines(1.0, walk_phases("x1", lengths=(2, 10), sigma=0.45)),
    "walk-x2": near_lines(0.9, walk_phases("x2", lengths=(10, 45), sigma=0.5)),
    "seasonal-long": near_lines(1.05, wave_phases(48, 0.45, step=4)),
    "stairs": near_lines(0.85, tuple((a + 20, a, f) for a, f in zip(range(190, -1, -20),
                                                                   (0.7, 1.0, 1.3, 1.6, 1.9, 1.6, 1.3, 1.0, 1.4, 1.8),
                                                                   strict=True))),
    "relapsing": near_lines(1.1, ((200, 140, 1.5), (140, 90, 0.6), (90, 60, 1.7), (60, 25, 0.65), (25, 0, 1.6))),
    "fading-big": near_lines(0.6, decay_phases((180, 150, 118, 88, 52, 19), 6.0, 0.7, days=12)),
})


@dataclass(eq=False)
class WAccount:
    """One seller account. Its orders and messages are generated at first use (``World._load``): a world of
    thousands of accounts starts at once and holds only the ones being served (``World(keep=...)``)."""

    id: str
    marketplace: str
    seller_id: str
    display_name: str
    profile: str
    site: str
    currency: str
    orders_per_day: int
    marketplace_fulfilled: float  # share of orders the marketplace fulfils (FBA, WFS, FBT, LVB)
    _world: World | None = field(default=None, repr=False)
    _orders: list[WOrder] | None = field(default=None, repr=False)
    _messages: list[WMessage] | None = field(default=None, repr=False)

    @property
    def orders(self) -> list[WOrder]:
        if self._orders is None:
            self._load()
        return self._orders  # type: ignore[return-value]

    @orders.setter
    def orders(self, value: list[WOrder]) -> None:
        self._load()  # messages stay generated with the orders they belong to
        self._orders = value
        if self._world is not None:
            self._world.pin(self.id)

    @property
    def messages(self) -> list[WMessage]:
        if self._messages is None:
            self._load()
        return self._messages  # type: ignore[return-value]

    @messages.setter
    def messages(self, value: list[WMessage]) -> None:
        self._load()
        self._messages = value
        if self._world is not None:
            self._world.pin(self.id)

    def _load(self) -> None:
        if self._orders is None or self._messages is None:
            assert self._world is not None, "an account outside a World has no generator"
            self._world.load(self)


# (id, marketplace, profile, site, currency, orders/day, marketplace-fulfilled share)
DEFAULT_ACCOUNTS: list[tuple[str, str, str, str, str, int, float]] = [
    ("amazon-us", "amazon", "drifting", "ATVPDKIKX0DER", "USD", 40, 0.35),
    ("amazon-de", "amazon", "healthy", "A1PA6795UKMFR9", "EUR", 20, 0.5),
    ("ebay-us", "ebay", "healthy", "EBAY_US", "USD", 25, 0.0),
    ("walmart-us", "walmart", "drifting", "US", "USD", 20, 0.3),
    ("etsy-shop", "etsy", "healthy", "US", "USD", 8, 0.0),
    ("tiktok-us", "tiktok", "drifting", "US", "USD", 15, 0.2),
    ("shopify-store", "shopify", "healthy", "US", "USD", 10, 0.0),
    ("mercadolibre-br", "mercadolibre", "critical", "MLB", "BRL", 15, 0.25),
    ("bol-nl", "bol", "healthy", "NL", "EUR", 12, 0.3),
]
_CARRIERS = ["UPS", "USPS", "FedEx", "DHL", "PostNL"]
CART_MARKETPLACES = ("mercadolibre",)  # where orders bought together share one shipment (packs)


def _order_id(marketplace: str, seq: int, rng: random.Random) -> str:
    if marketplace == "amazon":
        return f"{100 + seq % 900:03d}-{rng.randrange(10**7):07d}-{rng.randrange(10**7):07d}"
    if marketplace == "ebay":
        return f"{10 + seq % 90:02d}-{rng.randrange(10**5):05d}-{rng.randrange(10**5):05d}"
    return str(1_000_000_000 + seq * 7 + rng.randrange(7))


MARKETPLACES = tuple(dict.fromkeys(row[1] for row in DEFAULT_ACCOUNTS))  # the eight, in a stable order
GENERATED_PROFILES = (("healthy", 0.7), ("drifting", 0.2), ("critical", 0.1))  # shares in generated worlds


AccountRow = tuple[str, str, str, str, str, int, float]


def generated_accounts(per_marketplace: int, *, seed: int = 7,
                       marketplaces: tuple[str, ...] = MARKETPLACES) -> list[AccountRow]:
    """``per_marketplace`` account rows for each marketplace (``<marketplace>-00001`` ...): profiles 70 % healthy,
    20 % drifting, 10 % critical, 2..12 orders a day, site and currency of the marketplace's default account;
    drawn from ``seed``, so the same arguments always give the same accounts."""
    first = {row[1]: row for row in reversed(DEFAULT_ACCOUNTS)}
    rows = []
    for mp in marketplaces:
        _, _, _, site, currency, _, share = first[mp]
        for i in range(1, per_marketplace + 1):
            acc_id = f"{mp}-{i:05d}"
            rng = random.Random(f"{seed}:generated:{acc_id}")
            profile = rng.choices([p for p, _ in GENERATED_PROFILES], [w for _, w in GENERATED_PROFILES])[0]
            rows.append((acc_id, mp, profile, site, currency, rng.randint(2, 12), share))
    return rows


class World:
    """Accounts are listed at once and generated at first use, each from (seed, account id, now) alone, so any
    account reads the same whenever and in whichever order it is generated. ``keep`` bounds how many generated
    accounts stay in memory (the least recently loaded are dropped and generated again when asked for; an
    account changed by ``inject`` or by assigning its orders is kept); None keeps them all."""

    def __init__(self, now: datetime, *, seed: int = 7, scale: float = 1.0,
                 accounts: list[tuple[str, str, str, str, str, int, float]] | None = None,
                 days: int = DAYS, keep: int | None = None) -> None:
        self.now = now
        self.seed = seed
        self.days = days  # history length (the forecast backtest wants more than the default 90)
        self.keep = keep
        self.accounts: dict[str, WAccount] = {}
        self._loaded: OrderedDict[str, None] = OrderedDict()
        self._pinned: set[str] = set()
        self._gen_lock = threading.RLock()
        for acc_id, mp, profile, site, cur, per_day, share in DEFAULT_ACCOUNTS if accounts is None else accounts:
            self.accounts[acc_id] = WAccount(acc_id, mp, f"SELLER-{acc_id.upper()}", acc_id.replace("-", " ").title(),
                                             profile, site, cur, max(1, round(per_day * scale)), share, self)

    @classmethod
    def generated(cls, now: datetime, per_marketplace: int, *, seed: int = 7, scale: float = 1.0,
                  keep: int | None = 256) -> World:
        """A world of ``per_marketplace`` generated accounts on each of the eight marketplaces
        (``generated_accounts``), holding at most ``keep`` of them in memory: ``sandbox --accounts N``."""
        return cls(now, seed=seed, scale=scale, accounts=generated_accounts(per_marketplace, seed=seed), keep=keep)

    def load(self, acc: WAccount) -> None:
        """Generate ``acc``'s orders and messages (once; again after ``keep`` dropped them). Thread-safe: the
        sandbox serves requests on many threads, and an account is published only whole."""
        with self._gen_lock:
            if acc._orders is not None and acc._messages is not None:
                return  # another thread generated it meanwhile
            orders, messages = self._generate(acc)
            acc._messages = messages
            acc._orders = orders
            self._loaded[acc.id] = None
            if self.keep is not None:
                while len(self._loaded) > max(self.keep, 1):
                    old = next((a for a in self._loaded if a not in self._pinned and a != acc.id), None)
                    if old is None:
                        break
                    del self._loaded[old]
                    dropped = self.accounts[old]
                    dropped._orders = dropped._messages = None

    def pin(self, account: str) -> None:
        """Keep ``account`` in memory for good (it was changed: generating it again would undo the change)."""
        with self._gen_lock:
            self._pinned.add(account)

    def of(self, marketplace: str) -> list[WAccount]:
        return [a for a in self.accounts.values() if a.marketplace == marketplace]

    def order(self, account: str, order_id: str) -> WOrder | None:
        for o in self.accounts[account].orders:
            if o.id == order_id:
                return o
        return None

    # -- generation -----------------------------------------------------------------------------------

    def _generate(self, acc: WAccount) -> tuple[list[WOrder], list[WMessage]]:
        p = PROFILES[acc.profile]
        start = self.now - timedelta(days=self.days)
        orders: list[WOrder] = []
        messages: list[WMessage] = []
        seq = 0
        for day in range(self.days + 1):
            day_start = start + timedelta(days=day)
            for _ in range(acc.orders_per_day):
                rng = random.Random(f"{self.seed}:{acc.id}:{seq}")
                purchased = day_start + timedelta(seconds=rng.randrange(86400))
                if purchased > self.now:
                    continue
                factor = p.factor((self.now - purchased).days)
                orders.append(self._order(acc, seq, purchased, p, factor, rng))
                seq += 1
        if acc.marketplace in CART_MARKETPLACES:
            self._carts(orders)
        for i, order in enumerate(orders):
            rng = random.Random(f"{self.seed}:{acc.id}:msg:{i}")
            if rng.random() < 0.12:
                self._message(messages, order, rng, p)
        return orders, messages

    def _order(self, acc: WAccount, seq: int, purchased: datetime, p: Profile, factor: float,
               rng: random.Random) -> WOrder:
        now = self.now
        mfn = rng.random() >= acc.marketplace_fulfilled
        ship_by = purchased + timedelta(days=1 + rng.randrange(2), hours=6)
        deliver_by = ship_by + timedelta(days=4 + rng.randrange(3))
        order = WOrder(
            seq=seq, id=_order_id(acc.marketplace, seq, rng), account=acc.id, purchased_at=purchased,
            ship_by=ship_by, deliver_by=deliver_by, fulfilment="seller" if mfn else "marketplace",
            items=1 + (rng.random() < 0.2) + (rng.random() < 0.05), unit_price=Decimal(rng.randrange(799, 9999)) / 100,
            currency=acc.currency, sku=f"SKU-{rng.randrange(1, 60):03d}",
        )
        if mfn and rng.random() < p.cancel * factor:
            order.cancel = WCancel(purchased + timedelta(hours=rng.uniform(2, 30)), "seller", False, "OUT_OF_STOCK")
        elif rng.random() < p.buyer_cancel:
            order.cancel = WCancel(purchased + timedelta(hours=rng.uniform(0.5, 10)), "buyer", True, "BUYER_REQUEST")
        if order.cancel is not None:
            if order.cancel.at > now:
                order.cancel = None
            else:
                order.touch(now)
                return order
        late = mfn and rng.random() < p.late_ship * factor
        shipped = (ship_by + timedelta(hours=rng.uniform(3, 48))) if late else (
            purchased + timedelta(hours=rng.uniform(2, max(3.0, (ship_by - purchased).total_seconds() / 3600 - 2.5))))
        if shipped <= now:
            confirmed = shipped + timedelta(minutes=rng.uniform(1, 90))
            transit = timedelta(days=rng.uniform(1.5, 4.5))
            if rng.random() < p.late_delivery * factor:
                transit += timedelta(days=rng.uniform(3, 6))
            delivered = shipped + transit
            order.shipment = WShipment(
                shipped_at=shipped, confirmed_at=confirmed if confirmed <= now else None,
                carrier=rng.choice(_CARRIERS), tracking=f"1Z{rng.randrange(10**12):012d}",
                tracking_valid=rng.random() >= p.invalid_tracking * factor,
                delivered_at=delivered if delivered <= now else None,
            )
            if order.shipment.confirmed_at is None:
                order.shipment = None
        if order.shipment is not None and order.shipment.delivered_at is not None:
            got = order.shipment.delivered_at
            r = rng.random()
            rated = got + timedelta(days=rng.uniform(0.5, 9))
            if r < p.negative * factor:
                order.feedback = WFeedback(f"FB{seq:08d}", rng.choice((1, 2)), rated)
            elif r < 0.25:
                order.feedback = WFeedback(f"FB{seq:08d}", rng.choice((4, 5, 5, 5)), rated)
            if order.feedback is not None and order.feedback.at > now:
                order.feedback = None
            if rng.random() < p.claim * factor:
                opened = got + timedelta(days=rng.uniform(1, 10))
                if opened <= now:
                    closed = opened + timedelta(days=rng.uniform(2, 8))
                    kind = rng.choice(("a_to_z", "item_not_received", "not_as_described"))
                    order.claim = WClaim(f"CL{seq:08d}", kind, opened, closed if closed <= now else None,
                                         (rng.random() < 0.6) if closed <= now else None,
                                         ("seller_at_fault" if rng.random() < 0.6 else "closed_for_seller")
                                         if closed <= now else None)
            if rng.random() < p.returns:
                req = got + timedelta(days=rng.uniform(1, 20))
                if req <= now:
                    res = req + timedelta(hours=rng.uniform(4, 96))
                    order.ret = WReturn(f"RT{seq:08d}", req, res if res <= now else None,
                                        order.total if res <= now else None, res - req > timedelta(hours=48),
                                        rng.choice(("DEFECTIVE", "NO_LONGER_NEEDED", "NOT_AS_DESCRIBED")))
        order.touch(now)
        return order

    def _carts(self, orders: list[WOrder]) -> None:
        """Every 20th shipped seller order is bought together with the next one (a Mercado Libre pack): same
        purchase time and deadlines, one shared shipment. Only orders without later events are joined."""
        for i in range(3, len(orders) - 1, 20):
            first, mate = orders[i], orders[i + 1]
            if any(o.cancel or o.shipment is None or o.fulfilment != "seller" or o.feedback or o.claim or o.ret
                   for o in (first, mate)):
                continue
            mate.purchased_at, mate.ship_by, mate.deliver_by = first.purchased_at, first.ship_by, first.deliver_by
            mate.shipment = first.shipment  # the same object: one parcel
            first.cart = mate.cart = first.seq
            mate.touch(self.now)

    def _message(self, messages: list[WMessage], order: WOrder, rng: random.Random, p: Profile) -> None:
        received = order.purchased_at + timedelta(hours=rng.uniform(1, 120))
        if received > self.now:
            return
        late = rng.random() < p.late_reply * p.factor((self.now - received).days)
        replied = received + timedelta(hours=rng.uniform(25, 60) if late else rng.uniform(0.2, 20))
        messages.append(WMessage(
            id=f"MSG{order.seq:08d}", thread_id=f"TH{order.seq:08d}", order_id=order.id, received_at=received,
            replied_at=replied if replied <= self.now else None,
        ))

    # -- mutation (daemon tests, `POST /_sandbox/inject`) ------------------------------------------------

    def inject(self, account: str, kind: str, count: int, now: datetime) -> list[str]:
        """Turn ``count`` recent clean orders into defects of ``kind``; returns the order ids touched."""
        acc = self.accounts[account]
        self.pin(account)  # changed: never dropped and generated afresh
        touched: list[str] = []
        for order in reversed(acc.orders):
            if len(touched) >= count:
                break
            s = order.shipment
            if kind == "late_shipment" and order.fulfilment == "seller" and s and s.shipped_at and \
                    s.confirmed_at and s.confirmed_at <= order.ship_by:
                s.shipped_at = order.ship_by + timedelta(hours=5)
                s.confirmed_at = s.shipped_at + timedelta(minutes=5)
            elif kind == "negative_feedback" and s and s.delivered_at and order.feedback is None:
                order.feedback = WFeedback(f"FBX{order.seq:08d}", 1, min(now, s.delivered_at + timedelta(days=1)))
            elif kind == "seller_cancel" and order.fulfilment == "seller" and order.cancel is None and s is None:
                order.cancel = WCancel(now, "seller", False, "OUT_OF_STOCK")
            else:
                continue
            order.touch(now)
            order.updated_at = now
            touched.append(order.id)
        if kind not in ("late_shipment", "negative_feedback", "seller_cancel"):
            raise ValueError(f"unknown defect kind {kind!r}")
        return touched
