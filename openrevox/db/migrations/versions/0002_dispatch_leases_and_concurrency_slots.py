"""dispatch leases and concurrency slots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:18:56.091944
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('concurrency_limits',
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('max', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('organization_id', 'key', name=op.f('pk_concurrency_limits'))
    )
    op.create_table('sandbox_dials',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('phone_number', sa.String(length=20), nullable=False),
    sa.Column('worker', sa.String(length=64), nullable=False),
    sa.Column('dialed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_dials'))
    )
    with op.batch_alter_table('sandbox_dials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_dials_attempt_id'), ['attempt_id'], unique=False)

    op.create_table('concurrency_slots',
    sa.Column('scope', sa.String(length=300), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_concurrency_slots_attempt_id_call_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scope', 'slot', name=op.f('pk_concurrency_slots'))
    )
    with op.batch_alter_table('concurrency_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_concurrency_slots_attempt_id'), ['attempt_id'], unique=False)

    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_number', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('dial_started_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('carrier_call_id', sa.String(length=128), nullable=True))
        batch_op.create_index('ix_call_attempts_lease_expires_at', ['lease_expires_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_attempts_lease_expires_at')
        batch_op.drop_column('carrier_call_id')
        batch_op.drop_column('dial_started_at')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('attempt_number')

    with op.batch_alter_table('concurrency_slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_concurrency_slots_attempt_id'))

    op.drop_table('concurrency_slots')
    with op.batch_alter_table('sandbox_dials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_dials_attempt_id'))

    op.drop_table('sandbox_dials')
    op.drop_table('concurrency_limits')
