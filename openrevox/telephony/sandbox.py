"""The sandbox carrier: simulated callees, so the whole platform runs offline.

Each dial is recorded (table `sandbox_dials`) before anything else, then a task plays the
persona's outcome for this attempt number, reporting ringing / answered / ended / failed through
CallEvents like a real carrier would. An answered call is a conversation between the persona and
the voice agent (openrevox/agent), which decides who answered and how the call ends. Times are
divided by OPENREVOX_SANDBOX_SPEED.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.agent.host import AgentHost
from openrevox.telephony.base import CallEvents, DialFailed, DialRequest
from openrevox.telephony.personas import Persona, persona_for
from openrevox.telephony.tables import sandbox_dials

log = logging.getLogger("openrevox.sandbox")

FAILED = {"busy": "busy", "no_answer": "no_answer", "not_attributed": "number_non_attributed"}


def _now() -> datetime:
    return datetime.now(UTC)


class SandboxCarrier:
    name = "sandbox"

    def __init__(
        self,
        engine: AsyncEngine,
        events: CallEvents,
        agent: AgentHost,
        personas: dict[str, Persona],
        speed: float,
        worker: str,
    ) -> None:
        self.engine = engine
        self.events = events
        self.agent = agent
        self.personas = personas
        self.speed = speed
        self.worker = worker
        self._calls: dict[str, asyncio.Task] = {}

    async def dial(self, request: DialRequest) -> str:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(sandbox_dials).values(
                    attempt_id=request.attempt_id,
                    phone_number=request.to_phone_number,
                    worker=self.worker,
                    dialed_at=_now(),
                )
            )
        persona = persona_for(self.personas, request.to_phone_number)
        outcome = persona.outcome_for(request.attempt_number)
        if outcome == "not_attributed":
            raise DialFailed("number_non_attributed", "the sandbox number is not attributed")
        task = asyncio.create_task(self._play(request, persona, outcome), name=f"sandbox-{request.attempt_id}")
        self._calls[request.attempt_id] = task
        task.add_done_callback(lambda _: self._calls.pop(request.attempt_id, None))
        return f"sandbox-{uuid.uuid4().hex[:16]}"

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def _play(self, request: DialRequest, persona: Persona, outcome: str) -> None:
        attempt_id = request.attempt_id
        try:
            await self.events.ringing(attempt_id, _now())
            await self._sleep(persona.ring_secs)
            if outcome in FAILED:
                await self.events.failed(attempt_id, _now(), FAILED[outcome])
                return
            await self.events.answered(attempt_id, _now(), "unknown")  # the agent tells who it is
            ended = await self.agent.converse_in_sandbox(attempt_id, persona, outcome, self.speed)
            await self.events.ended(attempt_id, _now(), ended.ended_by, ended.end_reason)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed write here is recovered by lease expiry; say why
            log.exception("sandbox call %s failed", attempt_id)

    def live_calls(self) -> set[str]:
        """Attempts whose call this process is playing."""
        return set(self._calls)

    def forget(self, attempt_ids: set[str]) -> None:
        """A sandbox call is this process's until its task ends: nothing to forget."""

    async def hang_up(self, attempt_id: str, ended_by: str = "system", end_reason: str | None = None) -> None:
        task = self._calls.pop(attempt_id, None)
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self.events.ended(attempt_id, _now(), ended_by, end_reason)

    async def close(self) -> None:
        """Hang up the calls still live, as a phone line's process does when it stops: each ends
        `ended_by: system` now, rather than as a lost call closed by recovery once its lease ends."""
        await asyncio.gather(*(self.hang_up(attempt_id) for attempt_id in list(self._calls)), return_exceptions=True)
