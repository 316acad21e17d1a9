import sqlalchemy as sa

from openrevox.db.types import Json, UTCDateTime, id_column, org_column, metadata

# One row per webhook to send, written in the transaction that makes the order terminal; its id is
# the `webhook-id` header, the same on every try, so a receiver can drop duplicates.
webhook_outbox = sa.Table(
    "webhook_outbox",
    metadata,
    id_column(),
    org_column(),
    sa.Column("order_id", sa.String(36), nullable=False, index=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivered | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True, index=True),  # NULL once settled
    # Start of the current retry window (created, or re-sent): retries stop a day after it.
    sa.Column("retrying_since", UTCDateTime, nullable=False),
    # Held by the process sending it; expires if that process dies mid-send.
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
)

# Every try, successful or not.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    id_column(),
    sa.Column(
        "outbox_id", sa.String(36), sa.ForeignKey("webhook_outbox.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("tried_at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),  # NULL: no HTTP response (refused, timeout...)
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("response_excerpt", sa.Text, nullable=True),  # at most 1 KB
)
