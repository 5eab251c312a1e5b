"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:31:50.606654
"""

import sqlalchemy as sa
from alembic import op

import sqlmodel
import sellerguard.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('marketplace', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('seller_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('display_name', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('cancellation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('cancelled_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('initiated_by', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('buyer_requested', sa.Boolean(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_cancellation_key')
    )
    with op.batch_alter_table('cancellation', schema=None) as batch_op:
        batch_op.create_index('ix_cancellation_account_at', ['account', 'cancelled_at'], unique=False)
        batch_op.create_index('ix_cancellation_account_order', ['account', 'order_ref'], unique=False)

    op.create_table('claim',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('claim_kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('opened_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('seller_at_fault', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_claim_key')
    )
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.create_index('ix_claim_account_opened', ['account', 'opened_at'], unique=False)
        batch_op.create_index('ix_claim_account_order', ['account', 'order_ref'], unique=False)

    op.create_table('connector_state',
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('updated_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('account', 'key')
    )
    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('thread_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('received_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_reply_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('needs_reply', sa.Boolean(), nullable=False),
    sa.Column('sender', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_message_key')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_account_received', ['account', 'received_at'], unique=False)

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('purchased_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ship_by', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deliver_by', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fulfilment', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('total', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('site', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_orders_key')
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_account_deliver_by', ['account', 'deliver_by'], unique=False)
        batch_op.create_index('ix_orders_account_purchased', ['account', 'purchased_at'], unique=False)
        batch_op.create_index('ix_orders_account_ship_by', ['account', 'ship_by'], unique=False)

    op.create_table('rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('rating_kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('score', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('score_normalized', sa.Float(), nullable=True),
    sa.Column('negative', sa.Boolean(), nullable=False),
    sa.Column('rated_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('removed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_rating_key')
    )
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.create_index('ix_rating_account_order', ['account', 'order_ref'], unique=False)
        batch_op.create_index('ix_rating_account_rated', ['account', 'rated_at'], unique=False)

    op.create_table('reported_metric',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('metric_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('numerator', sa.Float(), nullable=True),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('window_start', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('window_end', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
    sa.Column('as_of', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_reported_metric_key')
    )
    with op.batch_alter_table('reported_metric', schema=None) as batch_op:
        batch_op.create_index('ix_reported_metric_account_metric', ['account', 'metric_id', 'as_of'], unique=False)

    op.create_table('return_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('requested_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refund_amount', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('dissatisfied', sa.Boolean(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_return_key')
    )
    with op.batch_alter_table('return_request', schema=None) as batch_op:
        batch_op.create_index('ix_return_account_order', ['account', 'order_ref'], unique=False)
        batch_op.create_index('ix_return_account_requested', ['account', 'requested_at'], unique=False)

    op.create_table('shipment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('raw_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('order_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('shipped_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('carrier', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tracking_number', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('tracking_validated', sa.Boolean(), nullable=True),
    sa.Column('delivered_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('item_count', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account', 'external_id', name='uq_shipment_key')
    )
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.create_index('ix_shipment_account_order', ['account', 'order_ref'], unique=False)
        batch_op.create_index('ix_shipment_account_shipped', ['account', 'shipped_at'], unique=False)

    op.create_table('sync_cursor',
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('stream', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('cursor', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('updated_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('account', 'stream')
    )
    op.create_table('sync_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('started_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sellerguard.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('error_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.create_index('ix_sync_run_account_started', ['account', 'started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_run_account_started')

    op.drop_table('sync_run')
    op.drop_table('sync_cursor')
    with op.batch_alter_table('shipment', schema=None) as batch_op:
        batch_op.drop_index('ix_shipment_account_shipped')
        batch_op.drop_index('ix_shipment_account_order')

    op.drop_table('shipment')
    with op.batch_alter_table('return_request', schema=None) as batch_op:
        batch_op.drop_index('ix_return_account_requested')
        batch_op.drop_index('ix_return_account_order')

    op.drop_table('return_request')
    with op.batch_alter_table('reported_metric', schema=None) as batch_op:
        batch_op.drop_index('ix_reported_metric_account_metric')

    op.drop_table('reported_metric')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_index('ix_rating_account_rated')
        batch_op.drop_index('ix_rating_account_order')

    op.drop_table('rating')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_account_ship_by')
        batch_op.drop_index('ix_orders_account_purchased')
        batch_op.drop_index('ix_orders_account_deliver_by')

    op.drop_table('orders')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_account_received')

    op.drop_table('message')
    op.drop_table('connector_state')
    with op.batch_alter_table('claim', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_account_order')
        batch_op.drop_index('ix_claim_account_opened')

    op.drop_table('claim')
    with op.batch_alter_table('cancellation', schema=None) as batch_op:
        batch_op.drop_index('ix_cancellation_account_order')
        batch_op.drop_index('ix_cancellation_account_at')

    op.drop_table('cancellation')
    op.drop_table('account')
