"""The Etsy and TikTok Shop packs on hand-built records: boundary cases of each threshold and count rule."""

from __future__ import annotations

from conftest import NOW, D, H

from sellerguard.schema import Rating, Return


def low_reviews(world, total: int, low: int) -> None:
    """Etsy reviews in the window: ``low`` of them 3 stars (negative for Etsy), the rest 5 stars (and the 5 sales
    Etsy needs before it judges a standard)."""
    world.orders(5, NOW - 10 * D)
    for i in range(total):
        score = 3 if i < low else 5
        world.records.append(Rating(account=world.account, external_id=f"t{i}", rating_kind="shop_review",
                                    score=str(score), score_normalized=score, negative=score <= 3,
                                    rated_at=NOW - (i % 80 + 1) * D))


def test_etsy_reviews_under_40_allow_4_low_ones(world):
    low_reviews(world, 39, 4)  # 10.3%, but only 4: the small-shop rule passes it
    assert world.metric("etsy.std_low_review_count").level == "warn"


def test_etsy_reviews_under_40_fail_at_the_fifth_low_one(world):
    low_reviews(world, 39, 5)
    assert world.metric("etsy.std_low_review_count").level == "critical"


def test_etsy_reviews_from_40_are_a_percentage(world):
    low_reviews(world, 60, 5)  # 8.3% < 10%
    m = world.metric("etsy.std_low_review_count")
    assert m.level == "warn" and round(m.value, 3) == 0.083


def test_etsy_reviews_from_40_fail_over_10_percent(world):
    low_reviews(world, 50, 6)  # 12%
    assert world.metric("etsy.std_low_review_count").level == "critical"


def test_etsy_case_rule_small_shop_allows_3(world):
    refs = world.orders(299, NOW - 10 * D)
    for ref in refs[:3]:
        world.claim(ref, kind="case")
    assert world.metric("etsy.std_case_rate").level != "critical"
    world.claim(refs[3], kind="case")
    assert world.metric("etsy.std_case_rate").level == "critical"


def test_etsy_on_time_shipping_exactly_80_percent_keeps_the_standard(world):
    ship_by = (NOW - 5 * D).replace(hour=23, minute=59, second=59)  # the end of the ship-by date (connector)
    for i in range(10):
        ref = world.order(NOW - 7 * D, ship_by=ship_by)
        at = ship_by + (H if i < 2 else -H)  # 00:59 the next day is late
        world.shipment(ref, shipped_at=at, confirmed_at=at, tracking_number="T")
    m = world.metric("etsy.std_on_time_shipping")
    assert (m.value, m.level) == (0.8, "warn")  # >= 80% holds; under the 95% Star Seller band
    world.order(NOW - 7 * D, ship_by=ship_by)  # never shipped: late, 8 of 11
    assert world.metric("etsy.std_on_time_shipping").level == "critical"


def test_tiktok_late_dispatch_4_percent_is_a_breach(world):
    for i in range(100):
        ship_by = NOW - 5 * D
        ref = world.order(NOW - 6 * D, ship_by=ship_by)
        late = i < 4
        world.shipment(ref, shipped_at=ship_by + (H if late else -H), confirmed_at=ship_by + (H if late else -H))
    m = world.metric("tiktok.late_dispatch_rate")
    assert (m.value, m.level) == (0.04, "critical")  # "under 4%": exactly 4% fails


def test_tiktok_seller_fault_returns_count_per_order(world):
    refs = world.orders(100, NOW - 10 * D)
    for ref in refs:  # TikTok divides by delivered orders (delivered_only)
        world.shipment(ref, shipped_at=NOW - 9 * D, delivered_at=NOW - 7 * D)
    world.records.append(Return(account=world.account, external_id="r1", order_ref=refs[0],
                                requested_at=NOW - 5 * D, dissatisfied=True))
    world.records.append(Return(account=world.account, external_id="r2", order_ref=refs[1],
                                requested_at=NOW - 5 * D, dissatisfied=False))  # buyer's remorse
    m = world.metric("tiktok.seller_fault_return_refund_rate")
    assert (m.value, m.level) == (0.01, "warn")  # a Shop Performance Score input: breach level warn


def test_tiktok_negative_reviews_are_product_reviews_of_1_or_2_stars(world):
    refs = world.orders(50, NOW - 10 * D)
    for ref in refs:  # NRR counts delivered orders (delivered_only)
        world.shipment(ref, shipped_at=NOW - 9 * D, delivered_at=NOW - 7 * D)
    for i, (ref, score, kind) in enumerate([(refs[0], 1, "product_review"), (refs[1], 4, "product_review"),
                                            (refs[2], 1, "seller_feedback")]):
        world.records.append(Rating(account=world.account, external_id=f"rv{i}", rating_kind=kind,
                                    score=str(score), score_normalized=score, negative=score <= 2,
                                    rated_at=NOW - D, order_ref=ref))
    m = world.metric("tiktok.negative_review_rate")
    assert (m.numerator, m.denominator) == (1, 50)
