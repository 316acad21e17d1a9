"""SQL for call orders, their attempts and transcripts: one function per statement."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.db.types import group_rows
from openrevox.orders.tables import call_attempts, call_orders, transcript_entries


# Statements built once: building and cache-keying a statement per call (`.values(**row)` on a
# 23-column table) cost more than executing it. Each takes its values as execute() parameters.
_INSERT_ORDER = sa.insert(call_orders)
_ORDER = sa.select(call_orders).where(
    call_orders.c.id == sa.bindparam("order_id"), call_orders.c.organization_id == sa.bindparam("org_id")
)
_ORDER_LOCKED = _ORDER.with_for_update()
_ORDER_BY_IDEMPOTENCY_KEY = sa.select(call_orders).where(
    call_orders.c.organization_id == sa.bindparam("org_id"),
    call_orders.c.idempotency_key == sa.bindparam("idempotency_key"),
)
_ATTEMPTS_OF = (
    sa.select(call_attempts)
    .where(call_attempts.c.order_id.in_(sa.bindparam("order_ids", expanding=True)))
    .order_by(call_attempts.c.created_at.desc(), call_attempts.c.id)
)
_TRANSCRIPTS_OF = (
    sa.select(transcript_entries)
    .where(transcript_entries.c.attempt_id.in_(sa.bindparam("attempt_ids", expanding=True)))
    .order_by(transcript_entries.c.attempt_id, transcript_entries.c.seq)
)


async def insert_order(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(_INSERT_ORDER, values)


async def insert_orders(conn: AsyncConnection, rows: list[dict]) -> None:
    """Several orders in one statement (executemany: one round trip, one thread trip on SQLite)."""
    if rows:
        await conn.execute(_INSERT_ORDER, rows)


async def get_order(conn: AsyncConnection, org_id: str, order_id: str, *, lock: bool = False) -> dict | None:
    """The order if it belongs to `org_id` (another organization's id reads as absent); with
    `lock`, locked until the transaction ends (PostgreSQL)."""
    if "\x00" in order_id:  # no stored id has one; PostgreSQL refuses NUL in text
        return None
    query = _ORDER_LOCKED if lock and conn.dialect.name == "postgresql" else _ORDER
    row = (await conn.execute(query, {"order_id": order_id, "org_id": org_id})).first()
    return row._asdict() if row else None


async def find_by_idempotency_key(conn: AsyncConnection, org_id: str, key: str) -> dict | None:
    row = (await conn.execute(_ORDER_BY_IDEMPOTENCY_KEY, {"org_id": org_id, "idempotency_key": key})).first()
    return row._asdict() if row else None


async def set_order_status(
    conn: AsyncConnection, order_id: str, status: str, now: datetime, **values: object
) -> None:
    await conn.execute(
        sa.update(call_orders)
        .where(call_orders.c.id == order_id)
        .values(status=status, updated_at=now, **values)
    )


async def attempts_of(conn: AsyncConnection, order_ids: list[str]) -> dict[str, list[dict]]:
    """Attempts per order id, most recent first."""
    if not order_ids:
        return {}
    rows = await conn.execute(_ATTEMPTS_OF, {"order_ids": order_ids})
    return group_rows(order_ids, rows, "order_id")


async def transcripts_of(conn: AsyncConnection, attempt_ids: list[str]) -> dict[str, list[dict]]:
    """Transcript entries per attempt id, in spoken order."""
    if not attempt_ids:
        return {}
    rows = await conn.execute(_TRANSCRIPTS_OF, {"attempt_ids": attempt_ids})
    return group_rows(attempt_ids, rows, "attempt_id")


async def list_attempts(
    conn: AsyncConnection, org_id: str, order_statuses: list[str] | None, offset: int, limit: int
) -> list[dict]:
    """A page of the organization's attempts, most recent first, filtered on their order's status."""
    query = sa.select(call_attempts).where(call_attempts.c.organization_id == org_id)
    if order_statuses:
        query = query.join(call_orders, call_orders.c.id == call_attempts.c.order_id).where(
            call_orders.c.status.in_(order_statuses)
        )
    query = query.order_by(call_attempts.c.created_at.desc(), call_attempts.c.id).offset(offset).limit(limit)
    return [r._asdict() for r in await conn.execute(query)]


def _search_conditions(org_id: str, f: dict) -> list[sa.ColumnElement]:
    o = call_orders.c
    conditions: list[sa.ColumnElement] = [o.organization_id == org_id]
    if f["assistant_ids"]:
        conditions.append(o.assistant_id.in_(f["assistant_ids"]))
    if f["campaign_ids"]:
        conditions.append(o.campaign_id.in_(f["campaign_ids"]))
    if f["directions"]:
        conditions.append(o.direction.in_(f["directions"]))
    if f["from_phone_numbers"]:
        conditions.append(o.from_phone_number.in_(f["from_phone_numbers"]))
    if f["statuses"]:
        conditions.append(o.status.in_(f["statuses"]))
    if f["assignee_ids"]:
        conditions.append(sa.false())  # orders have no assignee yet
    if f["outcomes"] and "none" not in f["outcomes"]:
        conditions.append(sa.false())  # outcomes are not computed yet: every order's is none
    if f.get("call_ids"):
        conditions.append(o.id.in_(f["call_ids"]))
    if f.get("to_phone_number"):
        conditions.append(o.to_phone_number == f["to_phone_number"])
    if f.get("query"):
        conditions.append(o.to_phone_number.contains(f["query"], autoescape=True))
    if f.get("created_between"):  # the dashboard's date filter: [start, end)
        start, end = f["created_between"]
        conditions += [o.created_at >= start, o.created_at < end]
    if f["results"]:
        a = call_attempts.c
        latest_result = (
            sa.select(a.result)
            .where(a.order_id == o.id)
            .order_by(a.created_at.desc(), a.id)
            .limit(1)
            .scalar_subquery()
        )
        wanted = [r for r in f["results"] if r != "none"]
        options = [latest_result.in_(wanted)] if wanted else []
        if "none" in f["results"]:
            options.append(latest_result.is_(None))
        conditions.append(sa.or_(*options))
    return conditions


async def search_orders(conn: AsyncConnection, org_id: str, f: dict) -> tuple[list[dict], int]:
    """A page of orders matching the search filters, and how many match in all."""
    conditions = _search_conditions(org_id, f)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(call_orders).where(*conditions))
    column = call_orders.c[f.get("sort_by") or "created_at"]
    order = column.asc() if f.get("sort_direction") == "asc" else column.desc()
    rows = await conn.execute(
        sa.select(call_orders)
        .where(*conditions)
        .order_by(order, call_orders.c.id)
        .offset(f["page"] * f["page_size"])
        .limit(f["page_size"])
    )
    return [r._asdict() for r in rows], total


LIVE_ATTEMPT = ("queued", "ringing", "ongoing")


async def get_attempt(conn: AsyncConnection, attempt_id: str) -> dict | None:
    row = (await conn.execute(sa.select(call_attempts).where(call_attempts.c.id == attempt_id))).first()
    return row._asdict() if row else None


async def get_order_by_id(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> dict | None:
    """With `lock`, the row stays locked until the transaction ends (PostgreSQL), so a cancel or
    pause committed meanwhile is not overwritten by a decision taken on a stale read."""
    query = sa.select(call_orders).where(call_orders.c.id == order_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._asdict() if row else None


async def advance_attempt(
    conn: AsyncConnection, attempt_id: str, from_statuses: tuple[str, ...], values: dict
) -> bool:
    """Move an attempt forward only from the given statuses, so replayed or late carrier events
    never move it back; True if it moved."""
    result = await conn.execute(
        sa.update(call_attempts)
        .where(call_attempts.c.id == attempt_id, call_attempts.c.status.in_(from_statuses))
        .values(**values)
    )
    return result.rowcount == 1


async def count_dialed_attempts(conn: AsyncConnection, order_id: str) -> int:
    a = call_attempts.c
    return await conn.scalar(
        sa.select(sa.func.count()).where(a.order_id == order_id, a.dial_started_at.is_not(None))
    )


async def update_order(conn: AsyncConnection, order_id: str, values: dict) -> None:
    await conn.execute(sa.update(call_orders).where(call_orders.c.id == order_id).values(**values))


async def delete_attempt(conn: AsyncConnection, attempt_id: str) -> None:
    await conn.execute(sa.delete(call_attempts).where(call_attempts.c.id == attempt_id))


async def append_transcript(conn: AsyncConnection, attempt_id: str, entries: list[dict]) -> None:
    if not entries:
        return
    start = await conn.scalar(
        sa.select(sa.func.coalesce(sa.func.max(transcript_entries.c.seq), 0)).where(
            transcript_entries.c.attempt_id == attempt_id
        )
    )
    await conn.execute(
        sa.insert(transcript_entries),
        [{"attempt_id": attempt_id, "seq": start + i + 1, **e} for i, e in enumerate(entries)],
    )


async def set_structured_output(conn: AsyncConnection, attempt_id: str, value: dict | None) -> None:
    await conn.execute(sa.update(call_attempts).where(call_attempts.c.id == attempt_id).values(structured_output=value))


async def set_recording_ref(conn: AsyncConnection, attempt_id: str, ref: str) -> None:
    """Where the attempt's recording is stored (a storage key; its URL is signed per request)."""
    await conn.execute(sa.update(call_attempts).where(call_attempts.c.id == attempt_id).values(recording_ref=ref))


async def has_live_attempt(conn: AsyncConnection, order_id: str) -> bool:
    a = call_attempts.c
    found = await conn.scalar(sa.select(a.id).where(a.order_id == order_id, a.status.in_(LIVE_ATTEMPT)).limit(1))
    return found is not None


async def start_dials(
    conn: AsyncConnection, attempt_ids: list[str], owner: str, now: datetime, lease_expires_at: datetime
) -> dict[str, str]:
    """Record, for each attempt this process still holds and whose order is still `calling`,
    that the carrier is about to dial it; returns {attempt id: order id} of those."""
    a, o = call_attempts.c, call_orders.c
    order_calling = sa.exists().where(o.id == a.order_id, o.status == "calling")
    rows = await conn.execute(
        sa.update(call_attempts)
        .where(
            a.id.in_(attempt_ids),
            a.lease_owner == owner,
            a.lease_expires_at > now,
            a.dial_started_at.is_(None),
            a.status == "queued",
            order_calling,
        )
        .values(dial_started_at=now, started_at=now, lease_expires_at=lease_expires_at)
        .returning(a.id, a.order_id)
    )
    started = {r.id: r.order_id for r in rows}
    if started:
        await conn.execute(
            sa.update(call_orders)
            .where(o.id.in_(list(started.values())))
            .values(calls_count=o.calls_count + 1, updated_at=now)
        )
    return started


async def set_carrier_call_ids(conn: AsyncConnection, ids: dict[str, str]) -> None:
    """{attempt id: the carrier's call id}, in one statement (not one per attempt)."""
    if not ids:
        return
    a = call_attempts.c
    await conn.execute(
        sa.update(call_attempts).where(a.id.in_(list(ids))).values(carrier_call_id=sa.case(ids, value=a.id))
    )
