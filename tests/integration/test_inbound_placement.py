"""Inbound calls placed on a process with room, through the real database and dispatchers on a
fixed clock: the process the webhook reached keeps the call if it has room, else the registered
process with the most room gets it, and with room nowhere the call is recorded and refused; a
dispatcher counts the inbound calls placed on it against its cap, and registers while it runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from openrevox.assistants import service as assistants
from openrevox.orders import service as orders
from openrevox.orgs.service import ensure_organization
from openrevox.phone_numbers import service as phone_numbers
from openrevox.scheduling import hosts
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.scheduling.tables import media_hosts
from openrevox.schemas.assistants import AssistantCreateIn
from openrevox.telephony import inbound
from openrevox.telephony.events import DatabaseCallEvents
from openrevox.telephony.live import LiveCalls
from stories import Clock, ScriptedCarrier, hang_up, place_many, tick_at

OUR_NUMBER = "+14155550100"
LEASE = timedelta(seconds=30)


async def answer_our_number(engine) -> None:
    async with engine.begin() as conn:
        org_id = await ensure_organization(conn, "stories")
        assistant = await assistants.create(conn, org_id, AssistantCreateIn(name="Reception", prompt="Answer"))
        await phone_numbers.add(conn, org_id, OUR_NUMBER, "twilio", inbound_assistant_id=assistant["id"])


def process(engine, clock: Clock, name: str, max_live_calls: int | None) -> Dispatcher:
    """An `openrevox serve` process's dispatcher, whose media sockets are at http://`name`."""
    return Dispatcher(engine, ScriptedCarrier(), org_limit=20, lease_seconds=LEASE.total_seconds(), interval=0.01,
                      batch=50, max_live_calls=max_live_calls, media_url=f"ws://{name}", worker=name, clock=clock)  # fmt: skip


async def registered(engine, clock: Clock, cap_a: int | None, cap_b: int | None) -> tuple[Dispatcher, ...]:
    """Our number answered, and two processes, "a" and "b", registered as media hosts."""
    await answer_our_number(engine)
    a, b = process(engine, clock, "a", max_live_calls=cap_a), process(engine, clock, "b", max_live_calls=cap_b)
    for p in (a, b):
        await p.renew_leases()  # registers it
    return a, b


async def ring(engine, clock: Clock, webhook_reached: Dispatcher, call_id: str) -> inbound.Placed | None:
    """The carrier's webhook for the call `call_id` to our number reaches `webhook_reached`."""
    live = LiveCalls(engine, DatabaseCallEvents(engine), webhook_reached.worker, LEASE.total_seconds(), clock)
    own = webhook_reached.media_url, webhook_reached.max_live_calls
    return await inbound.place(engine, live, *own, OUR_NUMBER, "+33612345678", call_id)


async def order_of(engine, attempt_id: str) -> dict:
    async with engine.connect() as conn:
        attempt = await orders.store.get_attempt(conn, attempt_id)
        return await orders.render(conn, await orders.store.get_order_by_id(conn, attempt["order_id"]))


def test_an_inbound_call_goes_where_there_is_room_and_is_refused_when_there_is_none(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, 1, 2)

        placed = [await ring(engine, clock, a, f"CA{n}") for n in range(4)]
        # a keeps the first (no other process needed); full, it sends the next two to b; then none has room.
        assert [p.media_url for p in placed] == ["ws://a", "ws://b", "ws://b", None]
        refused = await order_of(engine, placed[3].attempt_id)
        assert refused["direction"] == "inbound" and refused["status"] == "completed"
        (attempt,) = refused["call_attempts"]
        assert (attempt["status"], attempt["dial_error"], attempt["ended_by"]) == ("error", "too_many_calls", "system")
        assert attempt["answered_at"] is None and attempt["result"] is None
        # The carrier sends a webhook again: the same answer, no second order.
        assert await ring(engine, clock, b, "CA1") == placed[1]
        assert await ring(engine, clock, a, "CA3") == placed[3]
        # A call ends on b: b has room again.
        await hang_up(DatabaseCallEvents(engine), placed[1].attempt_id, clock.now)
        assert (await ring(engine, clock, a, "CA4")).media_url == "ws://b"
        # A number nobody answers is not ours to place.
        live = LiveCalls(engine, DatabaseCallEvents(engine), "a", LEASE.total_seconds(), clock)
        assert await inbound.place(engine, live, "ws://a", 1, "+14155550111", "+33612345678", "CA5") is None

    run(story)


