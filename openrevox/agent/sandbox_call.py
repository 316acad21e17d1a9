"""The sandbox edge: the callee is a persona that speaks its lines and hears the agent, text-level.

Utterances take the time speaking them would (about 2.5 words a second, divided by
OPENREVOX_SANDBOX_SPEED); the callee hears an agent turn when it has been said, answers with its
next line, and hangs up when it has nothing left to say. The agent side is the real thing: the
same context, LLM and tools as on a phone line, through a Pipecat pipeline.
"""

from __future__ import annotations

import asyncio
import logging

from pipecat.frames.frames import LLMFullResponseEndFrame, LLMFullResponseStartFrame, LLMTextFrame
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies

from openrevox.agent.record import AttemptRecord
from openrevox.agent.session import AgentCall, AgentSession
from openrevox.telephony.personas import Persona

log = logging.getLogger("openrevox.sandbox")

WORDS_PER_SECOND = 2.5
AGENT_TURN_WAIT = 10.0  # real seconds a callee waits for the agent (an LLM's latency does not scale)
MENU_REPEATS = 2  # a phone menu repeats this many times without the right key, then hangs up


def speaking_secs(text: str) -> float:
    return max(len(text.split()), 1) / WORDS_PER_SECOND


class SandboxSession(AgentSession):
    def __init__(
        self, call: AgentCall, record: AttemptRecord, persona: Persona, outcome: str, *, time_scale: float
    ) -> None:
        super().__init__(call, record, time_scale=time_scale)
        self.persona = persona
        self.outcome = outcome
        self.transferred_to: str | None = None
        self._heard: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()

    def aggregator_params(self) -> dict:
        # The callee's turns are whole lines, handed over as they end: no audio turn models.
        return {"user_params": LLMUserAggregatorParams(user_turn_strategies=ExternalUserTurnStrategies())}

    def processors(self) -> list:
        return [self.aggregators.user(), self.llm, self.aggregators.assistant()]

    # --- the agent's side of the line ----------------------------------------------------------

    async def say(self, text: str) -> None:
        await self.worker.queue_frames([LLMFullResponseStartFrame(), LLMTextFrame(text), LLMFullResponseEndFrame()])
        await self.sleep(speaking_secs(text))

    async def agent_spoke(self, text: str) -> None:
        self._heard.put_nowait(("said", text))

    async def send_dtmf(self, digits: str) -> None:
        self._heard.put_nowait(("dtmf", digits))

    async def skip_turn(self) -> None:
        self._heard.put_nowait(("skip", None))

    async def transfer(self, to_phone_number: str) -> None:
        self.transferred_to = to_phone_number

    # --- the callee ----------------------------------------------------------------------------

    async def converse(self) -> None:
        if self.outcome == "hangup":
            await self.sleep(min(self.persona.talk_secs, 0.2))
            return
        greeting = self.persona.greeting_for(self.outcome)
        lines = list(self.persona.lines) if self.outcome != "ios_screening" else []
        first = greeting or (lines.pop(0) if lines else None)
        if first:
            await self.sleep(self.persona.talk_secs if self.outcome == "voicemail" else speaking_secs(first))
            await self.hear(first, respond=False)
        if not await self.answer(first):
            return
        if self.outcome == "ivr" and not await self._pass_menu(first):
            return
        await self._reply_until_done(lines)

    async def _pass_menu(self, menu: str) -> bool:
        """The menu waits for its key; any other answer repeats it. True once through."""
        for _ in range(MENU_REPEATS + 1):
            kind, value = await self._next_heard()
            if kind == "dtmf" and self.persona.menu_key in (value or ""):
                return True
            await self.sleep(speaking_secs(menu))
            await self.hear(f"Sorry, I didn't get that. {menu}")
        return False

    async def _reply_until_done(self, lines: list[str]) -> None:
        if not lines and not self.persona.lines:
            await self.sleep(self.persona.talk_secs)  # a silent callee stays a while, then hangs up
            return
        if self.outcome == "ivr":  # behind the menu, the person picks up
            line = lines.pop(0)
            await self.sleep(speaking_secs(line))
            await self.hear(line)
        while True:
            kind, value = await self._next_heard()
            if kind == "said":
                await self.sleep(speaking_secs(value))
            if not lines:  # nothing left to say: it listens a while, then hangs up
                await self.sleep(self.persona.talk_secs)
                return
            line = lines.pop(0)
            await self.sleep(speaking_secs(line))
            await self.hear(line)

    async def _next_heard(self) -> tuple[str, str | None]:
        try:
            return await asyncio.wait_for(self._heard.get(), AGENT_TURN_WAIT)
        except TimeoutError:
            log.info("sandbox callee of %s heard nothing for %.0f s", self.call.attempt_id, AGENT_TURN_WAIT)
            return "silence", None
