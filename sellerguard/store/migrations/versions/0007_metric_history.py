"""metric history: one row per account, metric and UTC day (sellerguard/history/tables.py, issue 22)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 17:40:00
"""

import sqlalchemy as sa
from alembic import op

import sellerguard.store.tables

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'metric_history',
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('metric', sa.String(length=100), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('marketplace', sa.String(length=50), nullable=False),
        sa.Column('as_of', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('numerator', sa.Float(), nullable=True),
        sa.Column('denominator', sa.Float(), nullable=True),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('warn', sa.Float(), nullable=True),
        sa.Column('comparator', sa.String(length=2), nullable=False),
        sa.Column('level', sa.String(length=10), nullable=False),
        sa.Column('headroom', sa.Float(), nullable=True),
        sa.Column('breach_forecast', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column('reported_value', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('account', 'metric', 'day'),
    )
    op.create_index('ix_metric_history_day', 'metric_history', ['day'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_metric_history_day', table_name='metric_history')
    op.drop_table('metric_history')
