"""SQL for phone numbers: one function per statement."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.phone_numbers.tables import phone_numbers

p = phone_numbers.c


async def insert_number(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(phone_numbers).values(**values))


async def list_numbers(conn: AsyncConnection, org_id: str) -> list[dict]:
    """The organization's numbers, oldest first: the first is its default caller id."""
    rows = await conn.execute(
        sa.select(phone_numbers).where(p.organization_id == org_id).order_by(p.created_at, p.id)
    )
    return [r._asdict() for r in rows]


async def get_number(conn: AsyncConnection, org_id: str, number_id: str) -> dict | None:
    """The number if it belongs to `org_id` (another organization's id reads as absent)."""
    if "\x00" in number_id:  # no stored id has one; PostgreSQL refuses NUL in text
        return None
    row = (await conn.execute(sa.select(phone_numbers).where(p.id == number_id, p.organization_id == org_id))).first()
    return row._asdict() if row else None


async def find_by_phone_number(conn: AsyncConnection, e164: str) -> dict | None:
    """Whoever owns this number, in any organization (an inbound call names only the number)."""
    row = (await conn.execute(sa.select(phone_numbers).where(p.phone_number == e164))).first()
    return row._asdict() if row else None


async def update_number(conn: AsyncConnection, number_id: str, values: dict) -> None:
    await conn.execute(sa.update(phone_numbers).where(p.id == number_id).values(**values))


async def delete_number(conn: AsyncConnection, number_id: str) -> None:
    await conn.execute(sa.delete(phone_numbers).where(p.id == number_id))
