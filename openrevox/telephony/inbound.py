"""Where an inbound call runs: the process its webhook reached if that one has room, else another
registered process with room (`scheduling.hosts`), whose media address the carrier is told to
stream to; with room nowhere, the call is recorded and refused as busy.

A process without `OPENREVOX_MAX_LIVE_CALLS` always has room, so without caps every inbound call
runs where its webhook arrived, as before there were several processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.db.engine import read_only
from openrevox.phone_numbers import service as phone_numbers
from openrevox.scheduling import hosts
from openrevox.telephony.live import LiveCalls


@dataclass(frozen=True)
class Placed:
    attempt_id: str
    media_url: str | None  # where the carrier streams the call; None: refuse it as busy


async def place(
    engine: AsyncEngine,
    live: LiveCalls,
    own_media_url: str,
    own_max_live_calls: int | None,
    to_number: str,
    from_number: str,
    call_id: str,
) -> Placed | None:
    """The carrier's call `call_id` to our number `to_number` as an inbound order placed on a
    process, or None when nobody answers that number. A webhook sent again gets the first answer.
    `own_...`: the asking process's media address and cap."""
    now = live.clock()
    async with read_only(engine).connect() as conn:
        number = await phone_numbers.answering_number(conn, to_number)
        if number is None:
            return None
        if (seen := await phone_numbers.inbound_attempt(conn, number, call_id)) is not None:
            if seen["dial_error"] == "too_many_calls":
                return Placed(seen["id"], None)
            return Placed(seen["id"], await hosts.media_url_of(conn, seen["lease_owner"]) or own_media_url)
        registered = await hosts.live_hosts(conn, now)
    if registered:
        candidates = hosts.by_preference(registered, live.worker)
    else:  # nobody registered yet (this process is starting): it takes the call if its cap allows
        candidates = [hosts.Host(live.worker, own_media_url, own_max_live_calls, 0)]
    lease = live.lease.total_seconds()
    for host in candidates:
        async with engine.begin() as conn:
            if host.max_live_calls is not None and await hosts.room(conn, host.worker, host.max_live_calls) < 1:
                continue  # it filled up since it was counted
            attempt_id = await phone_numbers.start_inbound(conn, number, from_number, call_id, now, host.worker, lease)
            return Placed(attempt_id, host.media_url)
    async with engine.begin() as conn:
        attempt_id = await phone_numbers.start_inbound(conn, number, from_number, call_id, now, None, lease)
    return Placed(attempt_id, None)
