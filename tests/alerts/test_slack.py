"""Slack payloads: Block Kit limits hold for any size of message, and hostile text stays inert."""

from __future__ import annotations

import json
import re
from typing import Any

from alert_builders import account, at, deadline, metric, report
from hypothesis import given, settings
from hypothesis import strategies as st

from sellerguard.alerts.blocks import BLOCKS_MAX, MESSAGE_CHARS_MAX, escape, truncate
from sellerguard.alerts.dedup import Reason
from sellerguard.alerts.model import Alert
from sellerguard.alerts.slack import Notice, render_alerts, render_digest, render_test

HOSTILE = "<!channel> @here <https://evil.example|Click me> & <@U123> <!subteam^S1> " + "x" * 40


def assert_block_kit_limits(message: dict[str, Any]) -> None:
    """The documented limits (docs/alerts.md): checked on every message we build."""
    blocks = message["blocks"]
    assert 1 <= len(blocks) <= BLOCKS_MAX
    assert 0 < len(message["text"]) <= 3000
    assert message["unfurl_links"] is False
    total = 0
    for b in blocks:
        assert b["type"] in {"header", "section", "context"}
        texts = [b["text"]] if "text" in b else b["elements"]
        for t in texts:
            assert 1 <= len(t["text"]) <= (150 if b["type"] == "header" else 3000)
            if t["type"] == "mrkdwn":
                assert t["verbatim"] is True
            else:
                assert t["type"] == "plain_text"
            total += len(t["text"])
    assert total <= MESSAGE_CHARS_MAX


def only_our_links(payload: str) -> None:
    """Every '<' left in the payload opens a link we built ourselves (seller page or policy)."""
    for m in re.finditer(r"<([^>]*)>", payload):
        assert m.group(1).startswith(("https://sellercentral.amazon.com", "https://www.ebay.com")), m.group(0)


def notices_for(rep, reason=Reason.NEW):
    out = []
    for acc in rep.accounts:
        for m in acc.metrics:
            out.append(Notice(Alert(acc.account, acc.marketplace, m.id, m.level, metric=m), reason))
        for d in acc.deadlines:
            out.append(Notice(Alert(acc.account, acc.marketplace, f"deadline:{d.kind}:{d.ref}", "warn",
                                    deadline=d), reason))
    return out


def test_escape_neutralises_control_characters_and_broadcasts():
    out = escape(HOSTILE)
    assert "<" not in out and ">" not in out
    assert "&lt;!channel&gt;" in out and "&amp;" in out
    assert "@here" not in out  # a zero-width joiner sits after the @


def test_truncate_never_splits_an_entity():
    text = escape("a" * 2995 + "<<<<<")
    cut = truncate(text, 3000)
    assert len(cut) <= 3000 and cut.endswith("…")
    assert not re.search(r"&[a-z]{0,3}…$", cut)


def test_hostile_marketplace_and_buyer_text_is_inert():
    m = metric(level="critical", value=0.02, name=HOSTILE, reason=HOSTILE, consequence=HOSTILE)
    acc = account("acme-us", m, deadlines=[deadline(HOSTILE[:150], at(3))])
    acc = acc.model_copy(update={"display_name": HOSTILE})
    rep = report(at(0), acc)
    for message in render_alerts(notices_for(rep), rep, {"acme-us": "https://sellercentral.amazon.com/x"}):
        assert_block_kit_limits(message)
        payload = json.dumps(message, ensure_ascii=False)
        assert "<!channel>" not in payload and "<@U123>" not in payload and "@here" not in payload
        only_our_links(payload)
    for message in render_digest(rep, {"acme-us": "https://sellercentral.amazon.com/x"}, at(0)):
        only_our_links(json.dumps(message, ensure_ascii=False))


def test_link_urls_keep_their_query_and_escape_ampersands():
    from sellerguard.alerts.blocks import link

    assert link("https://x.test/a?b=1&c=2", "A & B") == "<https://x.test/a?b=1&amp;c=2|A &amp; B>"


def test_a_hostile_seller_page_cannot_break_out_of_its_link():
    m = metric(level="warn", source="https://sellercentral.amazon.com/a|b>c <!channel>")
    rep = report(at(0), account("acme-us", m))
    payload = json.dumps(render_alerts(notices_for(rep), rep, {"acme-us": "javascript:alert(1)"}))
    assert "javascript:" not in payload and "<!channel>" not in payload
    assert "a%7Cb%3Ec%20%3C!channel%3E|Policy>" in payload


