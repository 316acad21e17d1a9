"""One agent session per answered attempt: the assistant's brain, whatever carries the audio.

`AgentSession` holds what every call shares — the LLM (a configured endpoint through Pipecat's
OpenAI service, or the offline responder), the context with the assistant's prompt and tools, the
transcript, who answered, and how the call ends — and leaves hearing and speaking to a subclass:
`SandboxSession` (the callee is a sandbox persona, text-level) or `PhoneSession` (a carrier's
media stream through STT and TTS). A session ends with an `Outcome`, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field

import openai
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.services.llm_service import LLMService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.workers.runner import WorkerRunner

from openrevox.agent import prompts, tools
from openrevox.agent.answerer import classify_first_utterance
from openrevox.agent.calendly import CalendlyTools
from openrevox.agent.offline import OfflineResponder
from openrevox.agent.record import AttemptRecord
from openrevox.llm import LLMEndpoint

log = logging.getLogger("openrevox.agent")


@dataclass(frozen=True)
class AgentCall:
    """What the session needs to know about the attempt it answers."""

    attempt_id: str
    assistant: dict
    prompt_variables: dict | None
    llm: LLMEndpoint | None
    max_call_duration_secs: float
    first_sentence_delay_ms: int
    transfer_phone_number: str | None = None
    calendly: CalendlyTools | None = None  # when the assistant has `calendly` and a token is set


@dataclass
class Outcome:
    ended_by: str  # agent | user | system
    end_reason: str | None = None
    transfer_to: str | None = None
    transcript: list[dict] = field(default_factory=list)


class SharedClientLLMService(OpenAILLMService):
    """Pipecat's OpenAI service on one HTTP client per endpoint and event loop, shared by every
    call: a client per call would cost a TLS context each (30-120 ms of CPU, bench/agent.py) and
    leave its keep-alive connections open, since the service never closes it."""

    _clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def create_client(self, api_key=None, base_url=None, **kwargs):  # noqa: ANN001, ANN201
        per_loop = self._clients.setdefault(asyncio.get_running_loop(), {})
        key = (base_url, api_key)
        if key not in per_loop:
            per_loop[key] = super().create_client(api_key=api_key, base_url=base_url, **kwargs)
        return per_loop[key]


async def warm_up_llm_client() -> None:
    """One request of a call's shape through the OpenAI client, refused at connect (nothing
    listens on port 1). The client's first request in a process costs 100-180 ms of CPU (lazy
    imports, and the request types' hints resolved once, then cached): without this, the first
    turn of a worker's first call pays it (bench/agent.py)."""
    function = {"name": "end_call", "description": "End the call.", "parameters": {"type": "object", "properties": {}}}
    async with openai.AsyncOpenAI(base_url="http://127.0.0.1:1/v1", api_key="warm-up", max_retries=0) as client:
        with contextlib.suppress(openai.APIError):  # refused; or a proxy's answer, where one is set
            await client.chat.completions.create(
                model="warm-up",
                messages=[{"role": "system", "content": "Warm up."}, {"role": "user", "content": "Hello?"}],
                tools=[{"type": "function", "function": function}],
                stream=True,
                stream_options={"include_usage": True},
            )


def make_llm(endpoint: LLMEndpoint | None) -> LLMService:
    if endpoint is None:
        return OfflineResponder()
    extra = {"extra_body": endpoint.extra_body} if endpoint.extra_body else {}
    return SharedClientLLMService(
        api_key=endpoint.api_key or "unused",
        base_url=endpoint.base_url,
        settings=OpenAILLMService.Settings(model=endpoint.model, extra=extra),
    )


def pipeline_worker(processors: list) -> PipelineWorker:
    """A call's PipelineWorker, as every session (and bench/agent.py) runs it."""
    return PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
        # The worker's default observers cost ~20 % of a call's CPU (bench/agent.py): the
        # session keeps its own record of turns, and a call's end is the carrier's or ours.
        enable_turn_tracking=False,
        idle_timeout_secs=None,
    )


