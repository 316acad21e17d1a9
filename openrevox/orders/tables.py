import sqlalchemy as sa

from openrevox.db.types import Json, UTCDateTime, id_column, metadata, org_column

call_orders = sa.Table(
    "call_orders",
    metadata,
    id_column(),
    org_column(),
    # The assistant as it was when the order was placed (inline ones get their own id):
    # later edits or deletion of the assistant never change an order already placed.
    sa.Column("assistant_id", sa.String(36), nullable=False),
    sa.Column("assistant", Json, nullable=False),
    sa.Column("to_phone_number", sa.String(20), nullable=False),
    sa.Column("from_phone_number", sa.String(20), nullable=False),
    sa.Column("direction", sa.String(10), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("scheduled_at", UTCDateTime, nullable=False),
    sa.Column("metadata", Json),
    sa.Column("prompt_variables", Json),
    sa.Column("call_retry_config", Json, nullable=False),
    sa.Column("first_sentence_delay_ms", sa.Integer, nullable=False),
    sa.Column("llm_model", Json, nullable=False),
    sa.Column("concurrency_key", sa.String(200)),
    sa.Column("concurrency_max", sa.Integer),
    sa.Column("force_now", sa.Boolean, nullable=False),
    sa.Column("campaign_id", sa.String(36)),
    sa.Column("idempotency_key", sa.String(255)),
    sa.Column("calls_count", sa.Integer, nullable=False),
    # When the next attempt is due; NULL once the order is terminal or an attempt is live.
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("organization_id", "idempotency_key"),
    sa.Index("ix_call_orders_org_created", "organization_id", "created_at"),
)

call_attempts = sa.Table(
    "call_attempts",
    metadata,
    id_column(),
    org_column(),
    sa.Column(
        "order_id",
        sa.String(36),
        sa.ForeignKey("call_orders.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("phone_number", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("dial_error", sa.String(40)),
    sa.Column("result", sa.String(30)),
    sa.Column("started_at", UTCDateTime),
    sa.Column("answered_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("ended_by", sa.String(10)),
    sa.Column("end_reason", sa.String(40)),
    sa.Column("structured_output", Json),
    # Where the recording is kept (a storage key, not a URL: URLs are signed per request).
    sa.Column("recording_ref", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # 1 for the first attempt of the order, 2 for the first retry...
    sa.Column("attempt_number", sa.Integer, nullable=False, server_default="1"),
    # The process that holds the attempt, until `lease_expires_at` (renewed by its heartbeat).
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime),
    # Written and committed just before the carrier is asked to dial: an attempt without it was
    # never dialed and may be dialed by another process; one with it is never dialed again.
    sa.Column("dial_started_at", UTCDateTime),
    # The carrier's id for the call (Twilio CallSid, Telnyx call_control_id, sandbox id).
    sa.Column("carrier_call_id", sa.String(128)),
    sa.Index("ix_call_attempts_org_created", "organization_id", "created_at"),
    sa.Index("ix_call_attempts_lease_expires_at", "lease_expires_at"),
)

transcript_entries = sa.Table(
    "transcript_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "attempt_id",
        sa.String(36),
        sa.ForeignKey("call_attempts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("tool_name", sa.String(100)),
    sa.Column("tool_arguments", Json),
    sa.Column("tool_is_error", sa.Boolean),
    sa.UniqueConstraint("attempt_id", "seq"),
)

# A live attempt holds one slot row per concurrency scope (its organization, its key): the primary
# key makes "never more than max" exact across processes.
concurrency_slots = sa.Table(
    "concurrency_slots",
    metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("slot", sa.Integer, primary_key=True),
    sa.Column(
        "attempt_id",
        sa.String(36),
        sa.ForeignKey("call_attempts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

# The latest `max` sent for a concurrency key is its limit.
concurrency_limits = sa.Table(
    "concurrency_limits",
    metadata,
    sa.Column("organization_id", sa.String(36), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("max", sa.Integer, nullable=False),
)
