"""The world as normalized records: what a perfect connector would store for an account.

Used to make the canonical-import example file, and by end-to-end tests to compare what a connector stored
through the marketplace API with what the world holds.
"""

from __future__ import annotations

from collections.abc import Iterator

from sellerguard.sandbox.world import WAccount, WMessage
from sellerguard.schema import (
    Cancellation,
    Claim,
    Message,
    Order,
    Rating,
    Record,
    Return,
    Shipment,
)


def records(acc: WAccount, account_id: str | None = None) -> Iterator[Record]:
    aid = account_id or acc.id
    by_order: dict[str | None, list[WMessage]] = {}
    for m in acc.messages:
        by_order.setdefault(m.order_id, []).append(m)
    for o in acc.orders:
        yield Order(account=aid, external_id=o.id, purchased_at=o.purchased_at, updated_at=o.updated_at,
                    ship_by=o.ship_by, deliver_by=o.deliver_by, fulfilment=o.fulfilment,  # type: ignore[arg-type]
                    status=o.status, total=o.total, currency=o.currency, item_count=o.items,  # type: ignore[arg-type]
                    site=acc.site)
        if (s := o.shipment) is not None:
            yield Shipment(account=aid, external_id=f"{o.id}-1", order_ref=o.id, shipped_at=s.shipped_at,
                           confirmed_at=s.confirmed_at, carrier=s.carrier, tracking_number=s.tracking,
                           tracking_validated=s.tracking_valid, delivered_at=s.delivered_at, item_count=o.items)
        if (c := o.cancel) is not None:
            yield Cancellation(account=aid, external_id=f"{o.id}-c", order_ref=o.id, cancelled_at=c.at,
                               initiated_by=c.by, buyer_requested=c.buyer_requested,  # type: ignore[arg-type]
                               reason=c.reason, item_count=o.items)
        if (f := o.feedback) is not None:
            yield Rating(account=aid, external_id=f.id, rating_kind="seller_feedback", score=str(f.score),
                         score_normalized=float(f.score), negative=f.score <= 2, rated_at=f.at, order_ref=o.id,
                         removed=f.removed)
        if (cl := o.claim) is not None:
            yield Claim(account=aid, external_id=cl.id, claim_kind=cl.kind, order_ref=o.id,  # type: ignore[arg-type]
                        opened_at=cl.opened_at, closed_at=cl.closed_at, outcome=cl.outcome,
                        seller_at_fault=cl.seller_at_fault)
        if (r := o.ret) is not None:
            yield Return(account=aid, external_id=r.id, order_ref=o.id, requested_at=r.requested_at,
                         resolved_at=r.resolved_at, refund_amount=r.refund, currency=o.currency,
                         dissatisfied=r.dissatisfied)
        for m in by_order.pop(o.id, []):
            yield _message(aid, m)
    for rest in by_order.values():
        for m in rest:
            yield _message(aid, m)


def _message(aid: str, m: WMessage) -> Message:
    return Message(account=aid, external_id=m.id, thread_id=m.thread_id, order_ref=m.order_id,
                      received_at=m.received_at, first_reply_at=m.replied_at, needs_reply=m.needs_reply)
