"""Slack messages for alerts, the daily digest and the test notice, as Block Kit payloads.

Every text that came from a marketplace, a buyer or a pack goes through ``blocks.escape``; the only raw mrkdwn is
our own formatting and links built by ``blocks.link``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sellerguard.alerts.blocks import code, context, escape, header, link, pack, section
from sellerguard.alerts.dedup import Reason
from sellerguard.alerts.model import CREDENTIALS_ITEM, SYNC_ITEM, Alert
from sellerguard.alerts.units import fmt
from sellerguard.rules.report import AccountStatus, Deadline, MetricStatus, StatusReport

ICONS = {"critical": ":red_circle:", "warn": ":large_orange_circle:", "resolved": ":white_check_mark:"}
LABELS = {
    Reason.NEW: "new",
    Reason.ESCALATED: "now critical",
    Reason.REPEAT: "still firing",
    Reason.RESOLVED: "resolved",
}
ITEMS_SHOWN = 15


@dataclass(frozen=True)
class Notice:
    """One alert worth a message to one target, and why; ``history``: the events of older messages about the
    same alert that were never delivered and are folded into this one (outbox.fold)."""

    alert: Alert
    reason: Reason
    at: datetime | None = None
    history: tuple[Any, ...] = ()


_SAID = {"new": "fired", "escalated": "critical", "repeat": "still firing", "resolved": "resolved"}


def story(n: Notice) -> str:
    """"fired 11:02, resolved 11:15, fired again 11:19": what happened while the target was not answering."""
    if not n.history:
        return ""
    words, fired = [], 0
    for reason, at in [(e.reason, e.at) for e in n.history] + [(str(n.reason), n.at)]:
        said = _SAID.get(reason, reason)
        if reason == "new":
            fired += 1
            said = "fired again" if fired > 1 else "fired"
        words.append(f"{said} {at:%H:%M}" if at is not None else said)
    return "While undelivered: " + ", ".join(words)


def when(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def _account_title(acc: AccountStatus | None, account: str, marketplace: str) -> str:
    name = acc.display_name if acc and acc.display_name else account
    return f"{name} ({marketplace})"


KIND_LABELS = {"ship": "Ship", "reply": "Reply to message", "tracking": "Upload tracking for",
               "deliver": "Deliver", "return": "Handle return"}


def deadline_label(kind: str, ref: str) -> str:
    """``Ship `111-222```: the action by its human label, never the raw ``deadline:ship:111-222`` key."""
    return f"{KIND_LABELS.get(kind) or escape(kind)} `{code(ref)}`"


def item_label(item: str, metrics: dict[str, MetricStatus]) -> str:
    """An alert's item for a reader: a deadline's label, "sync", or the metric's name and id."""
    if item.startswith("deadline:"):
        _, kind, ref = [*item.split(":", 2), "", ""][:3]
        return deadline_label(kind, ref)
    if item in (SYNC_ITEM, CREDENTIALS_ITEM):
        return item
    m = metrics.get(item)
    return f"{escape(m.name)} `{code(item)}`" if m is not None else f"`{code(item)}`"


def _deadline_line(d: Deadline, metrics: dict[str, MetricStatus]) -> str:
    line = f"• {deadline_label(d.kind, d.ref)} by {when(d.due)}"
    m = metrics.get(d.metric)
    if d.value_if_missed is not None and m is not None:
        line += f" (if missed: {escape(m.name)} → {fmt(m, d.value_if_missed)})"
    return line


def _more(total: int, shown: int) -> list[str]:
    return [f"…and {total - shown} more"] if total > shown else []


def _n(x: float) -> str:
    """A count written in full: "1234567", never "1.23457e+06" (``:g``); a fraction keeps 4 digits."""
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.4g}"


def odds(p: float) -> str:
    """A probability as a whole percentage, never "0%" / "100%" for odds that are not certain."""
    return "<1%" if 0 < p < 0.005 else ">99%" if 0.995 <= p < 1 else f"{p * 100:.0f}%"


