import sqlalchemy as sa

from openrevox.db.types import Json, UTCDateTime, id_column, metadata, org_column
from openrevox.orders.tables import call_orders

campaigns = sa.Table(
    "campaigns",
    metadata,
    id_column(),
    org_column(),
    sa.Column("assistant_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    # The assistant as it was at creation, copied into every order of the campaign.
    sa.Column("assistant", Json, nullable=False),
    sa.Column("first_sentence_delay_ms", sa.Integer, nullable=False),
    sa.Column("llm_model", Json, nullable=False),
    # The config the orders use (the override, else the assistant's, else the defaults)...
    sa.Column("call_retry_config", Json, nullable=False),
    # ...and the override as given, which is what the Campaign shows.
    sa.Column("call_retry_config_override", Json),
    sa.Column("from_phone_number", sa.String(20)),
    sa.Column("dial_from_number", sa.String(20), nullable=False),
    sa.Column("max_concurrent_calls", sa.Integer),
    sa.Column("scheduled_at", UTCDateTime),
    sa.Column("paused_at", UTCDateTime),
    sa.Column("cancelled_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_campaigns_org_created", "organization_id", "created_at"),
)

# One row per contact, in input order; its id is the id of the call order it became.
campaign_rows = sa.Table(
    "campaign_rows",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "campaign_id", sa.String(36), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("row_index", sa.Integer, nullable=False),
    sa.Column("phone_number", sa.String(20), nullable=False),
    sa.Column("input_data", Json, nullable=False),
    # The order's first due time and status, computed at creation from its recipient's zones.
    sa.Column("first_due_at", UTCDateTime, nullable=False),
    sa.Column("first_status", sa.String(20), nullable=False),
    sa.UniqueConstraint("campaign_id", "row_index"),
)

# A campaign's orders are read together (row stats, rows, cancel).
sa.Index("ix_call_orders_campaign_id", call_orders.c.campaign_id)
