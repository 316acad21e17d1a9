import sqlalchemy as sa

from openrevox.db.types import Json, UTCDateTime, id_column, metadata, org_column

assistants = sa.Table(
    "assistants",
    metadata,
    id_column(),
    org_column(),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("background_sound", sa.String(100)),
    sa.Column("calendly", Json),
    sa.Column("call_retry_config", Json),
    sa.Column("end_of_call_sentence", sa.Text),
    sa.Column("first_sentence", sa.Text),
    sa.Column("first_sentence_delay_ms", sa.Integer, nullable=False),
    sa.Column("first_sentence_mode", sa.String(20), nullable=False),
    sa.Column("ivr_navigation_enabled", sa.Boolean, nullable=False),
    sa.Column("llm_model", Json, nullable=False),
    sa.Column("max_call_duration_secs", sa.Float, nullable=False),
    sa.Column("structured_output_config", Json),
    sa.Column("transfer_phone_number", sa.String(20)),
    sa.Column("voice", Json),
    sa.Column("voicemail_message", sa.Text),
    sa.Column("webhook_url", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_assistants_org_created", "organization_id", "created_at"),
)

faq_items = sa.Table(
    "faq_items",
    metadata,
    id_column(),
    sa.Column(
        "assistant_id",
        sa.String(36),
        sa.ForeignKey("assistants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("source", sa.String(10)),
    sa.Column("needs_human_answer", sa.Boolean),
)
