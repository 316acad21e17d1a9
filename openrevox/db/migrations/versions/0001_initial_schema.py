"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:15:33.312565
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organizations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('concurrency_limit', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('assistants',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('background_sound', sa.String(length=100), nullable=True),
    sa.Column('calendly', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('call_retry_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('end_of_call_sentence', sa.Text(), nullable=True),
    sa.Column('first_sentence', sa.Text(), nullable=True),
    sa.Column('first_sentence_delay_ms', sa.Integer(), nullable=False),
    sa.Column('first_sentence_mode', sa.String(length=20), nullable=False),
    sa.Column('ivr_navigation_enabled', sa.Boolean(), nullable=False),
    sa.Column('llm_model', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('max_call_duration_secs', sa.Float(), nullable=False),
    sa.Column('structured_output_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('transfer_phone_number', sa.String(length=20), nullable=True),
    sa.Column('voice', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('voicemail_message', sa.Text(), nullable=True),
    sa.Column('webhook_url', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_assistants_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assistants'))
    )
    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.create_index('ix_assistants_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('call_orders',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('assistant_id', sa.String(length=36), nullable=False),
    sa.Column('assistant', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('to_phone_number', sa.String(length=20), nullable=False),
    sa.Column('from_phone_number', sa.String(length=20), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=False),
    sa.Column('metadata', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('prompt_variables', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('call_retry_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('first_sentence_delay_ms', sa.Integer(), nullable=False),
    sa.Column('llm_model', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('concurrency_key', sa.String(length=200), nullable=True),
    sa.Column('concurrency_max', sa.Integer(), nullable=True),
    sa.Column('force_now', sa.Boolean(), nullable=False),
    sa.Column('campaign_id', sa.String(length=36), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('calls_count', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_call_orders_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_orders')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_call_orders_organization_id_idempotency_key'))
    )
    with op.batch_alter_table('call_orders', schema=None) as batch_op:
        batch_op.create_index('ix_call_orders_next_attempt_at', ['next_attempt_at'], unique=False)
        batch_op.create_index('ix_call_orders_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=200), nullable=True),
    sa.Column('last_name', sa.String(length=200), nullable=True),
    sa.Column('has_completed_onboarding', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_users_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_api_keys_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_keys_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('call_attempts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('organization_id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=36), nullable=False),
    sa.Column('phone_number', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('dial_error', sa.String(length=40), nullable=True),
    sa.Column('result', sa.String(length=30), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=10), nullable=True),
    sa.Column('end_reason', sa.String(length=40), nullable=True),
    sa.Column('structured_output', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('recording_ref', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['call_orders.id'], name=op.f('fk_call_attempts_order_id_call_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_call_attempts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_attempts'))
    )
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_attempts_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_call_attempts_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('faq_items',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('assistant_id', sa.String(length=36), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=True),
    sa.Column('needs_human_answer', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['assistant_id'], ['assistants.id'], name=op.f('fk_faq_items_assistant_id_assistants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_items'))
    )
    with op.batch_alter_table('faq_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_faq_items_assistant_id'), ['assistant_id'], unique=False)

    op.create_table('transcript_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('tool_name', sa.String(length=100), nullable=True),
    sa.Column('tool_arguments', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('tool_is_error', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_transcript_entries_attempt_id_call_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcript_entries')),
    sa.UniqueConstraint('attempt_id', 'seq', name=op.f('uq_transcript_entries_attempt_id_seq'))
    )


def downgrade() -> None:
    op.drop_table('transcript_entries')
    with op.batch_alter_table('faq_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_faq_items_assistant_id'))

    op.drop_table('faq_items')
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_attempts_org_created')
        batch_op.drop_index(batch_op.f('ix_call_attempts_order_id'))

    op.drop_table('call_attempts')
    op.drop_table('api_keys')
    op.drop_table('users')
    with op.batch_alter_table('call_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_call_orders_org_created')
        batch_op.drop_index('ix_call_orders_next_attempt_at')

    op.drop_table('call_orders')
    with op.batch_alter_table('assistants', schema=None) as batch_op:
        batch_op.drop_index('ix_assistants_org_created')

    op.drop_table('assistants')
    op.drop_table('organizations')
