import sqlalchemy as sa

from openrevox.db.types import UTCDateTime, metadata
from openrevox.orders.tables import call_attempts, call_orders


def partial_index(name: str, column: sa.Column, where: str) -> sa.Index:
    """An index of the rows `where` holds only, on both databases. The predicate is SQL text, not
    bound values, so that both planners match the queries' WHERE to it."""
    return sa.Index(name, column, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


# What the claim walks: waiting orders by due time. A paused order keeps its due time (resume needs
# it) but is not in the index, so overdue paused orders cost a claim nothing.
WAITING = "status IN ('queued_for_calling', 'scheduled')"
partial_index("ix_call_orders_due", call_orders.c.next_attempt_at, WAITING)

# What a process with `max_live_calls` counts each pass: the live attempts its lease holds. An
# attempt that ended has no lease owner, so the index holds the live attempts only.
HELD = "lease_owner IS NOT NULL"
partial_index("ix_call_attempts_held", call_attempts.c.lease_owner, HELD)

# The processes that take calls' media sockets: where a carrier reaches each, and its cap
# (scheduling/hosts.py). A row lives while its process's heartbeat renews `expires_at`.
media_hosts = sa.Table(
    "media_hosts",
    metadata,
    sa.Column("worker", sa.String(64), primary_key=True),  # the process's lease owner name
    sa.Column("media_url", sa.String(2048), nullable=False),
    sa.Column("max_live_calls", sa.Integer, nullable=True),  # none: no cap of its own
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
