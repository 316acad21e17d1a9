"""What Twilio and Telnyx carriers share: the calls this process runs, and how a media socket
starts and ends a conversation.

A call is run by the process that dialed it until its media socket opens, then by the process
that holds the socket (it takes the attempt's lease). When the conversation is over, the agent
says how it ended (or transfers the call). If the carrier said `stop`, the call is over; if not,
the line may still be up and is hung up: the agent ended the call, or the socket dropped (then
the system ended it, whatever the agent thought). Either way the attempt ends, through the
forward-only state machine, so whichever of the agent, the carrier's webhook or this ends it
first is the one recorded.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.telephony import store
from openrevox.telephony.base import CallEvents


def utc_now() -> datetime:
    return datetime.now(UTC)


class MediaSerializer(Protocol):
    stopped: bool  # the carrier said `stop`: the call itself ended


class NotesStop:
    """Mixed into a carrier's Pipecat serializer: notes whether the carrier said `stop`."""

    stopped = False

    async def deserialize(self, data: str | bytes):  # noqa: ANN201
        try:
            self.stopped = self.stopped or json.loads(data).get("event") == "stop"
        except (ValueError, AttributeError):
            pass  # the serializer itself says what is wrong with it
        return await super().deserialize(data)


class Ended(Protocol):
    """How the agent says the conversation ended (openrevox.agent's Outcome)."""

    ended_by: str
    end_reason: str | None
    transfer_to: str | None


class Agent(Protocol):
    async def converse_over_media(self, attempt_id: str, websocket, serializer) -> Ended | None: ...  # noqa: ANN001


class LiveCalls:
    def __init__(
        self,
        engine: AsyncEngine,
        events: CallEvents,
        worker: str,
        lease_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.events = events
        self.worker = worker
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        # Attempt id -> the carrier's call id, for the calls this process runs.
        self.ids: dict[str, str] = {}

    async def live_call(self, attempt_id: str) -> tuple[str, str | None] | None:
        """(attempt status, carrier call id) while the attempt is live, else None. The id is known
        here from the dial before the dispatcher writes it."""
        async with self.engine.connect() as conn:
            row = await store.live_call(conn, attempt_id)
        if row is None:
            return None
        return row["status"], self.ids.get(attempt_id) or row["carrier_call_id"]

    async def hold(self, attempt_id: str, call_id: str) -> bool:
        async with self.engine.begin() as conn:
            held = await store.hold_lease(conn, attempt_id, self.worker, self.clock() + self.lease)
        if held:
            self.ids[attempt_id] = call_id
        return held


class LiveCarrier(ABC):
    """A carrier whose calls this process runs through `live`: the attempt's end is recorded first
    (the carrier's news of the hang-up that follows then changes nothing), then the carrier is
    asked to act on its call id."""

    def __init__(self, live: LiveCalls, public_url: str, media_url: str | None = None) -> None:
        self.live = live
        self.events: CallEvents = live.events
        self.public_url = public_url.rstrip("/")  # where the carrier reaches our webhooks
        # Where it reaches this process's media websockets: a call's audio comes to the process that
        # dialed it when each process has an address of its own (`OPENREVOX_MEDIA_URL`).
        media = (media_url or public_url).rstrip("/")
        self.media_url = "ws" + media.removeprefix("http") if media.startswith("http") else media

    @abstractmethod
    async def hang_up_at_carrier(self, call_id: str, status: str) -> None:
        """Hang up the carrier's call, whose attempt had `status` (ringing or ongoing)."""

    @abstractmethod
    async def transfer_at_carrier(self, call_id: str, to_phone_number: str) -> None: ...

    async def hang_up(self, attempt_id: str, ended_by: str = "system", end_reason: str | None = None) -> None:
        live = await self.live.live_call(attempt_id)
        if live is not None:
            status, call_id = live
            await self.events.ended(attempt_id, self.live.clock(), ended_by, end_reason)
            if call_id:
                await self.hang_up_at_carrier(call_id, status)
        self.live.ids.pop(attempt_id, None)

    async def transfer(self, attempt_id: str, to_phone_number: str) -> None:
        """The attempt ends (the agent leaves) before the carrier bridges the callee to the number."""
        live = await self.live.live_call(attempt_id)
        if live is None or live[1] is None:
            return
        await self.events.ended(attempt_id, self.live.clock(), "agent", "transfer")
        await self.transfer_at_carrier(live[1], to_phone_number)

    def live_calls(self) -> set[str]:
        return set(self.live.ids)

    def forget(self, attempt_ids: set[str]) -> None:
        for attempt_id in attempt_ids:
            self.live.ids.pop(attempt_id, None)


async def converse(
    carrier: LiveCarrier, agent: Agent, attempt_id: str, call_id: str, websocket, serializer: MediaSerializer  # noqa: ANN001
) -> None:
    """Hand the media socket to the voice agent until the conversation is over, then end the attempt."""
    if not await carrier.live.hold(attempt_id, call_id):
        return  # the call already ended (a late or replayed socket)
    # Media flows only on an answered call, whether or not the carrier's news of it came yet.
    await carrier.live.events.answered(attempt_id, carrier.live.clock(), "human")
    outcome: Ended | None = None
    try:
        outcome = await agent.converse_over_media(attempt_id, websocket, serializer)
    finally:
        if outcome is not None and outcome.transfer_to:
            await carrier.transfer(attempt_id, outcome.transfer_to)
        else:
            ended_by, end_reason = (outcome.ended_by, outcome.end_reason) if outcome else ("user", None)
            if serializer.stopped:  # the call is over at the carrier
                await carrier.live.events.ended(attempt_id, carrier.live.clock(), ended_by, end_reason)
            else:  # the agent ended it, or the socket dropped (then nobody hung up: the system ends it)
                if ended_by == "user":
                    ended_by, end_reason = "system", None
                await carrier.hang_up(attempt_id, ended_by, end_reason)
        carrier.live.ids.pop(attempt_id, None)
