"""SQL of the dispatcher: due orders, claims, leases and concurrency slots.

The database arbitrates between processes, never memory: a claim is a conditional UPDATE (on
PostgreSQL over rows locked with FOR UPDATE SKIP LOCKED, so workers never wait on each other;
SQLite has a single writer), a slot is a row under a primary key, a lease is a time renewed by a
heartbeat, and recovery is a query for expired leases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.orders.tables import call_attempts, call_orders, concurrency_limits, concurrency_slots
from openrevox.orgs.tables import organizations
from openrevox.scheduling import tables

WAITING = ("queued_for_calling", "scheduled")
LIVE_ATTEMPT = ("queued", "ringing", "ongoing")


# What dialing an order needs of it: not its JSON (the assistant alone is ~1.5 kB to decode).
_TO_DIAL = (
    call_orders.c.id,
    call_orders.c.organization_id,
    call_orders.c.to_phone_number,
    call_orders.c.from_phone_number,
    call_orders.c.concurrency_key,
    call_orders.c.concurrency_max,
    call_orders.c.calls_count,
    call_orders.c.assistant["max_call_duration_secs"].as_float().label("max_call_duration_secs"),
)


async def due_orders(
    conn: AsyncConnection, now: datetime, limit: int, excluded_orgs: set[str], excluded_keys: set[tuple[str, str]]
) -> list[dict]:
    """Orders whose next attempt is due (what dialing them needs), oldest due first, skipping full
    concurrency scopes. O(due): it walks the partial index of waiting orders up to `now` only."""
    o = call_orders.c
    query = sa.select(*_TO_DIAL).where(o.next_attempt_at <= now, sa.text(tables.WAITING))
    if excluded_orgs:
        query = query.where(o.organization_id.not_in(excluded_orgs))
    for org_id, key in excluded_keys:
        query = query.where(sa.not_(sa.and_(o.organization_id == org_id, o.concurrency_key == key)))
    query = query.order_by(o.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [r._asdict() for r in await conn.execute(query)]


async def order_to_dial(conn: AsyncConnection, order_id: str) -> dict:
    """The order of a recovered attempt, in the shape `due_orders` gives."""
    return (await conn.execute(sa.select(*_TO_DIAL).where(call_orders.c.id == order_id))).one()._asdict()


async def lock_scope(conn: AsyncConnection, scope: str) -> None:
    """On PostgreSQL, claimers of one scope take turns until their transaction ends, so two of
    them never insert each other's free slot (a deadlock) — callers lock the organization's scope
    first, which orders all locks. SQLite has a single writer already."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(scope))))


async def used_slots(conn: AsyncConnection, scope: str) -> set[int]:
    rows = await conn.execute(sa.select(concurrency_slots.c.slot).where(concurrency_slots.c.scope == scope))
    return {r.slot for r in rows}


async def release_slots(conn: AsyncConnection, attempt_id: str) -> None:
    await conn.execute(sa.delete(concurrency_slots).where(concurrency_slots.c.attempt_id == attempt_id))


@dataclass
class Limits:
    orgs: dict[str, int | None]  # organization id -> its concurrency limit (None: the default)
    keys: dict[tuple[str, str], int]  # (organization id, concurrency key) -> its limit
    live: dict[str, int]  # slot scope -> slots held now


async def limits_and_live_slots(conn: AsyncConnection) -> Limits:
    """Every organization's and concurrency key's limit and every scope's live slot count, in one
    round trip (a claim pass starts with it)."""
    kind = sa.literal_column
    orgs = sa.select(kind("'org'"), organizations.c.id, sa.null(), organizations.c.concurrency_limit)
    keys = sa.select(kind("'key'"), concurrency_limits.c.organization_id, concurrency_limits.c.key, concurrency_limits.c.max)
    live = sa.select(kind("'live'"), concurrency_slots.c.scope, sa.null(), sa.func.count()).group_by(
        concurrency_slots.c.scope
    )
    limits = Limits({}, {}, {})
    for what, first, second, number in await conn.execute(sa.union_all(orgs, keys, live)):
        if what == "org":
            limits.orgs[first] = number
        elif what == "key":
            limits.keys[(first, second)] = number
        else:
            limits.live[first] = number
    return limits


_KEY_LIMIT = sa.select(concurrency_limits.c.max).where(
    concurrency_limits.c.organization_id == sa.bindparam("organization_id"),
    concurrency_limits.c.key == sa.bindparam("key"),
)


def _key_limit_upsert(insert) -> sa.Insert:  # noqa: ANN001 - a dialect's insert()
    statement = insert(concurrency_limits)
    return statement.on_conflict_do_update(
        index_elements=[concurrency_limits.c.organization_id, concurrency_limits.c.key],
        set_={"max": statement.excluded.max},
    )


