"""Multi-day call-order stories driven through the real dispatcher and database with a fixed
clock: `Dispatcher.tick()` on a set clock claims and dials, a scripted carrier reports what the callee did at
chosen instants, so three days of retries run in milliseconds."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from openrevox.orders.tables import call_attempts
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.telephony import store as telephony_store
from openrevox.telephony.base import DialRequest
from openrevox.telephony.events import DatabaseCallEvents
from openrevox.telephony.live import LiveCalls, LiveCarrier
from stories import Clock, ScriptedCarrier, capped, dispatcher, hang_up, order_state, place, place_many, tick_at, utc


def test_paris_voicemail_is_retried_inside_windows_over_three_days(run):
    # Paris, default windows (10:00-18:00 local, 2 h delay, 3 retries), placed Friday 19:00 Paris.
    async def story(engine):
        carrier, events = ScriptedCarrier(), DatabaseCallEvents(engine)
        clock = Clock()
        d = dispatcher(engine, carrier, clock)
        order_id = await place(engine, utc("2026-11-27T18:00"), phone_number="+33142685300",
                               assistant={"prompt": "Hello"})  # fmt: skip
        assert (await order_state(engine, order_id))["status"] == "scheduled"
        assert await tick_at(d, clock, utc("2026-11-28T08:59")) == 0  # Saturday 09:59 Paris: not yet

        dial_times = []
        # Each attempt reaches voicemail and ends one minute after it was dialed.
        for now in (utc("2026-11-28T09:00"), utc("2026-11-28T11:01"), utc("2026-11-28T13:02"), utc("2026-11-28T15:03")):
            assert await tick_at(d, clock, now - timedelta(seconds=1)) == 0
            assert await tick_at(d, clock, now) == 1
            dial_times.append(now)
            attempt_id = carrier.dials[-1].attempt_id
            await events.answered(attempt_id, now, "voicemail")
            await events.ended(attempt_id, now + timedelta(minutes=1), "agent", "voicemail")
        call = await order_state(engine, order_id)
        assert call["status"] == "completed"  # 1 + 3 retries, none reached a human
        assert call["calls_count"] == 4
        assert [a["result"] for a in call["call_attempts"]] == ["voicemail"] * 4
        assert [r.attempt_number for r in carrier.dials] == [1, 2, 3, 4]

    run(story)


def test_retry_that_falls_after_the_window_moves_to_next_morning(run):
    # New York, one window 9am-5pm with a 1 h delay: a busy at 16:30 retries at 9:00 next day.
    async def story(engine):
        carrier = ScriptedCarrier(dial_errors={1: "busy"})
        clock = Clock()
        d = dispatcher(engine, carrier, clock)
        config = {"calling_windows": [{"calling_window_start_time": "9am", "calling_window_end_time": "5pm",
                                       "retry_delay_seconds": 3600}], "max_retry_attempts": 1}  # fmt: skip
        order_id = await place(engine, utc("2026-11-25T21:30"), phone_number="+12125550123",
                               assistant={"prompt": "Hi", "call_retry_config": config})  # fmt: skip
        assert await tick_at(d, clock, utc("2026-11-25T21:30")) == 1  # 16:30 New York
        call = await order_state(engine, order_id)
        assert call["status"] == "scheduled"
        assert call["call_attempts"][0]["dial_error"] == "busy"
        assert await tick_at(d, clock, utc("2026-11-26T13:59")) == 0  # 08:59 New York
        assert await tick_at(d, clock, utc("2026-11-26T14:00")) == 1  # 09:00 New York
        await DatabaseCallEvents(engine).answered(carrier.dials[-1].attempt_id, utc("2026-11-26T14:00"), "human")
        await DatabaseCallEvents(engine).ended(carrier.dials[-1].attempt_id, utc("2026-11-26T14:05"), "user", None)
        assert (await order_state(engine, order_id))["status"] == "completed"

    run(story)


def test_concurrency_key_holds_orders_until_a_slot_frees(run):
    async def story(engine):
        carrier, events = ScriptedCarrier(), DatabaseCallEvents(engine)
        clock = Clock()
        d = dispatcher(engine, carrier, clock)
        now = utc("2026-11-25T15:00")
        ids = [
            await place(engine, now, phone_number="+12125550123", force_now=True,
                        assistant={"prompt": "Hi"}, concurrency={"key": "team", "max": 2})  # fmt: skip
            for _ in range(5)
        ]
        assert await tick_at(d, clock, now) == 2
        states = [(await order_state(engine, i))["status"] for i in ids]
        assert sorted(states) == ["calling", "calling", "queued_for_calling", "queued_for_calling", "queued_for_calling"]
        assert await tick_at(d, clock, now) == 0  # still full
        first = carrier.dials[0].attempt_id
        await events.answered(first, now, "human")
        await events.ended(first, now + timedelta(seconds=30), "user", None)
        assert await tick_at(d, clock, now + timedelta(seconds=31)) == 1  # the freed slot is used at once

    run(story)


def test_lost_process_attempts_are_recovered_without_dialing_twice(run):
    async def story(engine):
        now = utc("2026-11-25T15:00")
        clock = Clock()
        clock.now = now
        crashed = dispatcher(engine, ScriptedCarrier(), clock, lease_seconds=5)
        never_dialed = await place(engine, now, phone_number="+12125550123", force_now=True, assistant={"prompt": "x"})
        # The "crashed" process claims the order but dies before dialing: only its claim exists.
        [claimed] = await crashed._claim(now, limit=1)
        assert claimed.order["id"] == never_dialed

        survivor_carrier = ScriptedCarrier()
        survivor = dispatcher(engine, survivor_carrier, clock, lease_seconds=5)
        assert await tick_at(survivor, clock, now + timedelta(seconds=4)) == 0  # lease still held
        assert await tick_at(survivor, clock, now + timedelta(seconds=6)) == 1  # expired: the survivor dials it
        assert [r.attempt_id for r in survivor_carrier.dials] == [claimed.attempt["id"]]

        # Now the survivor dies mid-call: after its lease expires the attempt is closed, not redialed.
        third = dispatcher(engine, ScriptedCarrier(), clock, lease_seconds=5)
        assert await tick_at(third, clock, now + timedelta(seconds=20)) == 0
        call = await order_state(engine, never_dialed)
        assert call["call_attempts"][0]["status"] == "error"
        assert call["call_attempts"][0]["dial_error"] == "non_classified_error"
        assert call["status"] in ("scheduled", "queued_for_calling")  # retried by policy

    run(story)


def test_the_carriers_call_ids_are_stored_with_their_attempts(run):
    """Written beside the next pass, not before it; another process finds a call by them."""

    async def story(engine):
        clock, carrier = Clock(), ScriptedCarrier()
        d = dispatcher(engine, carrier, clock)
        ids = [await place(engine, clock.now, phone_number=f"+3314407{i:04d}", force_now=True, assistant={"prompt": "Hi"}) for i in range(3)]
        assert await tick_at(d, clock, clock.now) == 3
        await d.flush()
        async with engine.connect() as conn:
            stored = dict((await conn.execute(sa.select(call_attempts.c.order_id, call_attempts.c.carrier_call_id))).all())
        by_order = {request.order_id: f"call-{n}" for n, request in enumerate(carrier.dials, start=1)}
        assert stored == by_order and set(stored) == set(ids)

    run(story)




def test_a_process_holds_no_more_live_calls_than_its_cap(run):
    async def story(engine):
        clock, carrier, events = Clock(), ScriptedCarrier(), DatabaseCallEvents(engine)
        d = capped(engine, carrier, clock, max_live_calls=2)
        await place_many(engine, clock.now, 5)
        assert await tick_at(d, clock, clock.now) == 2
        assert await tick_at(d, clock, clock.now + timedelta(seconds=1)) == 0  # both still live
        await hang_up(events, carrier.dials[0].attempt_id, clock.now)
        assert await tick_at(d, clock, clock.now + timedelta(seconds=1)) == 1  # the freed place is used
        assert await tick_at(d, clock, clock.now + timedelta(seconds=1)) == 0
        # A call that fails to connect frees its place too.
        await events.failed(carrier.dials[1].attempt_id, clock.now, "busy")
        assert await tick_at(d, clock, clock.now + timedelta(seconds=1)) == 1
        assert len(carrier.dials) == 4

    run(story)


def test_capped_processes_share_the_due_orders_each_within_its_cap(run):
    async def story(engine):
        clock, events = Clock(), DatabaseCallEvents(engine)
        first, second = ScriptedCarrier(), ScriptedCarrier()
        a, b = capped(engine, first, clock, max_live_calls=2), capped(engine, second, clock, max_live_calls=3)
        await place_many(engine, clock.now, 10)
        assert await tick_at(a, clock, clock.now) == 2
        assert await tick_at(b, clock, clock.now) == 3
        assert await tick_at(a, clock, clock.now) == 0
        assert await tick_at(b, clock, clock.now) == 0
        await hang_up(events, first.dials[0].attempt_id, clock.now)
        assert await tick_at(b, clock, clock.now + timedelta(seconds=1)) == 0  # a's place, not b's
        assert await tick_at(a, clock, clock.now + timedelta(seconds=1)) == 1

    run(story)


def test_a_call_whose_media_another_process_took_counts_for_that_process(run):
    """Without a media address of its own per process, a call's socket may land on another
    process, which takes the attempt's lease (as `LiveCalls.hold` does): the call is then that
    process's, and the one that dialed it has room again."""

    async def story(engine):
        clock = Clock()
        dialer_carrier = ScriptedCarrier()
        dialer = capped(engine, dialer_carrier, clock, max_live_calls=1)
        other = capped(engine, ScriptedCarrier(), clock, max_live_calls=1)
        await place_many(engine, clock.now, 3)
        assert await tick_at(dialer, clock, clock.now) == 1
        assert await tick_at(dialer, clock, clock.now) == 0
        async with engine.begin() as conn:
            assert await telephony_store.hold_lease(
                conn, dialer_carrier.dials[0].attempt_id, other.worker, clock.now + timedelta(hours=1)
            )
        assert await tick_at(other, clock, clock.now) == 0  # it holds the call it took
        assert await tick_at(dialer, clock, clock.now) == 1

    run(story)


