import sqlalchemy as sa

from openrevox.db.types import UTCDateTime, id_column, metadata, org_column

organizations = sa.Table(
    "organizations",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    # Live attempts allowed at once; NULL means the configured default.
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    # Standard Webhooks signing secret, "whsec_<base64>"; generated on first use.
    sa.Column("webhook_secret", sa.String(100), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    id_column(),
    org_column(),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("first_name", sa.String(200), nullable=True),
    sa.Column("last_name", sa.String(200), nullable=True),
    sa.Column("has_completed_onboarding", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    id_column(),
    org_column(),
    # SHA-256 of the key: keys are random 32-byte secrets, so a slow hash adds nothing.
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
