"""The processes that run calls' conversations: where a carrier reaches each one's media sockets,
and how many more calls each may take. What sends an inbound call to a process with room.

A process that takes media sockets (`openrevox serve`, or `openrevox worker --port`, with a Twilio
or Telnyx carrier) registers under its lease owner's name, with its media address and
`OPENREVOX_MAX_LIVE_CALLS`; its dispatcher's heartbeat renews the registration with its leases, so
a process that died is no longer chosen once its registration expires. A process's room is its cap
less the live attempts its lease holds, counted with its registration locked (`room`): whoever
places a call on it, its own dispatcher or another process's inbound webhook, counts the calls the
others placed before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.scheduling import store
from openrevox.scheduling.tables import media_hosts

h = media_hosts.c


@dataclass(frozen=True)
class Host:
    worker: str
    media_url: str
    max_live_calls: int | None  # none: no cap of its own
    held: int  # live attempts its lease holds

    @property
    def room(self) -> float:
        return float("inf") if self.max_live_calls is None else self.max_live_calls - self.held


def _upsert(insert) -> sa.Insert:  # noqa: ANN001 - a dialect's insert()
    statement = insert(media_hosts)
    return statement.on_conflict_do_update(
        index_elements=[h.worker],
        set_={name: statement.excluded[name] for name in ("media_url", "max_live_calls", "expires_at")},
    )


_REGISTER = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}


async def register(
    conn: AsyncConnection, worker: str, media_url: str, max_live_calls: int | None, expires_at: datetime
) -> None:
    values = {"worker": worker, "media_url": media_url, "max_live_calls": max_live_calls, "expires_at": expires_at}
    await conn.execute(_REGISTER[conn.dialect.name], values)


async def unregister(conn: AsyncConnection, worker: str) -> None:
    await conn.execute(sa.delete(media_hosts).where(h.worker == worker))


async def live_hosts(conn: AsyncConnection, now: datetime) -> list[Host]:
    """The registered processes that still renew their registration, each with what it holds."""
    held = sa.select(sa.func.count()).where(store.held_by(h.worker)).scalar_subquery()
    rows = await conn.execute(sa.select(h.worker, h.media_url, h.max_live_calls, held).where(h.expires_at > now))
    return [Host(*row) for row in rows]


def by_preference(hosts: list[Host], worker: str) -> list[Host]:
    """The hosts with room, in the order to try them: `worker` (the process asking) first, since a
    call it keeps needs no other; then the most room first, which spreads calls evenly."""
    return sorted((host for host in hosts if host.room > 0), key=lambda host: (host.worker != worker, -host.room))


async def room(conn: AsyncConnection, worker: str, max_live_calls: int) -> int:
    """How many more calls `worker` may take, counted with its registration locked until `conn`'s
    transaction ends: a call placed on it meanwhile, by any process, waits for that end."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(h.worker).where(h.worker == worker).with_for_update())
    else:  # no row locks: a write that changes nothing takes the database's write lock
        await conn.execute(sa.update(media_hosts).where(h.worker == worker).values(worker=h.worker))
    return max_live_calls - await store.held_attempts(conn, worker)


async def media_url_of(conn: AsyncConnection, worker: str | None) -> str | None:
    if worker is None:
        return None
    return await conn.scalar(sa.select(h.media_url).where(h.worker == worker))
