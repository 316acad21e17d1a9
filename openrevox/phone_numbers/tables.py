import sqlalchemy as sa

from openrevox.db.types import UTCDateTime, id_column, metadata, org_column

phone_numbers = sa.Table(
    "phone_numbers",
    metadata,
    id_column(),
    org_column(),
    # E.164; unique across organizations: an inbound call to it must find exactly one owner.
    sa.Column("phone_number", sa.String(20), nullable=False, unique=True),
    sa.Column("label", sa.String(200)),
    sa.Column("provider", sa.String(10), nullable=False),  # twilio | telnyx | sip
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("type", sa.String(20), nullable=False),
    # Who answers inbound calls to this number; none: inbound calls are rejected.
    sa.Column(
        "inbound_assistant_id", sa.String(36), sa.ForeignKey("assistants.id", ondelete="SET NULL")
    ),
    # The carrier's id for the number (Twilio PN sid, Telnyx phone number id), when imported.
    sa.Column("carrier_number_id", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_phone_numbers_org_created", "organization_id", "created_at"),
)
