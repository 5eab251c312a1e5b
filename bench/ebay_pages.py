"""An eBay-shaped page server on loopback for the ingest comparison (bench/run.py, docs/performance.md).

``serve(orders, fulfilled, conn)`` answers, over HTTP/1.1 keep-alive on 127.0.0.1:

- ``POST /identity/v1/oauth2/token``: a 2-hour bearer token (any credentials);
- ``GET /sell/fulfillment/v1/order?filter=creationdate:[a..b]|lastmodifieddate:[a..]&limit=&offset=``: getOrders
  pages (``total``, ``next`` while more), orders created over the last 89 days, oldest first, each modified an
  hour after it was created; the share ``fulfilled`` of them is FULFILLED with one ``fulfillmentHrefs`` entry, the
  rest NOT_STARTED with none (what decides whether a connector needs a ``shipping_fulfillment`` call);
- ``GET /sell/fulfillment/v1/order/{id}/shipping_fulfillment``: that order's one fulfillment;
- ``GET /_stats``: request counts by kind since the last ``/_stats`` (``{"pages": n, "details": n, "other": n}``).

Orders are rendered from a string template per request (no per-order state: 200,000 orders cost nothing to hold),
deterministic for a given ``now``. Not part of the package: a benchmark fixture, like the data set generator.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ORDERS = "/sell/fulfillment/v1/order"
_ORDER = (
    '{"orderId":"%(id)s","creationDate":"%(created)s","lastModifiedDate":"%(modified)s",'
    '"orderFulfillmentStatus":"%(status)s","orderPaymentStatus":"PAID","sellerId":"bench_seller",'
    '"buyer":{"username":"buyer_%(buyer)d"},"cancelStatus":{"cancelState":"NONE_REQUESTED","cancelRequests":[]},'
    '"lineItems":[{"lineItemId":"%(line)d","legacyItemId":"110551234567","sku":"SKU-%(sku)d","title":"Item",'
    '"quantity":%(qty)d,"soldFormat":"FIXED_PRICE","lineItemCost":{"value":"19.99","currency":"USD"},'
    '"total":{"value":"19.99","currency":"USD"},"lineItemFulfillmentStatus":"%(status)s",'
    '"listingMarketplaceId":"EBAY_US","purchaseMarketplaceId":"EBAY_US","lineItemFulfillmentInstructions":'
    '{"shipByDate":"%(ship_by)s","minEstimatedDeliveryDate":"%(deliver_min)s",'
    '"maxEstimatedDeliveryDate":"%(deliver_max)s","guaranteedDelivery":false}}],'
    '"pricingSummary":{"priceSubtotal":{"value":"19.99","currency":"USD"},"total":{"value":"24.98",'
    '"currency":"USD"}},"fulfillmentHrefs":[%(hrefs)s],"salesRecordReference":"%(n)d",'
    '"fulfillmentStartInstructions":[{"fulfillmentInstructionsType":"SHIP_TO","ebaySupportedFulfillment":false,'
    '"minEstimatedDeliveryDate":"%(deliver_min)s","maxEstimatedDeliveryDate":"%(deliver_max)s","shippingStep":'
    '{"shippingCarrierCode":"USPS","shippingServiceCode":"USPSPriority","shipTo":{"fullName":"Placeholder",'
    '"contactAddress":{"city":"Placeholder","countryCode":"US","postalCode":"00000"}}}}],'
    '"paymentSummary":{"payments":[{"paymentMethod":"EBAY","paymentReferenceId":"P%(n)d","paymentDate":'
    '"%(paid)s","amount":{"value":"24.98","currency":"USD"},"paymentStatus":"PAID"}],"refunds":[],'
    '"totalDueSeller":{"value":"24.98","currency":"USD"}}}'
)
_FULFILLMENT = (
    '{"fulfillments":[{"fulfillmentId":"TRK%(n)010d","shippedDate":"%(shipped)s","shippingCarrierCode":"USPS",'
    '"shipmentTrackingNumber":"TRK%(n)010d","lineItems":[{"lineItemId":"%(line)d","quantity":%(qty)d}]}],'
    '"total":1}'
)
_FILTER = re.compile(r"(creationdate|lastmodifieddate):\[(.*?)\.\.(.*)\]")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class World:
    """``orders`` orders spread evenly over the 89 days before ``now``; order n is fulfilled when
    ``floor((n + 1) * fulfilled) > floor(n * fulfilled)`` (an even spread of the share)."""

    def __init__(self, orders: int, fulfilled: float, now: datetime) -> None:
        self.n, self.fulfilled = orders, fulfilled
        self.start = now - timedelta(days=89)  # inside a 90-day backfill that starts a little later
        self.step = timedelta(days=89) / max(1, orders)  # order n created at start + n * step

    def created(self, n: int) -> datetime:
        return self.start + self.step * n

    def is_fulfilled(self, n: int) -> bool:
        return int((n + 1) * self.fulfilled) > int(n * self.fulfilled)

    def index_at(self, t: datetime) -> int:
        """The first order created at or after ``t``."""
        k = max(0, -(-(t - self.start) // self.step))
        while k > 0 and self.created(k - 1) >= t:
            k -= 1
        while k < self.n and self.created(k) < t:
            k += 1
        return min(k, self.n)

    def order(self, n: int) -> str:
        created = self.created(n)
        done = self.is_fulfilled(n)
        oid = f"12-{n:08d}-00001"
        return _ORDER % {
            "id": oid, "n": n, "created": _iso(created), "modified": _iso(created + timedelta(hours=1)),
            "status": "FULFILLED" if done else "NOT_STARTED", "buyer": n % 50_000, "line": 10_000_000_000 + n,
            "sku": n % 997, "qty": 1 + n % 3, "ship_by": _iso(created + timedelta(days=2)),
            "deliver_min": _iso(created + timedelta(days=4)), "deliver_max": _iso(created + timedelta(days=7)),
            "paid": _iso(created + timedelta(seconds=30)),
            "hrefs": f'"https://api.ebay.com{ORDERS}/{oid}/shipping_fulfillment/TRK{n:010d}"' if done else "",
        }

    def fulfillment(self, n: int) -> str:
        return _FULFILLMENT % {"n": n, "shipped": _iso(self.created(n) + timedelta(days=1)),
                               "line": 10_000_000_000 + n, "qty": 1 + n % 3}

    def page(self, crit: str, limit: int, offset: int) -> str:
        match = _FILTER.fullmatch(crit)
        if match is None:
            raise ValueError(crit)
        field, lo, hi = match.groups()
        shift = timedelta(hours=1) if field == "lastmodifieddate" else timedelta(0)
        first = self.index_at(_parse(lo) - shift) if lo else 0
        last = self.index_at(_parse(hi) - shift + timedelta(microseconds=1)) if hi else self.n
        total = max(0, last - first)
        rows = range(first + offset, min(last, first + offset + limit))
        more = offset + limit < total
        nxt = f',"next":"{ORDERS}?limit={limit}&offset={offset + limit}"' if more else ""
        return (f'{{"href":"{ORDERS}","total":{total},"limit":{limit},"offset":{offset}{nxt},"orders":['
                + ",".join(self.order(n) for n in rows) + "]}")


def make_server(world: World) -> ThreadingHTTPServer:
    stats = {"pages": 0, "details": 0, "other": 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the marketplace
        # headers and body go out in two writes: with Nagle on, a small answer's body waited for the client's
        # delayed ACK of the headers (~40 ms per detail call), a stall no marketplace server has
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, body: str, status: int = 200) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _count(self, kind: str) -> None:
            with lock:
                stats[kind] += 1

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._count("other")
            self._send(json.dumps({"access_token": "v^1.1#i^1#bench-token", "expires_in": 7200,
                                   "token_type": "User Access Token"}))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_stats":
                with lock:
                    body = json.dumps(stats)
                    stats.update(pages=0, details=0, other=0)
                self._send(body)
                return
            if parts.path == ORDERS:
                self._count("pages")
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self._send(world.page(unquote(q["filter"]), int(q.get("limit", 50)), int(q.get("offset", 0))))
                return
            m = re.fullmatch(rf"{ORDERS}/12-(\d+)-00001/shipping_fulfillment", parts.path)
            if m:
                self._count("details")
                self._send(world.fulfillment(int(m.group(1))))
                return
            self._count("other")
            self._send('{"errors":[{"errorId":2002,"message":"Not Found"}]}', 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server


def serve(orders: int, fulfilled: float, conn: Any) -> None:
    """Child process: serve until the parent sends anything on ``conn``; first sends (base_url, orders)."""
    world = World(orders, fulfilled, datetime.now(UTC))
    server = make_server(world)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    conn.send((f"http://127.0.0.1:{server.server_address[1]}", orders))
    conn.recv()
    server.shutdown()
