"""Alembic environment: always run by sellerguard.store.db with a live connection, never by URL."""

from alembic import context
from sqlmodel import SQLModel

# imported for their side effect: each module registers its tables on the metadata
import sellerguard.alerts.tables
import sellerguard.history.tables
import sellerguard.store.rollup_tables
import sellerguard.store.tables  # noqa: F401

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
)
with context.begin_transaction():
    context.run_migrations()
