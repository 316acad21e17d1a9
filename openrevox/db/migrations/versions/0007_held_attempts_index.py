"""held attempts: a partial index of the live attempts by the process whose lease holds them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:40:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

HELD = "lease_owner IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.create_index(
            'ix_call_attempts_held', ['lease_owner'], unique=False,
            postgresql_where=sa.text(HELD), sqlite_where=sa.text(HELD),
        )


def downgrade() -> None:
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_attempts_held')
