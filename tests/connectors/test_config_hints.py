"""Issue 18.6: errors name the data, not a guess. Configuration advice ("set options.shop_id", "set
options.marketplace_ids") only when the marketplace's answer proves it; a garbled answer is a payload error naming
the field, and nothing is saved."""

from __future__ import annotations

import types

import pytest

from sellerguard.connectors import amazon, etsy, tiktok
from sellerguard.errors import ConnectorError


class State(dict):
    def get(self, key):
        return super().get(key)

    def put(self, key, value):
        self[key] = value


class Http:
    def __init__(self, body):
        self.body = body

    def get_json(self, *_, **__):
        return self.body


def ctx(seller_id=None):
    return types.SimpleNamespace(options=None, state=State(), account=types.SimpleNamespace(seller_id=seller_id))


def failure(call) -> ConnectorError:
    with pytest.raises(ConnectorError) as exc:
        call()
    return exc.value


US = {"marketplace": {"id": "ATVPDKIKX0DER"}, "participation": {"isParticipating": False}}


@pytest.mark.parametrize("body,kind,text", [
    ({"payload": []}, "config", "participates in no marketplace: set options.marketplace_ids"),
    ({"payload": [US]}, "config", "participates in no marketplace"),  # proven: listed, not participating
    ({"payload": [{"marketplace": None, "participation": {"isParticipating": True}}]}, "payload", "payload[0]"),
    ({"payload": [{**US, "participation": {"isParticipating": "true"}}]}, "payload", "payload[0]"),
    ({"payload": [US, 123]}, "payload", "payload[1]"),
    ({"orders": []}, "payload", "payload: missing or not a list"),
])
def test_amazon_marketplaces_advice_only_when_the_answer_proves_it(body, kind, text):
    c = ctx()
    exc = failure(lambda: amazon.marketplace_ids(c, Http(body)))
    assert exc.kind == kind and text in str(exc)
    assert "set options" not in str(exc) or kind == "config"
    assert not c.state


@pytest.mark.parametrize("body,kind,text", [
    ({"user_id": 5}, "config", "this Etsy user has no shop: set options.shop_id"),  # proven: a user, no shop
    ({}, "payload", "shop_id: not a shop id"),
    (123, "payload", "shop_id: not a shop id"),
    ({"user_id": "5"}, "payload", "shop_id: not a shop id"),
    ({"user_id": 5, "shop_id": 2**64}, "payload", "shop_id: not a shop id"),
])
def test_etsy_shop_advice_only_when_the_answer_proves_it(body, kind, text):
    c = ctx()
    exc = failure(lambda: etsy.shop_id(c, Http(body)))
    assert exc.kind == kind and text in str(exc)
    assert not c.state


def tiktok_session(shops, seller_id=None):
    return types.SimpleNamespace(options=tiktok.Options(), ctx=ctx(seller_id), plain=None,
                                 get=lambda path, params, signer: {"shops": shops})


@pytest.mark.parametrize("shops,seller,kind,text", [
    ([], None, "config", "0 shops are authorized: set options.shop_id"),
    ([{"id": "1", "cipher": "GCP_a"}, {"id": "2", "cipher": "GCP_b"}], None, "config", "2 shops are authorized"),
    ([{"id": "1", "cipher": "GCP_a"}], "9", "config", "no shop matches options.shop_id"),
    ([{"id": "1"}], None, "payload", "data.shops[0].cipher: missing"),
    ([{"id": "1", "cipher": ""}], None, "payload", "data.shops[0].cipher: missing"),
    ([{"id": "1", "cipher": "GCP a"}], None, "payload", "data.shops[0].cipher"),
    ([{"id": "1", "cipher": "GCP_a"}, {"cipher": "GCP_b"}], "1", "payload", "data.shops[1].id"),
    ([{"id": None, "cipher": "GCP_a"}], "1", "payload", "data.shops[0].id"),
])
def test_tiktok_shop_advice_only_when_the_answer_proves_it(shops, seller, kind, text):
    session = tiktok_session(shops, seller)
    exc = failure(lambda: tiktok.Session.shop_cipher(session))
    assert exc.kind == kind and text in str(exc)
    assert not session.ctx.state


def test_tiktok_the_one_shop_with_a_valid_cipher_is_kept():
    session = tiktok_session([{"id": "1", "cipher": "GCP_a"}])
    assert tiktok.Session.shop_cipher(session) == "GCP_a" and session.ctx.state == {"shop_cipher": "GCP_a"}
