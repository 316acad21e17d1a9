"""due orders: a partial index of waiting orders only

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

WAITING = "status IN ('queued_for_calling', 'scheduled')"


def upgrade() -> None:
    with op.batch_alter_table('call_orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_call_orders_due', ['next_attempt_at'], unique=False,
            postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING),
        )
        batch_op.drop_index('ix_call_orders_next_attempt_at')


def downgrade() -> None:
    with op.batch_alter_table('call_orders', schema=None) as batch_op:
        batch_op.create_index('ix_call_orders_next_attempt_at', ['next_attempt_at'], unique=False)
        batch_op.drop_index('ix_call_orders_due')