class AgentSession:
    """The call-independent half of a session; subclasses add the edge (hearing, speaking)."""

    def __init__(self, call: AgentCall, record: AttemptRecord, *, time_scale: float = 1.0) -> None:
        self.call = call
        self.record = record
        self.time_scale = time_scale  # the sandbox runs its clock faster
        self.assistant = call.assistant
        self.llm = make_llm(call.llm)
        self.context = LLMContext(
            messages=[{"role": "system", "content": prompts.system_prompt(call.assistant, call.prompt_variables)}],
            tools=ToolsSchema(standard_tools=tools.tool_schemas(call.assistant, self, call.calendly)),
        )
        self.aggregators = LLMContextAggregatorPair(self.context, **self.aggregator_params())
        self.aggregators.assistant().add_event_handler("on_assistant_turn_stopped", self._on_assistant_turn)
        self.result: str | None = None
        self._ends_with_tool: tuple[str, str, str | None] | None = None  # a tool call ends the call
        self._outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.worker: PipelineWorker | None = None

    # --- what subclasses provide ---------------------------------------------------------------

    def aggregator_params(self) -> dict:
        return {}

    def processors(self) -> list:
        raise NotImplementedError

    async def converse(self) -> None:
        """Drive the call until an outcome is decided (the sandbox plays its callee here)."""
        await self._outcome

    async def say(self, text: str) -> None:
        """Speak a fixed sentence (first sentence, end of call, voicemail message) and wait until
        it has been heard."""
        raise NotImplementedError

    async def agent_spoke(self, text: str) -> None:
        """The agent finished a turn (for the sandbox callee to answer)."""

    async def send_dtmf(self, digits: str) -> None:
        raise NotImplementedError

    async def skip_turn(self) -> None:
        """Nothing to do: staying silent is the default."""

    async def transfer(self, to_phone_number: str) -> None:
        raise NotImplementedError

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Run the pipeline and the conversation; the max call duration ends it as `system`."""
        self.worker = pipeline_worker(self.processors())
        started = asyncio.Event()

        async def on_started(*_) -> None:
            started.set()

        self.worker.add_event_handler("on_pipeline_started", on_started)
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(self.worker)
        pipeline = asyncio.create_task(runner.run(), name=f"agent-{self.call.attempt_id}")
        limit = self.call.max_call_duration_secs / self.time_scale
        try:
            await asyncio.wait_for(started.wait(), 10)
            await asyncio.wait_for(self._conversation(), limit)
        except TimeoutError:
            self.finish("system", "max_duration")
        finally:
            await self.worker.cancel(reason="call ended")
            await asyncio.gather(pipeline, return_exceptions=True)
        outcome = self._outcome.result()
        outcome.transcript = self.record.transcript
        return outcome

    async def _conversation(self) -> None:
        converse = asyncio.create_task(self.converse())
        try:
            await asyncio.wait({converse, self._outcome}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            converse.cancel()
            await asyncio.gather(converse, return_exceptions=True)
        if not self._outcome.done():
            self.finish("user")
        await self._outcome

    def finish(self, ended_by: str, end_reason: str | None = None, transfer_to: str | None = None) -> None:
        if not self._outcome.done():
            self._outcome.set_result(Outcome(ended_by, end_reason, transfer_to))

    @property
    def finished(self) -> bool:
        return self._outcome.done()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.time_scale)

    # --- who answered, and the first sentence ------------------------------------------------------

    async def classify(self, result: str) -> None:
        self.result = result
        await self.record.classified(result)

    async def answer(self, first: str | None) -> bool:
        """Who answered (from the first utterance) decides the opening; False when the call ends
        here: a voicemail (after its message, if any) or a phone menu the agent may not navigate."""
        result = classify_first_utterance(first)
        await self.classify(result)
        if result == "voicemail":
            message = prompts.interpolate(self.assistant.get("voicemail_message"), self.call.prompt_variables)
            if message:
                await self.say(message)
            self.finish("agent", "voicemail")
            return False
        if result == "IVR" and not self.assistant.get("ivr_navigation_enabled"):
            self.finish("agent", "ivr_no_navigate")
            return False
        if result in ("IVR", "ios-screening-filter"):
            await self.run_llm()  # the agent answers the menu or the screening question
        else:
            await self.answer_with_first_sentence(heard_first=first is not None)
        return True

    async def answer_with_first_sentence(self, heard_first: bool) -> None:
        """The agent's opening, once it knows a person (or an IVR it may navigate) is there."""
        mode = self.assistant.get("first_sentence_mode") or "generated"
        await self.sleep(self.call.first_sentence_delay_ms / 1000)
        if mode == "static" and self.assistant.get("first_sentence"):
            await self.say(prompts.interpolate(self.assistant["first_sentence"], self.call.prompt_variables))
        elif mode == "generated" or (mode == "none" and heard_first):
            hint = self.assistant.get("first_sentence")
            if hint and mode == "generated":
                hint = prompts.interpolate(hint, self.call.prompt_variables)
                self.context.add_message({"role": "system", "content": f"Open the call along these lines: {hint}"})
            await self.run_llm()

    async def run_llm(self) -> None:
        from pipecat.frames.frames import LLMRunFrame

        await self.worker.queue_frame(LLMRunFrame())

    async def hear(self, text: str, *, respond: bool = True) -> None:
        """A callee's utterance, added to the context (and answered unless held)."""
        from pipecat.frames.frames import LLMMessagesAppendFrame

        await self.record.add("user", text)
        await self.worker.queue_frame(LLMMessagesAppendFrame([{"role": "user", "content": text}], run_llm=respond))

    def turn_text(self, message) -> str:  # noqa: ANN001
        """What the agent said in a finished turn."""
        return (message.content or "").strip()

    async def _on_assistant_turn(self, aggregator, message) -> None:
        text = self.turn_text(message)
        if not text:
            return
        await self.record.add("assistant", text)
        await self.agent_spoke(text)

    # --- CallControl: what the LLM's tools do ----------------------------------------------------

    async def end_call(self, reason: str | None) -> None:
        sentence = prompts.interpolate(self.assistant.get("end_of_call_sentence"), self.call.prompt_variables)
        if sentence:
            asyncio.create_task(self._say_then_finish(sentence, "agent", "tool_end_call"))
        else:
            self._ends_with_tool = ("agent", "tool_end_call", None)

    async def _say_then_finish(self, sentence: str, ended_by: str, end_reason: str) -> None:
        try:
            await self.say(sentence)
        finally:
            self.finish(ended_by, end_reason)

    async def transfer_call(self) -> None:
        number = self.call.transfer_phone_number or self.assistant.get("transfer_phone_number")
        if not number:
            raise ValueError("no transfer_phone_number is set for this assistant")
        await self.transfer(number)
        self._ends_with_tool = ("agent", "transfer", number)

    def tool_recorded(self) -> None:
        if self._ends_with_tool:
            self.finish(*self._ends_with_tool)

    async def tool_called(self, name: str, arguments: dict, result: str, is_error: bool) -> None:
        await self.record.add("tool", result, tool_name=name, tool_arguments=arguments, tool_is_error=is_error)