def test_long_messages_are_split_within_limits():
    metrics = [metric(f"amazon.m{i}", level="critical", value=0.02, reason="r" * 2500) for i in range(70)]
    deadlines = [deadline(f"order-{i}", at(2)) for i in range(300)]
    accounts = [account(f"acct-{n}", *metrics, deadlines=deadlines) for n in range(3)]
    rep = report(at(0), *accounts)
    messages = render_alerts(notices_for(rep), rep, {})
    assert len(messages) > 3
    for message in messages:
        assert_block_kit_limits(message)
    headers = [b["text"]["text"] for msg in messages for b in msg["blocks"] if b["type"] == "header"]
    assert any(h.endswith("(continued)") for h in headers)
    sections = sum(1 for msg in messages for b in msg["blocks"] if b["type"] == "section")
    assert sections == 3 * (70 + 1)  # one per metric plus one "items to act on" per account: nothing dropped


def test_metric_section_shows_value_threshold_headroom_forecast_items_and_link():
    m = metric(level="warn", value=0.008, headroom=2, breach_forecast=at(72))
    rep = report(at(0), account("acme-us", m, deadlines=[deadline("111-1", at(5))]))
    [message] = render_alerts(notices_for(rep)[:1], rep, {"acme-us": "https://sellercentral.amazon.com/p"})
    text = message["blocks"][1]["text"]["text"]
    assert "Value *0.80%* (8 of 1000 over 60 days) vs threshold &lt; 1.00% (warning at 0.75%)" in text
    assert "Headroom: 2 more defects" in text
    assert "Forecast: crosses the threshold on 2026-11-26 12:00 UTC" in text
    assert "Ship `111-1`" in text
    assert "<https://sellercentral.amazon.com/p|Open seller page>" in text
    assert message["text"].startswith(":large_orange_circle: acme-us (amazon): warning")


def test_resolved_and_test_messages_are_valid():
    rep = report(at(0), account("acme-us", metric(level="ok")))
    [message] = render_alerts(notices_for(rep, Reason.RESOLVED), rep, {})
    assert_block_kit_limits(message)
    assert "back to ok (0.50%)" in message["blocks"][1]["text"]["text"]
    [test] = render_test("ops", at(0))
    assert_block_kit_limits(test)


_TOKENS = ["a", "bc", " ", "<", ">", "&", "|", "@", "!", "*", "_", "~", "`", "\n", "é", "😀", "@channel",
           "<!here>", "&amp;", "<https://evil.example|x>", "word " * 20]
_TEXT = st.lists(st.sampled_from(_TOKENS), max_size=400).map("".join)


@settings(max_examples=40, deadline=None)
@given(names=st.lists(_TEXT, min_size=1, max_size=60), refs=st.lists(_TEXT.map(lambda t: t[:150] or "x"),
                                                                      max_size=80))
def test_any_content_packs_within_limits_and_stays_inert(names, refs):
    metrics = [metric(f"m.{i}", level="critical", value=0.02, name=n or "n", reason=n or None)
               for i, n in enumerate(names)]
    rep = report(at(0), account("acct", *metrics, deadlines=[deadline(r, at(2)) for r in refs]))
    messages = render_alerts(notices_for(rep), rep, {"acct": "https://sellercentral.amazon.com/x"})
    for message in messages:
        assert_block_kit_limits(message)
        payload = json.dumps(message, ensure_ascii=False)
        assert "<!here>" not in payload and "<!channel>" not in payload
        only_our_links(payload)
    sections = sum(1 for msg in messages for b in msg["blocks"] if b["type"] == "section")
    assert sections == len(names) + (1 if refs else 0)


# -- text that cannot pose as sellerguard (issue 20 item 5) ------------------------------------------------

SPOOFS = [
    "111-2\n:rotating_light: *Account suspended*",
    "x`code break` *bold* _italic_ ~strike~",
    "Acme\r\n\u2028<!here> @channel <https://evil.example|login>",
    "https://evil.example/login",
    "A" * 5000,
]


