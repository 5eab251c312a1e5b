"""Alerts: from a StatusReport to Slack and webhook messages (docs/alerts.md).

    model.py     alerts as data: (account, item) with a level        stale.py   the "sync keeps failing" alert
    dedup.py     decide(): a pure decision with a named Reason        silences.py, timing.py   mutes, quiet hours
    pipeline.py  scope -> silence -> quiet -> dedup -> group -> outbox + state, in one transaction
    slack.py, blocks.py, links.py   Block Kit rendering, escaping, limits, seller-page links
    outbox.py    delivery: written before send, marked after a 2xx, retried with backoff (at-least-once)
    tables.py    alert_state, alert_silence, notify_outbox
"""
