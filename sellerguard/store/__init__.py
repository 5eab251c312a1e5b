"""The store: normalized records, sync cursors and connector state, in SQLite or PostgreSQL."""

from sellerguard.store.db import Store, default_db_url

__all__ = ["Store", "default_db_url"]