_KEY_LIMIT_UPSERT = {"postgresql": _key_limit_upsert(postgresql.insert), "sqlite": _key_limit_upsert(sqlite.insert)}


async def set_key_limit(conn: AsyncConnection, org_id: str, key: str, limit: int) -> None:
    """The latest `max` sent for a key becomes its limit. Written only when it differs: the read
    locks nothing, so orders naming one key do not queue on its row until they commit (as an
    UPDATE of it would make them); a change racing ours is settled by the upsert, last one wins."""
    params = {"organization_id": org_id, "key": key}
    if await conn.scalar(_KEY_LIMIT, params) == limit:
        return
    await conn.execute(_KEY_LIMIT_UPSERT[conn.dialect.name], {**params, "max": limit})


def held_by(owner: str | sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """The live attempts `owner`'s lease holds (a process's name, or a column holding one)."""
    return sa.and_(call_attempts.c.lease_owner == owner, call_attempts.c.status.in_(LIVE_ATTEMPT))


async def renew_leases(conn: AsyncConnection, owner: str, expires_at: datetime, attempt_ids: set[str]) -> set[str]:
    """The heartbeat: extend the live attempts this process holds and still runs; returns them."""
    if not attempt_ids:
        return set()
    renewed = await conn.execute(
        sa.update(call_attempts)
        .where(held_by(owner), call_attempts.c.id.in_(attempt_ids))
        .values(lease_expires_at=expires_at)
        .returning(call_attempts.c.id)
    )
    return set(renewed.scalars())


async def held_attempts(conn: AsyncConnection, owner: str) -> int:
    """How many live attempts `owner`'s lease holds."""
    return (await conn.execute(sa.select(sa.func.count()).where(held_by(owner)))).scalar_one()


async def expired_attempts(conn: AsyncConnection, now: datetime, limit: int) -> list[dict]:
    """Live attempts whose holder stopped renewing its lease (it died or hung)."""
    a = call_attempts.c
    query = (
        sa.select(call_attempts)
        .where(a.lease_expires_at < now, a.status.in_(LIVE_ATTEMPT))
        .order_by(a.lease_expires_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [r._asdict() for r in await conn.execute(query)]


async def take_over_lease(
    conn: AsyncConnection, attempt_id: str, owner: str, now: datetime, expires_at: datetime
) -> bool:
    """Take an expired lease on an attempt that was never dialed; False if another process did."""
    a = call_attempts.c
    result = await conn.execute(
        sa.update(call_attempts)
        .where(a.id == attempt_id, a.lease_expires_at < now, a.dial_started_at.is_(None), a.status == "queued")
        .values(lease_owner=owner, lease_expires_at=expires_at)
    )
    return result.rowcount == 1


async def cancelled_live_attempts(conn: AsyncConnection, attempt_ids: set[str]) -> list[dict]:
    """Of these live attempts (the calls this process runs), those whose order was cancelled."""
    if not attempt_ids:
        return []
    a, o = call_attempts.c, call_orders.c
    rows = await conn.execute(
        sa.select(call_attempts)
        .join(call_orders, o.id == a.order_id)
        .where(a.id.in_(attempt_ids), a.status.in_(LIVE_ATTEMPT), o.status == "cancelled")
    )
    return [r._asdict() for r in rows]

async def claim_orders(conn: AsyncConnection, order_ids: list[str], now: datetime) -> set[str]:
    """Move due orders to `calling` in one statement; returns those this process got (another
    process may have claimed some first)."""
    o = call_orders.c
    rows = await conn.execute(
        sa.update(call_orders)
        .where(o.id.in_(order_ids), o.status.in_(WAITING), o.next_attempt_at <= now)
        .values(status="calling", next_attempt_at=None, updated_at=now)
        .returning(o.id)
    )
    return {r.id for r in rows}


async def mark_all_queued(conn: AsyncConnection, order_ids: list[str], now: datetime) -> None:
    """Due orders waiting for a slot say so."""
    o = call_orders.c
    await conn.execute(
        sa.update(call_orders)
        .where(o.id.in_(order_ids), o.status == "scheduled")
        .values(status="queued_for_calling", updated_at=now)
    )


async def insert_attempts(conn: AsyncConnection, rows: list[dict]) -> None:
    await conn.execute(sa.insert(call_attempts), rows)


async def take_slots(conn: AsyncConnection, rows: list[dict]) -> None:
    """Raises IntegrityError when another process took one of the same slots first."""
    await conn.execute(sa.insert(concurrency_slots), rows)
