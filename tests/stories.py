"""What the dispatcher stories share: a scripted carrier, a fixed clock, orders placed through the
order service, and dispatchers ticked at chosen instants."""

from __future__ import annotations

from datetime import UTC, datetime

from openrevox.orders import service as orders
from openrevox.orgs.service import ensure_organization
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.schemas.calls import CallCreateIn
from openrevox.telephony.base import DialFailed, DialRequest
from openrevox.telephony.events import DatabaseCallEvents


class ScriptedCarrier:
    """Accepts every dial (or fails it with a scripted dial_error) and remembers it."""

    name = "scripted"

    def __init__(self, dial_errors: dict[int, str] | None = None) -> None:
        self.dials: list[DialRequest] = []
        self.dial_errors = dial_errors or {}

    async def dial(self, request: DialRequest) -> str:
        self.dials.append(request)
        if request.attempt_number in self.dial_errors:
            raise DialFailed(self.dial_errors[request.attempt_number])
        return f"call-{len(self.dials)}"

    async def hang_up(self, attempt_id: str, ended_by: str = "system", end_reason: str | None = None) -> None:
        pass

    def live_calls(self) -> set[str]:
        return set()

    def forget(self, attempt_ids: set[str]) -> None:
        pass

    async def close(self) -> None:
        pass


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def place(engine, now: datetime, **body) -> str:
    async with engine.begin() as conn:
        org_id = await ensure_organization(conn, "stories")
        call = await orders.create(
            conn, org_id, CallCreateIn(**body), default_from_number="+12025550199", idempotency_key=None, now=now
        )
    return call["id"]


async def order_state(engine, order_id: str) -> dict:
    async with engine.begin() as conn:
        order = await orders.store.get_order_by_id(conn, order_id)
        return await orders.render(conn, order)


class Clock:
    """The stories' clock: set it, then tick."""

    def __init__(self) -> None:
        self.now = utc("2026-01-01T00:00")

    def __call__(self) -> datetime:
        return self.now


def dispatcher(engine, carrier, clock: Clock, lease_seconds: float = 3600) -> Dispatcher:
    return Dispatcher(engine, carrier, org_limit=20, lease_seconds=lease_seconds, interval=0.01, batch=50, clock=clock)


async def tick_at(d: Dispatcher, clock: Clock, now: datetime) -> int:
    clock.now = now
    return await d.tick()


def capped(engine, carrier, clock: Clock, max_live_calls: int, lease_seconds: float = 3600) -> Dispatcher:
    return Dispatcher(engine, carrier, org_limit=20, lease_seconds=lease_seconds, interval=0.01, batch=50,
                      max_live_calls=max_live_calls, clock=clock)  # fmt: skip


async def place_many(engine, now: datetime, count: int) -> list[str]:
    return [
        await place(engine, now, phone_number=f"+3314407{i:04d}", force_now=True, assistant={"prompt": "Hi"})
        for i in range(count)
    ]


async def hang_up(events: DatabaseCallEvents, attempt_id: str, now: datetime) -> None:
    await events.answered(attempt_id, now, "human")
    await events.ended(attempt_id, now, "user", None)
