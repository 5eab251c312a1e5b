"""Issue 18 (review, fuzz seed 777): a catalog answer whose productType is 'nan' (a null written as text) was cached
in the account state for CACHE_DAYS, and every later sync of the orders failed on the order line's category_id
(bad state kept). A product type the schema refuses is now no category for this sync and is asked again next time;
one cached by an older version is dropped and asked again."""

from __future__ import annotations

import json

import pytest
from test_amazon import account

from sellerguard.connectors import amazon_catalog
from sellerguard.connectors.contract import SyncContext
from sellerguard.http import HttpClient

MKT = "ATVPDKIKX0DER"


class State(dict):
    def put(self, key, value):
        self[key] = value


def catalog(clock, product_type):
    asked: list[str] = []

    class Http(HttpClient):
        def get_json(self, path, **kw):
            ids = kw["params"]["identifiers"].split(",")
            asked.extend(ids)
            return {"items": [{"asin": a, "productTypes": [{"marketplaceId": MKT, "productType": product_type}]}
                              for a in ids]}

    http = Http(base_url="x", marketplace="amazon", clock=clock, sleep=clock.sleep)
    ctx = SyncContext(account=account(), state=State(), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    return ctx, http, asked


@pytest.mark.parametrize("garbled", ["nan", "NULL", "none", "a\u0085b"])
def test_a_product_type_the_schema_refuses_is_no_category_and_not_remembered(clock, garbled):
    ctx, http, asked = catalog(clock, garbled)
    assert amazon_catalog.categories(ctx, http, MKT, ["B000000001"]) == {"B000000001": (None, None)}
    assert f"catalog:{MKT}:B000000001" not in ctx.state
    amazon_catalog.categories(ctx, http, MKT, ["B000000001"])
    assert asked == ["B000000001", "B000000001"]  # asked again on the next sync


def test_a_bad_product_type_cached_by_an_older_version_is_dropped_and_asked_again(clock):
    ctx, http, asked = catalog(clock, "KITCHEN")
    ctx.state[f"catalog:{MKT}:B000000001"] = json.dumps(["nan", None, clock.now().isoformat()])
    assert amazon_catalog.categories(ctx, http, MKT, ["B000000001"]) == {"B000000001": ("KITCHEN", None)}
    assert asked == ["B000000001"]
    assert json.loads(ctx.state[f"catalog:{MKT}:B000000001"])[0] == "KITCHEN"
