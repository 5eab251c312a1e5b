"""The loopback sandbox core: routing under a marketplace prefix, tokens, faults, world injection."""

from datetime import UTC, datetime

import requests

from sellerguard.sandbox import Reply, Sandbox, World
from sellerguard.sandbox.truth import records

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_world_is_deterministic_and_has_every_profile():
    a, b = World(NOW, seed=3), World(NOW, seed=3)
    assert [o.id for o in a.accounts["amazon-us"].orders[:50]] == [o.id for o in b.accounts["amazon-us"].orders[:50]]
    assert {acc.profile for acc in a.accounts.values()} == {"healthy", "drifting", "critical"}
    orders = a.accounts["amazon-us"].orders
    assert {o.fulfilment for o in orders} == {"seller", "marketplace"}
    assert any(o.status == "unshipped" for o in orders)  # the deadline queue has real items
    assert all(o.updated_at <= NOW for o in orders)
    assert sum(1 for _ in records(a.accounts["etsy-shop"])) > len(a.accounts["etsy-shop"].orders)


def test_routes_tokens_and_faults_over_real_http(clock):
    with Sandbox(World(NOW, accounts=[("t-1", "test", "healthy", "X", "USD", 2, 0)]), clock=clock) as box:
        @box.route("test", "GET", r"/v1/things/(?P<id>\w+)")
        def thing(req):
            acc = box.token_account(req.header("authorization"))
            return Reply(200, {"id": req.match["id"], "account": acc.id}) if acc else Reply(401, {"error": "expired"})

        token, _ = box.issue_token("test", "t-1", ttl_s=60)
        url = f"{box.base_url('test')}/v1/things/abc"
        assert requests.get(url, headers={"Authorization": token}).json() == {"id": "abc", "account": "t-1"}

        box.inject("test", r"/v1/things", status=429, retry_after="3")
        r = requests.get(url, headers={"Authorization": token})
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert requests.get(url, headers={"Authorization": token}).status_code == 200  # fault used up

        requests.post(f"{box.url}/_sandbox/faults", json={"marketplace": "test", "malformed": True})
        assert requests.get(url, headers={"Authorization": token}).text == '{"truncated": ['

        box.expire_tokens("test")
        assert requests.get(url, headers={"Authorization": token}).status_code == 401
        assert requests.get(f"{box.base_url('test')}/nope").status_code == 404
        assert ("test", "GET", "/v1/things/abc") in box.log


def test_inject_defects_bumps_updated_at(clock):
    with Sandbox(World(NOW), clock=clock) as box:
        clock.advance(60)
        defect = {"account": "ebay-us", "kind": "late_shipment", "count": 2}
        r = requests.post(f"{box.url}/_sandbox/inject", json=defect)
        ids = r.json()["orders"]
        assert len(ids) == 2
        order = box.world.order("ebay-us", ids[0])
        assert order.updated_at == clock.now() and order.shipment.confirmed_at > order.ship_by
