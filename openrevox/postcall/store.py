"""SQL for the webhook outbox, its deliveries and the organizations' signing secrets."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.db.types import group_rows
from openrevox.orgs.tables import organizations
from openrevox.postcall.tables import webhook_deliveries, webhook_outbox


async def webhook_secret(conn: AsyncConnection, org_id: str) -> str | None:
    return await conn.scalar(sa.select(organizations.c.webhook_secret).where(organizations.c.id == org_id))


async def set_webhook_secret_if_missing(conn: AsyncConnection, org_id: str, secret: str) -> None:
    """Sets the secret only where none is, so two processes generating at once agree on one."""
    await conn.execute(
        sa.update(organizations)
        .where(organizations.c.id == org_id, organizations.c.webhook_secret.is_(None))
        .values(webhook_secret=secret)
    )


async def insert_outbox(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(webhook_outbox).values(**values))


async def insert_outbox_rows(conn: AsyncConnection, rows: list[dict]) -> None:
    if rows:
        await conn.execute(sa.insert(webhook_outbox), rows)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    free = sa.or_(webhook_outbox.c.lease_expires_at.is_(None), webhook_outbox.c.lease_expires_at <= now)
    return sa.and_(webhook_outbox.c.status == "pending", webhook_outbox.c.next_attempt_at <= now, free)


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    """A read that takes no lock: idle passes never contend with writers (SQLite has one)."""
    return await conn.scalar(sa.select(webhook_outbox.c.id).where(_due(now)).limit(1)) is not None


async def claim_due(
    conn: AsyncConnection, now: datetime, worker: str, lease_until: datetime, batch: int
) -> list[dict]:
    """Leases to `worker` the pending rows due by `now` and not held by a live lease, in one
    UPDATE … RETURNING. PostgreSQL skips the rows another process is claiming; SQLite runs one
    writer at a time, and the condition is checked again by the UPDATE itself."""
    due = sa.select(webhook_outbox.c.id).where(_due(now)).order_by(webhook_outbox.c.next_attempt_at).limit(batch)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = await conn.execute(
        sa.update(webhook_outbox)
        .where(webhook_outbox.c.id.in_(due.scalar_subquery()), _due(now))
        .values(lease_owner=worker, lease_expires_at=lease_until)
        .returning(*webhook_outbox.c)
    )
    return [row._asdict() for row in claimed]


async def insert_delivery(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(webhook_deliveries).values(**values))


async def settle_try(conn: AsyncConnection, outbox_id: str, worker: str, values: dict) -> bool:
    """Writes a try's outcome and frees the lease, if `worker` still holds it."""
    done = await conn.execute(
        sa.update(webhook_outbox)
        .where(webhook_outbox.c.id == outbox_id, webhook_outbox.c.lease_owner == worker)
        .values(attempts=webhook_outbox.c.attempts + 1, lease_owner=None, lease_expires_at=None, **values)
    )
    return done.rowcount == 1


async def get_outbox(conn: AsyncConnection, org_id: str, outbox_id: str, *, lock: bool = False) -> dict | None:
    if "\x00" in outbox_id:
        return None
    query = sa.select(webhook_outbox).where(
        webhook_outbox.c.id == outbox_id, webhook_outbox.c.organization_id == org_id
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._asdict() if row else None


async def list_outbox(conn: AsyncConnection, org_id: str, offset: int, limit: int) -> list[dict]:
    """Newest first."""
    rows = await conn.execute(
        sa.select(webhook_outbox)
        .where(webhook_outbox.c.organization_id == org_id)
        .order_by(webhook_outbox.c.created_at.desc(), webhook_outbox.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [r._asdict() for r in rows]


async def outbox_of_order(conn: AsyncConnection, org_id: str, order_id: str) -> list[dict]:
    """The webhooks of one call, oldest first."""
    rows = await conn.execute(
        sa.select(webhook_outbox)
        .where(webhook_outbox.c.organization_id == org_id, webhook_outbox.c.order_id == order_id)
        .order_by(webhook_outbox.c.created_at, webhook_outbox.c.id)
    )
    return [r._asdict() for r in rows]


async def deliveries_of(conn: AsyncConnection, outbox_ids: list[str]) -> dict[str, list[dict]]:
    """Tries per outbox id, oldest first."""
    if not outbox_ids:
        return {}
    rows = await conn.execute(
        sa.select(webhook_deliveries)
        .where(webhook_deliveries.c.outbox_id.in_(outbox_ids))
        .order_by(webhook_deliveries.c.tried_at, webhook_deliveries.c.id)
    )
    return group_rows(outbox_ids, rows, "outbox_id")


async def requeue(conn: AsyncConnection, outbox_id: str, now: datetime) -> None:
    await conn.execute(
        sa.update(webhook_outbox)
        .where(webhook_outbox.c.id == outbox_id)
        .values(
            status="pending", next_attempt_at=now, retrying_since=now, lease_owner=None, lease_expires_at=None,
            delivered_at=None,
        )
    )  # fmt: skip
