"""SQL for organizations, users and API keys: one function per statement."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.orgs.tables import api_keys, organizations, users


async def find_organization_by_name(conn: AsyncConnection, name: str) -> dict | None:
    row = (await conn.execute(sa.select(organizations).where(organizations.c.name == name))).first()
    return row._asdict() if row else None


async def insert_organization(conn: AsyncConnection, org_id: str, name: str, now: datetime) -> None:
    await conn.execute(sa.insert(organizations).values(id=org_id, name=name, created_at=now))


async def insert_user(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(users).values(**values))


async def first_user_of(conn: AsyncConnection, org_id: str) -> dict | None:
    row = (
        await conn.execute(
            sa.select(users).where(users.c.organization_id == org_id).order_by(users.c.created_at).limit(1)
        )
    ).first()
    return row._asdict() if row else None


async def get_user(conn: AsyncConnection, user_id: str) -> dict | None:
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
    return row._asdict() if row else None


async def update_user(conn: AsyncConnection, user_id: str, values: dict) -> None:
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))


async def insert_api_key(conn: AsyncConnection, values: dict) -> None:
    await conn.execute(sa.insert(api_keys).values(**values))


_KEY_ID = sa.select(api_keys.c.id).where(api_keys.c.key_hash == sa.bindparam("key_hash"))
_KEY_PRINCIPAL = sa.select(api_keys.c.organization_id, api_keys.c.user_id).where(
    api_keys.c.key_hash == sa.bindparam("key_hash")
)


async def key_exists(conn: AsyncConnection, key_hash: str) -> bool:
    found = await conn.scalar(_KEY_ID, {"key_hash": key_hash})
    return found is not None


async def count_keys(conn: AsyncConnection) -> int:
    return await conn.scalar(sa.select(sa.func.count()).select_from(api_keys))


async def principal_for_key(conn: AsyncConnection, key_hash: str) -> tuple[str, str | None] | None:
    """(organization_id, user_id) owning the key, or None."""
    row = (await conn.execute(_KEY_PRINCIPAL, {"key_hash": key_hash})).first()
    return (row.organization_id, row.user_id) if row else None
