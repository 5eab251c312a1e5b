"""worker job queue: procrastinate's tables (PostgreSQL only)

``sellerguard worker`` runs per-account jobs on procrastinate, a PostgreSQL job queue; its schema ships with it as
SQL and is applied here, in the store's schema. SQLite stores (``sellerguard run`` only) skip it. A PostgreSQL
store migrated without procrastinate installed gets the tables later from ``sellerguard worker``
(``sellerguard.workers.schema.ensure``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 17:45:00
"""

import logging

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from sellerguard.workers import schema

    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if not schema.available():
        logging.getLogger(__name__).info("procrastinate is not installed: the worker tables are created by "
                                         "`sellerguard worker` once it is")
        return
    if not schema.has_tables(conn):
        schema.create(conn)


def downgrade() -> None:
    from sellerguard.workers import schema

    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        schema.drop(conn)
