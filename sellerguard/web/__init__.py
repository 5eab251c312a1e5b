"""The read-only local dashboard (``sellerguard serve``, issue 22): Flask + Jinja2, every asset in the package.

``view`` gathers what the page shows (the rules engine's report, the metric history, each stream's last sync);
``app`` serves it. Nothing here writes to the store, syncs or notifies.
"""
