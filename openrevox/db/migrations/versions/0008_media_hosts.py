"""media hosts: the processes that take calls' media sockets, their media address and cap

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 19:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('media_hosts',
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('media_url', sa.String(length=2048), nullable=False),
    sa.Column('max_live_calls', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('worker', name=op.f('pk_media_hosts'))
    )


def downgrade() -> None:
    op.drop_table('media_hosts')
