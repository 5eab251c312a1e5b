"""notify outbox: the alert events each message carries (JSON), for folding superseded messages

One nullable column, so existing stores are upgraded in place (plain ALTER TABLE ADD COLUMN on SQLite); rows
queued by an older release read as carrying no events and are never folded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('events', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notify_outbox', schema=None) as batch_op:
        batch_op.drop_column('events')
