"""SQL for assistants and their FAQ items: one function per statement."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.assistants.tables import assistants, faq_items
from openrevox.db.types import group_rows


async def insert_assistant(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(assistants).values(**values))


async def get_assistant(conn: AsyncConnection, org_id: str, assistant_id: str) -> dict | None:
    """The assistant if it belongs to `org_id` (another organization's id reads as absent)."""
    if "\x00" in assistant_id:  # no stored id has one; PostgreSQL refuses NUL in text
        return None
    row = (
        await conn.execute(
            sa.select(assistants).where(
                assistants.c.id == assistant_id, assistants.c.organization_id == org_id
            )
        )
    ).first()
    return row._asdict() if row else None


async def list_assistants(conn: AsyncConnection, org_id: str) -> list[dict]:
    rows = await conn.execute(
        sa.select(assistants)
        .where(assistants.c.organization_id == org_id)
        .order_by(assistants.c.created_at.desc(), assistants.c.id)
    )
    return [r._asdict() for r in rows]


async def update_assistant(conn: AsyncConnection, assistant_id: str, values: dict) -> None:
    await conn.execute(sa.update(assistants).where(assistants.c.id == assistant_id).values(**values))


async def delete_assistant(conn: AsyncConnection, assistant_id: str) -> None:
    await conn.execute(sa.delete(assistants).where(assistants.c.id == assistant_id))


async def faq_items_of(conn: AsyncConnection, assistant_ids: list[str]) -> dict[str, list[dict]]:
    """FAQ items per assistant id, in their given order."""
    if not assistant_ids:
        return {}
    rows = await conn.execute(
        sa.select(faq_items)
        .where(faq_items.c.assistant_id.in_(assistant_ids))
        .order_by(faq_items.c.assistant_id, faq_items.c.position)
    )
    return group_rows(assistant_ids, rows, "assistant_id")


async def replace_faq_items(conn: AsyncConnection, assistant_id: str, items: list[dict]) -> None:
    await conn.execute(sa.delete(faq_items).where(faq_items.c.assistant_id == assistant_id))
    if items:
        await conn.execute(sa.insert(faq_items), [{"assistant_id": assistant_id, **i} for i in items])