def test_foreign_text_is_one_inert_line_in_every_block_and_the_webhook():
    import json as jsonlib

    from sellerguard.alerts.pipeline import bodies
    from sellerguard.config import TargetConfig

    for spoof in SPOOFS:
        m = metric(level="critical", value=0.02, name=spoof, reason=spoof, consequence=spoof)
        acc = account("acme-us", m, deadlines=[deadline(spoof, at(2))])
        acc = acc.model_copy(update={"display_name": spoof})
        rep = report(at(0), acc)
        for msg in render_alerts(notices_for(rep), rep, {"acme-us": None}) + render_digest(rep, {}, at(0)):
            for block in msg["blocks"]:
                texts = [block["text"]] if "text" in block else block["elements"]
                for t in texts:
                    for line in t["text"].split("\n"):
                        assert not line.lstrip().startswith(":rotating_light:"), line
                        # every backtick pairs up into our own code spans; no *, _, ~ from foreign text
                        assert line.count("`") % 2 == 0, line
                        outside = re.sub(r"`[^`]*`", "", line)  # inside a code span nothing formats
                        assert "*Account suspended*" not in outside and "_italic_" not in outside
                        assert "~strike~" not in outside
                        assert "<!here>" not in line and "https://evil" not in line and "@channel" not in line
                        assert len(line) < 1200
        hook = TargetConfig(name="h", type="webhook", url="env:X")
        doc = jsonlib.loads(bodies(hook, [], rep)[0])
        strings = [s for s in _strings(doc)]
        assert all("\n" not in s and "\r" not in s and "\u2028" not in s and len(s) <= 500 for s in strings)


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


# -- truthful bodies (issue 20 item 6) -----------------------------------------------------------------------


def test_values_follow_the_packs_unit_etsy_stars_are_not_percent():
    from sellerguard.alerts.units import fmt

    stars = metric("etsy.star_average_rating", level="warn", value=4.7431, numerator=None, denominator=None,
                   threshold=4.8, warn=4.85, comparator=">=", name="Average review rating (Star Seller)")
    assert fmt(stars, stars.value) == "4.74" and fmt(stars, stars.threshold) == "4.80"
    rep = report(at(0), account("etsy-shop", stars, marketplace="etsy"))
    text = json.dumps(render_alerts(notices_for(rep), rep, {}))
    assert "4.74" in text and "474" not in text and "%" not in text
    rate = metric("etsy.std_on_time_shipping", value=0.9, numerator=None, denominator=None, threshold=0.8)
    assert fmt(rate, rate.value) == "90.00%"  # a rate calculator: a fraction, declared by the pack


def test_items_due_are_listed_or_counted_and_resolved_ones_named():
    items = [deadline(f"111-{i}", at(1 + i / 10)) for i in range(20)]
    rep = report(at(0), account("acme-us", metric(), deadlines=items))
    text = "\n".join(b["text"]["text"] for m in render_alerts(notices_for(rep), rep, {}) for b in m["blocks"]
                     if "text" in b)
    assert "20 new" in text and "…and 5 more" in text and text.count("• Ship `111-") == 15
    digest = json.dumps(render_digest(rep, {}, at(0)))
    assert "20 item(s) due in the next 24 h" in digest and "and 15 more" in digest
    gone = [Notice(Alert("acme-us", "amazon", "deadline:ship:111-7", "ok"), Reason.RESOLVED)]
    text = json.dumps(render_alerts(gone, rep, {}))
    assert "Ship `111-7`: done or no longer due" in text and "deadline:ship" not in text


def test_failing_for_is_a_human_duration():
    from datetime import timedelta

    from sellerguard.alerts.stale import duration

    assert [duration(timedelta(seconds=s)) for s in (5, 600, 3600, 12_000, 200_000)] == [
        "1 min", "10 min", "1 h", "3 h 20 min", "2 days 7 h"]


def test_the_webhook_posts_the_documented_status_document():
    from sellerguard.alerts.pipeline import bodies
    from sellerguard.config import TargetConfig
    from sellerguard.status import report_document

    rep = report(at(0), account("acme-us", metric(level="critical", value=0.0123456789)))
    doc = json.loads(bodies(TargetConfig(name="h", type="webhook", url="env:X"), [], rep)[0])
    assert doc == json.loads(json.dumps(report_document(rep)))  # docs/status-json.md, top-level level included
    assert doc["level"] == "critical" and list(doc)[:2] == ["as_of", "level"]
