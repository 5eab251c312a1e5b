"""Payload readers, paging guards and token/state validation: the shared pieces every connector reads through."""

import gzip
import types
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sellerguard.errors import ConnectorError
from sellerguard.oauth import (
    load_access,
    load_state,
    refresh_rotating,
    save_access,
    token_reply,
    valid_id,
    valid_token,
)
from sellerguard.paginate import by_offset, by_page, by_token, walk
from sellerguard.payload import (
    check_header,
    count,
    decode_text,
    epoch_time,
    gunzip,
    ident,
    iso_time,
    money,
    number,
    parse_json,
    require_list,
    require_object,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def payload_err(fn, *a, **kw):
    with pytest.raises(ConnectorError) as exc:
        fn(*a, **kw)
    assert exc.value.kind == "payload" and "\n" not in str(exc.value) and len(str(exc.value)) < 400
    return str(exc.value)


# -- 18.3: an empty answer is not "no data" ------------------------------------------------------------


@pytest.mark.parametrize("body", [123, "x", None, [], {"next": None}])
def test_a_page_without_its_list_is_a_payload_error(body):
    msg = payload_err(require_list, body, "orders", "amazon", "GET /orders")
    assert msg.startswith("amazon: GET /orders: bad payload: ")


def test_an_empty_list_is_an_empty_page_and_dotted_keys_work():
    assert require_list({"orders": []}, "orders", "m", "w") == []
    assert require_list({"data": {"orders": [{"id": 1}]}}, "data.orders", "m", "w") == [{"id": 1}]
    payload_err(require_list, {"orders": [None]}, "orders", "m", "w")
    payload_err(require_object, 123, "m", "w")


@pytest.mark.parametrize("data", [b"", b"not gzip", gzip.compress(b"a\tb\n", mtime=0)[:-6], b"\x1f\x8b\x08\x00garbage"])
def test_empty_or_corrupt_gzip_is_a_payload_error(data):
    payload_err(gunzip, data, "amazon", "report document")


def test_valid_gzip_even_empty_content_decodes():
    assert gunzip(gzip.compress(b""), "m", "w") == b""  # the caller then checks the header (check_header)
    payload_err(check_header, [], ["amazon-order-id"], "amazon", "report")


def test_a_report_of_another_kind_is_a_payload_error():
    msg = payload_err(check_header, ["date", "rating", "comments"], ["amazon-order-id", "purchase-date"], "amazon",
                      "All Orders report", document="All Orders report")
    assert "not the All Orders report's header (missing amazon-order-id, purchase-date" in msg
    check_header(["\ufeffAmazon-Order-Id", "purchase-date"], ["amazon-order-id", "purchase-date"], "m", "w")


def test_text_decoding_drops_a_bom_and_names_the_encodings():
    assert decode_text("\ufeffkind,id".encode(), "m", "w") == "kind,id"
    assert decode_text("注文".encode("cp932"), "m", "w", ("utf-8", "cp932")) == "注文"
    assert "utf-8" in payload_err(decode_text, b"\xff\xfe\xfa", "m", "w")


@pytest.mark.parametrize("body", [b"", b"  ", b"<!DOCTYPE html><html>", b'{"a": [1', b"[NaN]", b"-Infinity"])
def test_parse_json_refuses_what_is_not_json(body):
    payload_err(parse_json, body, "m", "w")


# -- scalar readers: wrong types, NaN/Infinity, huge, negative, control characters, far-off dates --------


@pytest.mark.parametrize("value", [-1, 1.5, "x", float("nan"), float("inf"), 2**63, True, [], "1e400"])
def test_count_refuses(value):
    payload_err(count, value, "m", "w", "qty")


def test_count_accepts_whole_numbers():
    assert [count(v, "m", "w", "f") for v in (0, 3, 3.0, "7", Decimal("2"))] == [0, 3, 3, 7, 2]
    assert count(None, "m", "w", "f", required=False) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "Infinity", "abc", -0.1, 1.5, True, {}])
def test_rate_refuses(value):
    payload_err(number, value, "m", "w", "rate", low=0, high=1)


def test_money_and_ident():
    assert money("12.50", "m", "w", "price") == Decimal("12.50")
    for bad in ("-50", "NaN", "Infinity", "1e20", True, [1]):
        payload_err(money, bad, "m", "w", "refund")
    assert money("-5", "m", "w", "adjustment", negative=True) == Decimal("-5")
    assert ident(12345, "m", "w", "id") == "12345"
    for bad in ("", " ", "nan", "a\x00b", "x\ud800", 1.5, True, " 12", "a" * 300):
        payload_err(ident, bad, "m", "w", "id")


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "1970-01-01T00:00:00Z", "2026-13-45T00:00:00Z",
                                   "9999-12-31T23:59:59Z", "2027-01-01T00:00:00Z", 1700000000, "yesterday"])
def test_iso_time_refuses_unreadable_and_far_off_dates(value):
    payload_err(iso_time, value, "m", "w", "purchased_at", now=NOW)


def test_iso_time_and_epoch_time_accept_plausible_times():
    assert iso_time("2026-11-20T10:00:00Z", "m", "w", "f", now=NOW) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert epoch_time(1_763_640_000, "m", "w", "f", now=NOW).year == 2025
    assert epoch_time(1_763_640_000_000, "m", "w", "f", millis=True, now=NOW).year == 2025
    for bad in (1e308, -1, float("nan"), "x", 10**30):
        payload_err(epoch_time, bad, "m", "w", "f", now=NOW)


