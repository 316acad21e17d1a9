import sqlalchemy as sa

from openrevox.orders.tables import call_orders

# What the claim walks: waiting orders by due time. A paused order keeps its due time (resume needs
# it) but is not in the index, so overdue paused orders cost a claim nothing. The predicate is SQL
# text, not bound values, so that both databases' planners match the claim's WHERE to it.
WAITING = "status IN ('queued_for_calling', 'scheduled')"

sa.Index(
    "ix_call_orders_due",
    call_orders.c.next_attempt_at,
    postgresql_where=sa.text(WAITING),
    sqlite_where=sa.text(WAITING),
)
