"""The agent host: runs the sessions of the calls this process carries, and what follows each one.

Carriers call it once an attempt is answered — the sandbox with its persona, a real carrier with
its media websocket — and get back how the call ended, to report as the attempt's `ended` event.
Before returning, the host stores the attempt's structured output (for a call that reached a
human) and its recording; both are bounded so the order always finishes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from zoneinfo import ZoneInfo

from loguru import logger

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.agent import recording
from openrevox.agent.calendly import calendly_tools
from openrevox.agent.phone_call import PhoneSession
from openrevox.agent.record import AttemptRecord
from openrevox.agent.sandbox_call import SandboxSession, speaking_secs
from openrevox.agent.session import AgentCall, AgentSession, Outcome
from openrevox.agent.voices import stt_service
from openrevox.config import Settings
from openrevox.llm import resolve_llm
from openrevox.orders import store
from openrevox.postcall.extraction import extract_structured_output
from openrevox.scheduling.windows import RetryConfig, recipient_timezones
from openrevox.storage import Storage
from openrevox.telephony.personas import Persona

log = logging.getLogger("openrevox.agent")


class AgentHost:
    def __init__(self, engine: AsyncEngine, settings: Settings, storage: Storage) -> None:
        self.engine = engine
        self.settings = settings
        self.storage = storage
        self.stt_factory = stt_service  # the phone's speech-to-text, one per call
        quiet_pipecat(settings.pipecat_log_level)

    async def agent_call(self, attempt_id: str) -> AgentCall:
        async with self.engine.connect() as conn:
            attempt = await store.get_attempt(conn, attempt_id)
            order = await store.get_order_by_id(conn, attempt["order_id"])
        assistant = order["assistant"]
        return AgentCall(
            attempt_id=attempt_id,
            assistant=assistant,
            prompt_variables=order["prompt_variables"],
            llm=resolve_llm(order["llm_model"], self.settings),
            max_call_duration_secs=float(assistant.get("max_call_duration_secs") or 600),
            first_sentence_delay_ms=order["first_sentence_delay_ms"],
            calendly=calendly_tools(assistant, *person_on_the_line(order), self.settings),
        )

    async def converse_in_sandbox(self, attempt_id: str, persona: Persona, outcome: str, speed: float) -> Outcome:
        call = await self.agent_call(attempt_id)
        record = AttemptRecord(self.engine, attempt_id, time_scale=speed)
        session = SandboxSession(call, record, persona, outcome, time_scale=speed)
        ended = await session.run()
        lines = sandbox_lines(record)
        await self._after_call(session, record, lambda: recording.sandbox_recording(lines) if lines else None)
        return ended

    async def converse_over_media(self, attempt_id: str, websocket, serializer) -> Outcome:  # noqa: ANN001
        """The conversation on a carrier's media socket (the carrier hangs up or transfers after)."""
        call = await self.agent_call(attempt_id)
        record = AttemptRecord(self.engine, attempt_id)
        session = PhoneSession(call, record, websocket, serializer, stt=self.stt_factory())
        ended = await session.run()
        await self._after_call(session, record, session.tracks.recorder.wav)
        return ended

    async def _after_call(self, session: AgentSession, record: AttemptRecord, make_wav) -> None:
        await asyncio.gather(self._extract(session, record), self._store_recording(record.attempt_id, make_wav))

    async def _extract(self, session: AgentSession, record: AttemptRecord) -> None:
        fields = session.assistant.get("structured_output_config") or []
        if not fields or session.result != "human":
            return
        if session.call.llm is None:
            log.info("no structured output for %s: no LLM is configured", record.attempt_id)
            return
        value = await extract_structured_output(fields, record.transcript, session.call.llm)
        async with self.engine.begin() as conn:
            await store.set_structured_output(conn, record.attempt_id, value)

    async def _store_recording(self, attempt_id: str, make_wav) -> None:
        try:
            wav = await asyncio.to_thread(make_wav)  # CPU-bound: synthesis, or mixing the tracks
            if not wav:
                return
            ref = await recording.save_recording(self.storage, attempt_id, wav)
        except Exception:  # a recording that failed must not keep the call from ending
            log.exception("recording of %s not stored", attempt_id)
            return
        async with self.engine.begin() as conn:
            await store.set_recording_ref(conn, attempt_id, ref)


def quiet_pipecat(level: str) -> None:
    """Pipecat logs every frame hop at DEBUG through loguru; a server keeps its own logs readable."""
    logger.remove()
    logger.add(sys.stderr, level=level.upper())


def person_on_the_line(order: dict) -> tuple[str, ZoneInfo]:
    """The other party's number (the callee, or who called in) and time zone (the order's
    `timezone`, else the number's first zone)."""
    number = order["from_phone_number"] if order["direction"] == "inbound" else order["to_phone_number"]
    return number, recipient_timezones(number, RetryConfig.from_wire(order["call_retry_config"]).timezone)[0]


def sandbox_lines(record: AttemptRecord) -> list[recording.SpokenLine]:
    """Spoken lines with their start in the call: a callee's line is written once said, an
    agent's once generated (it is spoken from then)."""
    lines = []
    for entry, at in zip(record.transcript, record.spoken_at):
        if entry["role"] == "user":
            at = max(0.0, at - speaking_secs(entry["content"]))
        if entry["role"] in ("user", "assistant"):
            lines.append(recording.SpokenLine(entry["role"], entry["content"], at))
    return lines
