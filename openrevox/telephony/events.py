"""CallEvents written to the database: each event one transaction through the attempt state machine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.orders import attempts


class DatabaseCallEvents:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def ringing(self, attempt_id: str, at: datetime) -> None:
        async with self.engine.begin() as conn:
            await attempts.ringing(conn, attempt_id, at)

    async def answered(self, attempt_id: str, at: datetime, result: str) -> None:
        async with self.engine.begin() as conn:
            await attempts.answered(conn, attempt_id, at, result)

    async def ended(self, attempt_id: str, at: datetime, ended_by: str, end_reason: str | None) -> None:
        async with self.engine.begin() as conn:
            await attempts.ended(conn, attempt_id, at, ended_by, end_reason)

    async def failed(self, attempt_id: str, at: datetime, dial_error: str) -> None:
        async with self.engine.begin() as conn:
            await attempts.failed(conn, attempt_id, at, dial_error)
