"""shipment: a partial index on (account, shipped_at) of the packages without a tracking number

The deadline queue's tracking-upload query (rules/deadlines.py) reads the ~2 % of a window's shipments that have
no tracking number; through ix_shipment_account_shipped it read every shipment of the window (73 ms of status at
1M orders x 10 accounts). Only rows with tracking_number IS NULL are in the index, so writes of tracked packages
do not touch it. Same rows, same results; no data changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

UNTRACKED = sa.text("tracking_number IS NULL")


def upgrade() -> None:
    op.create_index('ix_shipment_account_untracked', 'shipment', ['account', 'shipped_at'], unique=False,
                    sqlite_where=UNTRACKED, postgresql_where=UNTRACKED)


def downgrade() -> None:
    op.drop_index('ix_shipment_account_untracked', table_name='shipment')
