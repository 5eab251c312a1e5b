"""``check`` lists the streams a sync reads: an option that switches a stream off leaves it out (every connector)."""

from __future__ import annotations

import pytest

from sellerguard import connectors
from sellerguard.config import parse_config
from sellerguard.preflight import enabled_streams


def _account(marketplace: str, **options: object):
    entry = connectors.registry()[marketplace].sandbox_account("http://127.0.0.1:9/x", f"{marketplace}-t")
    entry = {**entry, "options": {**entry.get("options", {}), **options}}
    return parse_config({"accounts": [entry]}, where="t").accounts[0]


@pytest.mark.parametrize(("marketplace", "options", "gone"), [
    ("walmart", {"performance": False}, {"performance", "unpublished"}),
    ("tiktok", {"reviews": False}, {"reviews"}),
    ("shopify", {"disputes": False}, {"disputes"}),
])
def test_a_switched_off_stream_is_not_listed(marketplace, options, gone):
    module = connectors.registry()[marketplace]
    on = enabled_streams(_account(marketplace), module)
    off = enabled_streams(_account(marketplace, **options), module)
    assert gone <= set(on) and not gone & set(off)
    assert set(on) - set(off) == gone


@pytest.mark.parametrize("marketplace", sorted(connectors.registry()))
def test_stream_switches_name_boolean_options_and_known_streams(marketplace):
    module = connectors.registry()[marketplace]
    for option, streams in getattr(module, "STREAM_SWITCHES", {}).items():
        assert module.Options.model_fields[option].annotation is bool, option
        assert set(streams) <= set(module.STREAMS), option
