"""SQL of the real carriers: which live call an attempt is, and which process holds it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.orders.store import LIVE_ATTEMPT
from openrevox.orders.tables import call_attempts

a = call_attempts.c


async def live_call(conn: AsyncConnection, attempt_id: str) -> dict | None:
    """The attempt's status and carrier call id while it is live; None once it ended."""
    row = (
        await conn.execute(
            sa.select(a.status, a.carrier_call_id).where(a.id == attempt_id, a.status.in_(LIVE_ATTEMPT))
        )
    ).first()
    return row._asdict() if row else None


async def hold_lease(conn: AsyncConnection, attempt_id: str, owner: str, expires_at: datetime) -> bool:
    """The process whose media socket runs the call holds the attempt from now on (its heartbeat
    renews the lease); False when the attempt is no longer live."""
    done = await conn.execute(
        sa.update(call_attempts)
        .where(a.id == attempt_id, a.status.in_(LIVE_ATTEMPT))
        .values(lease_owner=owner, lease_expires_at=expires_at)
    )
    return done.rowcount == 1
