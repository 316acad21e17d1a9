import sqlalchemy as sa

from openrevox.db.types import UTCDateTime, metadata

# Every dial the sandbox carrier receives, kept so tests (and operators) can prove that no attempt
# was dialed twice: there is deliberately no unique constraint here.
sandbox_dials = sa.Table(
    "sandbox_dials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("attempt_id", sa.String(36), nullable=False, index=True),
    sa.Column("phone_number", sa.String(20), nullable=False),
    sa.Column("worker", sa.String(64), nullable=False),
    sa.Column("dialed_at", UTCDateTime, nullable=False),
)