def metric_text(m: MetricStatus, label: str, acc: AccountStatus | None, page: str | None) -> str:
    lines = [f"*{escape(m.name)}* `{code(m.id)}` · {label}"]
    value = f"Value *{fmt(m, m.value)}*"
    if m.numerator is not None and m.denominator is not None:
        value += f" ({_n(m.numerator)} of {_n(m.denominator)}"
        value += f" over {m.window_days} days)" if m.window_days else ")"
    if m.threshold is not None:
        value += f" vs threshold {escape(m.comparator)} {fmt(m, m.threshold)}"
        if m.warn is not None:
            value += f" (warning at {fmt(m, m.warn)})"
    lines.append(value)
    if m.headroom is not None:
        if m.headroom >= 0:
            lines.append(f"Headroom: {_n(m.headroom)} more defects before the threshold")
        else:
            lines.append(f"Headroom: {_n(-m.headroom)} defect-free orders needed to recover")
    if m.breach_forecast is not None:
        lines.append(f"Forecast: crosses the threshold on {when(m.breach_forecast)}")
    if m.breach_probability is not None and m.forecast_at is not None:
        lines.append(f"Chance of a breach by {when(m.forecast_at)}: {odds(m.breach_probability)}")
    if m.reported_value is not None:
        lines.append(f"Marketplace reports {fmt(m, m.reported_value)}")
    if m.reason:
        lines.append(f"Why: {escape(m.reason, limit=400)}")
    if m.consequence:
        lines.append(f"If breached: {escape(m.consequence, limit=400)}")
    if not m.confirmed:
        lines.append("_This rule is not confirmed by the marketplace (see the pack)._")
    items = sorted((d for d in (acc.deadlines if acc else []) if d.metric == m.id), key=lambda d: d.due)
    if items:
        shown = ", ".join(f"{deadline_label(d.kind, d.ref)} by {when(d.due)}" for d in items[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        lines.append(f"Items to act on: {shown}{more}")
    links = [link(page, "Open seller page")] if page else []
    if m.source:
        links.append(link(m.source, "Policy"))
    if links:
        lines.append(" · ".join(links))
    return "\n".join(lines)


def _bucket(n: Notice) -> str:
    return "resolved" if n.reason is Reason.RESOLVED else n.alert.level


def _group_sections(
    notices: list[Notice], acc: AccountStatus | None, page: str | None, bucket: str
) -> list[dict[str, Any]]:
    metrics = {m.id: m for m in (acc.metrics if acc else [])}
    sections: list[dict[str, Any]] = []
    items: list[Notice] = []
    for n in notices:
        a = n.alert
        if bucket == "resolved":
            continue
        told = f"\n{story(n)}" if n.history else ""
        if a.item == SYNC_ITEM:
            detail = "\n".join(escape(line, limit=400) for line in (a.detail or "").split("\n"))
            sections.append(section(f"*Data is stale: sync keeps failing* · {LABELS[n.reason]}\n{detail}{told}"))
        elif a.item == CREDENTIALS_ITEM:
            detail = escape(a.detail or "", limit=400)
            sections.append(section(f"*Marketplace authorization runs out* · {LABELS[n.reason]}\n{detail}{told}"))
        elif a.deadline is not None:
            items.append(n)
        elif a.metric is not None:
            sections.append(section(metric_text(a.metric, LABELS[n.reason], acc, page) + told))
    if items:
        items.sort(key=lambda n: n.alert.deadline.due if n.alert.deadline else datetime.max)
        lines = [_deadline_line(n.alert.deadline, metrics) for n in items[:ITEMS_SHOWN] if n.alert.deadline]
        lines += _more(len(items), ITEMS_SHOWN)
        now = notices[0].at
        late = sum(1 for n in items if now is not None and n.alert.deadline and n.alert.deadline.due <= now)
        head = f"*Items to act on* · {len(items)} new" + (f", {late} already past due" if late else "")
        sections.append(section("\n".join([head, *lines, link(page, "Open seller page") if page else ""]).strip()))
    if bucket == "resolved":
        lines, done = [], []
        for n in notices:
            a = n.alert
            told = f" ({story(n)})" if n.history else ""
            if a.item.startswith("deadline:"):
                done.append(f"• {item_label(a.item, metrics)}: done or no longer due{told}")
            elif a.item == SYNC_ITEM:
                lines.append(f"• sync works again{told}")
            elif a.item == CREDENTIALS_ITEM:
                lines.append(f"• marketplace authorization renewed{told}")
            else:
                m = metrics.get(a.item) or a.metric
                value = f" ({fmt(m, m.value)})" if m is not None else ""
                lines.append(f"• {item_label(a.item, metrics)} back to ok{value}{told}")
        lines += done[:ITEMS_SHOWN] + _more(len(done), ITEMS_SHOWN)
        sections.append(section("\n".join(lines)))
    return sections


def render_alerts(
    notices: list[Notice], report: StatusReport, pages: dict[str, str | None],
    held_since: datetime | None = None, cap: int = 6,
) -> list[dict[str, Any]]:
    """Messages for one target and one evaluation: per account, a header per level, then its sections."""
    accounts = {a.account: a for a in report.accounts}
    order = {a.account: i for i, a in enumerate(report.accounts)}
    by_account: dict[str, list[Notice]] = {}
    for n in notices:
        by_account.setdefault(n.alert.account, []).append(n)
    groups = []
    for account in sorted(by_account, key=lambda a: (order.get(a, len(order)), a)):
        acc = accounts.get(account)
        title = _account_title(acc, account, by_account[account][0].alert.marketplace)
        for bucket in ("critical", "warn", "resolved"):
            group = [n for n in by_account[account] if _bucket(n) == bucket]
            if not group:
                continue
            label = {"critical": "CRITICAL", "warn": "warning", "resolved": "resolved"}[bucket]
            head = header(f"{ICONS[bucket]} {escape(title)}: {label}")
            groups.append([head, *_group_sections(group, acc, pages.get(account), bucket)])
    footer = f"sellerguard · data as of {when(report.as_of)}"
    if held_since is not None:
        footer += (f" · includes items held back since {held_since:%H:%M} UTC by this channel's rate cap "
                   f"(at most {cap} messages per hour; critical news is never held)")
    return pack(groups, context(footer))


def render_digest(report: StatusReport, pages: dict[str, str | None], now: datetime,
                  changes: list[Any] | None = None) -> list[dict[str, Any]]:
    """The daily digest; ``changes`` (sellerguard.history.changes.Change) adds "since yesterday" lines per account."""
    groups = [[header(f":bar_chart: sellerguard daily digest · {now:%Y-%m-%d}")]]
    for acc in report.accounts:
        bad = [m for m in acc.metrics if m.level != "ok"]
        soon = [d for d in acc.deadlines if d.due <= now + timedelta(hours=24)]
        synced = when(acc.last_sync) if acc.last_sync else "never"
        lines = [f"*{escape(_account_title(acc, acc.account, acc.marketplace))}* · {acc.level.upper()} · "
                 f"last sync {synced}"]
        for m in bad:
            thr = f" vs {escape(m.comparator)} {fmt(m, m.threshold)}" if m.threshold is not None else ""
            lines.append(f"• {escape(m.name)} `{code(m.id)}`: {fmt(m, m.value)}{thr} ({m.level})")
        if not bad:
            lines.append(f"All {len(acc.metrics)} metrics ok")
        if soon:
            soon.sort(key=lambda d: d.due)
            late = sum(1 for d in soon if d.due <= now)  # past due is not "due in the next 24 h"
            lines.append(f"{len(soon)} item(s) due in the next 24 h" + (f", {late} already past due:" if late else ":"))
            lines += [f"• {deadline_label(d.kind, d.ref)} by {when(d.due)}" for d in soon[:5]] + _more(len(soon), 5)
        moved = [c for c in changes or [] if c.account == acc.account]
        if moved:
            lines.append(f"Since yesterday ({len(moved)} change(s)):")
            lines += [f"• `{code(c.item)}` {escape(c.kind.replace('_', ' '))}: {escape(c.before)} → {escape(c.after)}"
                      for c in moved[:5]] + _more(len(moved), 5)
        if page := pages.get(acc.account):
            lines.append(link(page, "Open seller page"))
        groups[0].append(section("\n".join(lines)))
    if not report.accounts:
        groups[0].append(section("No accounts configured."))
    return pack(groups, context(f"sellerguard · data as of {when(report.as_of)}"))


def render_test(target: str, now: datetime) -> list[dict[str, Any]]:
    text = (f"This is a test from sellerguard to target `{code(target)}` at {when(now)}.\n"
            "Alerts will look like this: a header per account and level, then one section per metric.")
    return pack([[header(":wave: sellerguard test notification"), section(text)]])
