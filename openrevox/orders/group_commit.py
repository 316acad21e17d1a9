"""Group commit of new call orders: creates that arrive while a transaction is committing are
placed together in the next one (their reads shared, one INSERT of all rows, one COMMIT).

There is no timer: a batch is whatever queued while the previous one was being written, so a
lone create is written at once and, under load, the commit that was the serial bottleneck (and
on PostgreSQL the round trips) is paid once per batch instead of once per order. Each create is
answered only after the transaction that stored it has committed. A create refused on its own
merits (unknown assistant, missing variable, caller id) fails alone; if the transaction fails,
each order of the batch is written again in a transaction of its own, so one bad order never
fails the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.db.types import utcnow
from openrevox.errors import OpenRevoxError
from openrevox.orders import service
from openrevox.schemas.calls import CallCreateIn, render_call


@dataclass
class _Create:
    org_id: str
    body: CallCreateIn
    default_from_number: str
    now: datetime
    answer: asyncio.Future


def _settle(create: _Create, outcome: dict | BaseException) -> None:
    if create.answer.done():  # its request was cancelled; the order is stored all the same
        return
    if isinstance(outcome, BaseException):
        create.answer.set_exception(outcome)
    else:
        create.answer.set_result(outcome)


class GroupCommit:
    """Places call orders without an idempotency key (those take `service.create`'s savepoint)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._queued: list[_Create] = []
        self._writer: asyncio.Task | None = None

    async def create(
        self, org_id: str, body: CallCreateIn, *, default_from_number: str, now: datetime | None = None
    ) -> dict:
        """The new order's wire shape, once it is committed."""
        answer = asyncio.get_running_loop().create_future()
        self._queued.append(_Create(org_id, body, default_from_number, now or utcnow(), answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())
        return await answer

    async def _write_queued(self) -> None:
        batch: list[_Create] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._write(batch)
            batch = []
        finally:
            self._writer = None
            for create in batch + self._queued:  # only when cancelled (the loop is closing)
                create.answer.cancel()

    async def _write(self, batch: list[_Create]) -> None:
        try:
            outcomes = await self._transaction(batch)
        except Exception as error:  # noqa: BLE001 - handed to the requests that wait for it
            if len(batch) == 1:
                _settle(batch[0], error)
                return
            for create in batch:  # which order failed it? each one alone says
                await self._write([create])
            return
        for create, outcome in zip(batch, outcomes, strict=True):
            _settle(create, outcome if isinstance(outcome, OpenRevoxError) else render_call(outcome, []))

    async def _transaction(self, batch: list[_Create]) -> list[dict | OpenRevoxError]:
        outcomes: list[dict | OpenRevoxError] = []
        async with self.engine.begin() as conn:
            reads = service.CreateReads(conn)
            for c in batch:
                try:
                    values = await service.order_values(reads, c.org_id, c.body, c.default_from_number, None, c.now)
                    outcomes.append(values)
                except OpenRevoxError as refused:
                    outcomes.append(refused)
            await service.store_orders(conn, [o for o in outcomes if not isinstance(o, OpenRevoxError)])
        return outcomes