# -- 18.5: every paging loop ends ----------------------------------------------------------------------


def test_a_repeated_token_is_a_payload_error_not_a_loop():
    tokens = iter(["a", "b", "a"])
    with pytest.raises(ConnectorError, match="returned twice") as exc:
        list(by_token(lambda t: ([{"id": t}], next(tokens)), marketplace="amazon", where="GET /orders"))
    assert exc.value.kind == "payload"


def test_full_pages_forever_without_a_total_end_at_the_repeated_page_guard():
    calls = []

    def page(offset, limit):  # eBay messages: always a full page, the same one, no total
        calls.append(offset)
        return [{"id": i} for i in range(limit)], None

    with pytest.raises(ConnectorError, match="repeats page 1 item for item"):
        list(by_offset(page, 10, marketplace="ebay", where="GET /messages"))
    assert len(calls) == 2


def test_the_page_cap_says_where_it_stopped():
    def page(offset, limit):
        return [{"id": offset + i} for i in range(limit)], None

    seen = []
    with pytest.raises(ConnectorError) as exc:
        for items in by_offset(page, 5, max_pages=3, marketplace="ebay", where="GET /messages"):
            seen.append(items)
    assert exc.value.kind == "wait" and len(seen) == 3
    assert str(exc.value) == ("ebay: GET /messages: stopped after 3 pages (the per-run page cap) at 15;"
                              " the next sync resumes from the stored cursor")


def test_walk_gives_the_resume_state_per_page_and_can_stop_quietly():
    pages = list(walk(lambda n: ([n or 1], (n or 1) + 1), None, max_pages=3, on_cap="stop"))
    assert [(p.state, p.next, p.number) for p in pages] == [(None, 2, 1), (2, 3, 2), (3, 4, 3)]
    assert list(by_page(lambda n: ([n], n < 3))) == [[1], [2], [3]]


# -- 18.4: nothing bad kept in connector state --------------------------------------------------------


class State(dict):
    def get(self, key):
        return super().get(key)

    def put(self, key, value):
        if value is None:
            self.pop(key, None)
        else:
            self[key] = value


def ctx(state=None):
    account = types.SimpleNamespace(id="ml-br", marketplace="mercadolibre",
                                    secret=lambda name: types.SimpleNamespace(get_secret_value=lambda: "TG-config"))
    return types.SimpleNamespace(account=account, state=state if state is not None else State(), lock=None,
                                 now=lambda: NOW, log=__import__("logging").getLogger("t"))


@pytest.mark.parametrize("value,ok", [("APP_USR-123-abc", True), ("", False), ("a b", False), ("tok\n", False),
                                      ("t\ud800", False), ("töken", False), (None, False), (123, False)])
def test_valid_token(value, ok):
    assert valid_token(value) is ok


def test_valid_id():
    assert valid_id("12345") and valid_id(12345) and valid_id("shop-1")
    assert not any(valid_id(v) for v in ("", " 1", str(2**63), 2**64, "nan", "a b", None, True))


@pytest.mark.parametrize("body,field", [
    ({"token_type": "bearer"}, "access_token"),  # a token reply without access_token
    ({"access_token": "a b"}, "access_token"),
    ({"access_token": "ok", "expires_in": 1e308}, "expires_in"),  # OverflowError before
    ({"access_token": "ok", "expires_in": "2026-12-01T00:00:00Z"}, "expires_in"),  # a date-shaped expiry
    ({"access_token": "ok", "expires_in": -5}, "expires_in"),
    ({"access_token": "ok", "refresh_token": "TG\x00x"}, "refresh_token"),
    (123, "(root)"),
])
def test_token_reply_refuses_whole(body, field):
    assert f"bad payload: {field}: " in payload_err(token_reply, body, "mercadolibre", NOW)


def test_token_reply_reads_a_good_reply():
    r = token_reply({"access_token": "APP-1", "expires_in": 21600, "refresh_token": "TG-2"}, "m", NOW)
    assert (r.access_token, r.expires_at, r.refresh_token) == ("APP-1", NOW + timedelta(hours=6), "TG-2")


def test_a_reply_without_access_token_never_spends_the_single_use_refresh_token():
    c = ctx(State({"refresh_token": "TG-1"}))
    with pytest.raises(ConnectorError):
        refresh_rotating(c, lambda current: {"refresh_token": "TG-2"})
    assert c.state["refresh_token"] == "TG-1"
    payload = refresh_rotating(c, lambda current: {"access_token": "APP", "refresh_token": f"{current}-next"})
    assert payload["access_token"] == "APP" and c.state["refresh_token"] == "TG-1-next"


def test_a_garbled_stored_refresh_token_is_dropped_and_the_configured_one_used():
    c = ctx(State({"refresh_token": "TG 1\x00"}))
    used = []
    refresh_rotating(c, lambda current: used.append(current) or {"access_token": "APP"})
    assert used == ["TG-config"] and "refresh_token" not in c.state


def test_stored_access_tokens_are_validated_when_read():
    c = ctx()
    save_access(c, "access", "APP-1", NOW + timedelta(hours=1))
    assert load_access(c, "access") == ("APP-1", NOW + timedelta(hours=1))
    c.state["access"] = "not-a-date APP-1"
    assert load_access(c, "access") is None and "access" not in c.state  # dropped: fetched again once
    c.state["access"] = f"{(NOW + timedelta(hours=1)).isoformat()} bad token"
    assert load_access(c, "access") is None and "access" not in c.state
    assert load_state(ctx(State({"shop_id": str(2**70)})), "shop_id", valid_id) is None