def test_an_uncapped_process_keeps_every_call_its_webhook_brings(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, None, None)
        assert [(await ring(engine, clock, a, f"CA{n}")).media_url for n in range(5)] == ["ws://a"] * 5
        # Before any process has registered (one starting), the one the webhook reached takes the call.
        async with engine.begin() as conn:
            await conn.execute(sa.delete(media_hosts))
        assert (await ring(engine, clock, b, "CA9")).media_url == "ws://b"

    run(story)


def test_a_process_capped_at_zero_keeps_no_call(run):
    async def story(engine):
        clock = Clock()
        api, _ = await registered(engine, clock, 0, 1)  # an API process beside a worker
        assert (await ring(engine, clock, api, "CA0")).media_url == "ws://b"
        # Even before any process has registered, it refuses the call rather than keep it.
        async with engine.begin() as conn:
            await conn.execute(sa.delete(media_hosts))
        assert (await ring(engine, clock, api, "CA1")).media_url is None

    run(story)


def test_a_draining_process_dials_nothing_more_and_gets_no_inbound_call(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, None, None)
        kept = await ring(engine, clock, a, "CA0")
        assert kept.media_url == "ws://a" and await a.holds_calls()  # its media socket has yet to come
        await a.drain()  # told to stop (openrevox/draining.py)
        async with engine.connect() as conn:
            assert {h.worker: h.max_live_calls for h in await hosts.live_hosts(conn, clock.now)} == {"a": 0, "b": None}
        assert (await ring(engine, clock, a, "CA1")).media_url == "ws://b"  # its webhook still answers
        await place_many(engine, clock.now, 3)
        assert await tick_at(a, clock, clock.now) == 0
        assert await tick_at(b, clock, clock.now) == 3
        b.stop()
        await b.run()  # b stops too: nobody has room
        assert (await ring(engine, clock, a, "CA2")).media_url is None
        await hang_up(DatabaseCallEvents(engine), kept.attempt_id, clock.now)
        assert not await a.holds_calls()  # a's drain is over

    run(story)


def test_a_process_that_stopped_renewing_is_not_chosen(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, 1, 5)
        assert (await ring(engine, clock, a, "CA0")).media_url == "ws://a"
        clock.now += LEASE + timedelta(seconds=1)  # b died: its registration expired; a renews
        await a.renew_leases()
        assert (await ring(engine, clock, a, "CA1")).media_url is None
        # A process that stops cleanly leaves at once.
        await b.renew_leases()
        b.stop()
        await b.run()
        async with engine.connect() as conn:
            assert [host.worker for host in await hosts.live_hosts(conn, clock.now)] == ["a"]

    run(story)


def test_a_dispatcher_counts_the_inbound_calls_placed_on_it(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, 3, 3)
        await place_many(engine, clock.now, 5)
        # Inbound calls reach b: it keeps three (its cap), the fourth goes to a.
        assert [(await ring(engine, clock, b, f"CA{n}")).media_url for n in range(4)] == ["ws://b"] * 3 + ["ws://a"]
        assert await tick_at(b, clock, clock.now) == 0
        assert await tick_at(a, clock, clock.now) == 2
        assert (await ring(engine, clock, a, "CA9")).media_url is None

    run(story)


def test_inbound_calls_arriving_together_never_overfill_a_process(run):
    async def story(engine):
        clock = Clock()
        a, b = await registered(engine, clock, 3, 3)
        placed = await asyncio.gather(*(ring(engine, clock, (a, b)[n % 2], f"CA{n}") for n in range(10)))
        assert sorted(str(p.media_url) for p in placed) == ["None"] * 4 + ["ws://a"] * 3 + ["ws://b"] * 3
        async with engine.connect() as conn:
            assert sorted((host.worker, host.held) for host in await hosts.live_hosts(conn, clock.now)) == [("a", 3), ("b", 3)]

    run(story)