def test_lost_attempts_are_taken_over_only_within_the_cap(run):
    async def story(engine):
        clock, events = Clock(), DatabaseCallEvents(engine)
        crashed = capped(engine, ScriptedCarrier(), clock, max_live_calls=5, lease_seconds=5)
        await place_many(engine, clock.now, 3)
        assert len(await crashed._claim(clock.now, limit=3)) == 3  # claimed, never dialed: it died
        survivor_carrier = ScriptedCarrier()
        survivor = capped(engine, survivor_carrier, clock, max_live_calls=2, lease_seconds=5)
        start = clock.now
        assert await tick_at(survivor, clock, start + timedelta(seconds=6)) == 2
        assert await tick_at(survivor, clock, start + timedelta(seconds=8)) == 0  # full: the third waits
        await hang_up(events, survivor_carrier.dials[0].attempt_id, clock.now)
        assert await tick_at(survivor, clock, start + timedelta(seconds=10)) == 1
        assert len({r.attempt_id for r in survivor_carrier.dials}) == 3  # each dialed once

    run(story)


class FollowingCarrier(LiveCarrier):
    """A real carrier's bookkeeping (`LiveCarrier`: the calls it follows by attempt), dialing nowhere."""

    name = "following"

    async def dial(self, request: DialRequest) -> str:
        self.live.ids[request.attempt_id] = call_id = f"call-{len(self.live.ids) + 1}"
        return call_id

    async def hang_up_at_carrier(self, call_id: str, status: str) -> None:
        pass

    async def transfer_at_carrier(self, call_id: str, to_phone_number: str) -> None:
        pass

    async def close(self) -> None:
        pass


def test_a_process_stops_following_calls_it_no_longer_holds(run):
    """With several processes, a call's news and its media socket may reach another process than
    the one that dialed it: the dialer's heartbeat drops such calls, which would otherwise stay in
    its live calls (and in every heartbeat's and cancellation check's query) for good."""

    async def story(engine):
        clock, events = Clock(), DatabaseCallEvents(engine)
        carrier = FollowingCarrier(LiveCalls(engine, events, "dialer", 3600), "https://calls.example.com")
        d = Dispatcher(engine, carrier, org_limit=20, lease_seconds=3600, interval=0.01, batch=50,
                       worker="dialer", clock=clock)  # fmt: skip
        await place_many(engine, clock.now, 3)
        assert await tick_at(d, clock, clock.now) == 3
        ended_elsewhere, taken, still_mine = sorted(carrier.live_calls())
        await events.failed(ended_elsewhere, clock.now, "busy")  # the callback reached another process
        async with engine.begin() as conn:  # the media socket reached another process
            assert await telephony_store.hold_lease(conn, taken, "other", clock.now + timedelta(hours=1))
        await d.renew_leases()
        assert carrier.live_calls() == {still_mine}

    run(story)
