"""The phone edge: a carrier's media websocket (Twilio, Telnyx) through Pipecat's transport and the
carrier's serializer, at 8 kHz.

    transport in → STT → transcripts in line → user turns (shared Silero VAD + Smart Turn,
    its verdicts in the background: turn_stop.py) → callee's track →
    gate → LLM → TTS → transport out → agent's track → said sentences → assistant turns

The gate holds the agent until the callee's first utterance has said who answered (or a few
seconds of silence have passed): a voicemail greeting never hears a sales pitch. The recording
keeps both sides, callee left and agent right, each taken where its audio's trip ends: the
callee's frames go no further than the turn detection, since each processor they crossed
would cost CPU on every frame for nothing (bench/agent.py).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    LLMContextFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    OutputDTMFUrgentFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)
from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketInputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from openrevox.agent import audio_models, recording
from openrevox.agent.background import background_mixer
from openrevox.agent.audio_models import PHONE_SAMPLE_RATE, SharedSileroVADAnalyzer, vad_analyzer
from openrevox.agent.record import AttemptRecord
from openrevox.agent.sandbox_call import speaking_secs
from openrevox.agent.session import AgentCall, AgentSession, warm_up_llm_client
from openrevox.agent.turn_stop import TranscriptsInLine, user_turn_strategies
from openrevox.agent.voices import tts_service

log = logging.getLogger("openrevox.agent")

FIRST_UTTERANCE_WAIT = 4.0  # seconds of silence after the answer before the agent speaks anyway
FIRST_UTTERANCE_LONGEST = 40.0  # seconds the callee's first turn may last once begun (voicemail greetings)
CALLEE_FRAME_SECS = 0.04  # the callee's audio as the pipeline takes it (carriers send 20 ms)
# The agent's audio as sent to the carrier. Pipecat sends a chunk as the one before it starts
# playing, so the carrier holds one chunk ahead: a worker whose event loop runs later than that is
# heard as a gap. 80 ms instead of Pipecat's 40: at 25 calls on an overloaded worker the callee heard
# 15-20 gaps a minute instead of 116-155 (bench/agent.py, docs/benchmarks.md); a barge-in clears
# what the carrier holds (Twilio and Telnyx `clear`), so it cuts the agent off no later.
AGENT_CHUNK_SECS = 0.08
SAY_TIMEOUT_MARGIN = 5.0  # seconds beyond a sentence's usual length to wait for its end: TTS latency


class PhoneAudioInput(FastAPIWebsocketInputTransport):
    """The websocket's input side, handing the callee's audio to the pipeline in frames of
    CALLEE_FRAME_SECS, pushed on from the task that reads the websocket.

    Carriers send 20 ms frames, and each frame costs its trip through every processor on its way
    (queues, tasks, checks), which at 25 calls a process is most of the event loop's work; two of
    them per frame halve it. While the call's VAD is deciding a start or a stop of speech
    (`follow`), each frame goes on alone: there a held frame would make the turn wait 20 ms more
    for the window that decides it, at a cost of a few frames' trips per turn. Pipecat
    would first queue each frame for a task of its own, whose per-frame `asyncio.wait_for` makes,
    on Python 3.11, a task and two turns of the event loop: at 25 calls frames waited there up to
    a second (bench/agent.py). That task only applies an input filter, which calls do not use."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._held = bytearray()  # the carrier's audio not yet pushed on
        self._vad: SharedSileroVADAnalyzer | None = None

    def follow(self, vad: SharedSileroVADAnalyzer) -> None:
        """Push each frame on at once while `vad` is deciding."""
        self._vad = vad

    def _create_audio_task(self) -> None:
        pass

    async def push_audio_frame(self, frame: InputAudioRawFrame) -> None:
        if not self._params.audio_in_enabled or self._paused:
            return
        self._held += frame.audio
        alone = len(self._held) < CALLEE_FRAME_SECS * frame.sample_rate * frame.num_channels * 2
        if alone and not (self._vad is not None and self._vad.deciding):
            return
        audio = bytes(self._held)
        self._held.clear()
        await self.push_frame(InputAudioRawFrame(audio=audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels))


async def prepare_process() -> None:
    """What a process that hosts phone calls does once at start, so that no call pays for it: load
    and run the turn models, warm the OpenAI client, then take what exists by then (modules, models)
    out of the garbage collector's full passes. A full pass walked all of it, stalling every call in
    the process ~140 ms once in each 25-call run of bench/agent.py; frozen, none came in a run."""
    await asyncio.to_thread(audio_models.preload)
    await warm_up_llm_client()
    gc.freeze()


def phone_transport(websocket, serializer, audio_out_mixer=None) -> FastAPIWebsocketTransport:  # noqa: ANN001
    """A carrier media websocket as Pipecat's transport, 8 kHz both ways, with `PhoneAudioInput`."""
    params = FastAPIWebsocketParams(
        audio_in_enabled=True,
        audio_out_enabled=True,
        add_wav_header=False,
        serializer=serializer,
        audio_in_sample_rate=PHONE_SAMPLE_RATE,
        audio_out_sample_rate=PHONE_SAMPLE_RATE,
        audio_out_mixer=audio_out_mixer,
        audio_out_10ms_chunks=round(AGENT_CHUNK_SECS * 100),
    )
    transport = FastAPIWebsocketTransport(websocket, params)
    # Pipecat's transport builds its input side itself; ours takes its place before any use.
    transport._input = PhoneAudioInput(transport, transport._client, params, name=transport._input.name)
    return transport


class AgentGate(FrameProcessor):
    """Drops the LLM's runs until the session opens it (who answered is known)."""

    def __init__(self) -> None:
        super().__init__()
        self.is_open = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and not self.is_open:
            return
        await self.push_frame(frame, direction)


class AgentSpeech(FrameProcessor):
    """The text of the agent's current turn, seen before TTS: what the agent started saying, even
    when the callee cut it short and Pipecat records an empty turn."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame | TTSSpeakFrame):
            self.pending.append(frame.text)
        await self.push_frame(frame, direction)

    def take(self) -> str:
        text, self.pending = "".join(self.pending).strip(), []
        return text


SAID = "openrevox.said"  # what `say` speaks has a text type of its own, "openrevox.said#N"


class SaidSentences(FrameProcessor):
    """When the sentences given to `say` have been spoken. Placed after the output transport,
    which passes frames on in the order it plays them: a frame of the sentence's text type comes
    out once the sentence is on the line (its TTSTextFrame, which TTS queues behind its audio; or,
    from TTS services that time each word, the sentence's progress frames, timed as its words
    play), and the end of that speech follows. The end of earlier speech (a reply still playing
    when `say` was called) comes before, and does not count. Should no frame of the type come
    out, `say` gives up after its timeout; each sentence has a text type of its own, so one given
    up on holds up no later one."""

    def __init__(self) -> None:
        super().__init__()
        self._said = itertools.count(1)
        self._waiting: dict[str, asyncio.Future] = {}  # by text type: sentences not yet on the line
        self._playing: list[asyncio.Future] = []  # sentences on the line, their speech not yet over

    def say(self, sentence: str) -> tuple[TTSSpeakFrame, asyncio.Future]:
        """The frame that speaks `sentence`, and a future done once it has been spoken."""
        self._waiting = {kind: spoken for kind, spoken in self._waiting.items() if not spoken.done()}
        spoken = asyncio.get_running_loop().create_future()
        text_type = f"{SAID}#{next(self._said)}"
        self._waiting[text_type] = spoken
        return TTSSpeakFrame(sentence, text_type=text_type), spoken

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        text_type = getattr(frame, "text_type", None)
        if text_type in self._waiting:
            self._playing.append(self._waiting.pop(text_type))
        elif isinstance(frame, BotStoppedSpeakingFrame | TTSStoppedFrame):
            for spoken in self._playing:
                if not spoken.done():  # not given up on by `say`
                    spoken.set_result(None)
            self._playing = []
        await self.push_frame(frame, direction)


class CallTracks:
    """The call's stereo recording, fed by two taps: `callee` ends the callee's audio (placed after
    the user aggregator), `agent` ends the agent's (placed after the transport sent it, with the
    background mixed in). Audio lands at its time since the first frame either tap saw."""

    def __init__(self, sample_rate: int = PHONE_SAMPLE_RATE) -> None:
        self.recorder = recording.StereoRecorder(sample_rate)
        self._start: float | None = None
        self.callee = TrackTap(self, recording.CALLEE, InputAudioRawFrame)
        self.agent = TrackTap(self, recording.AGENT, OutputAudioRawFrame)

    def add(self, track: recording.Track, audio: bytes) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        self.recorder.add(track, audio, now - self._start)


class TrackTap(FrameProcessor):
    """Takes one side's audio frames off the pipeline into the recording; passes the rest on."""

    def __init__(self, tracks: CallTracks, track: recording.Track, audio: type[Frame]) -> None:
        super().__init__(name=f"{track}-track")
        self.tracks, self.track, self.audio = tracks, track, audio

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, self.audio):
            self.tracks.add(self.track, frame.audio)
        else:
            await self.push_frame(frame, direction)


def phone_processors(transport, stt, user_turns, vad: SharedSileroVADAnalyzer, agent: list, tracks: CallTracks, said: SaidSentences, assistant_turns) -> list:  # noqa: ANN001
    """The phone pipeline's layout (the module's docstring), `agent` being gate, LLM and TTS;
    `vad` is the user aggregator's."""
    transport.input().follow(vad)
    ears = [transport.input(), *([stt, TranscriptsInLine()] if stt else []), user_turns, tracks.callee]
    return [*ears, *agent, transport.output(), tracks.agent, said, assistant_turns]


class PhoneSession(AgentSession):
    def __init__(self, call: AgentCall, record: AttemptRecord, websocket, serializer, stt=None) -> None:  # noqa: ANN001
        self.vad = vad_analyzer()  # before the aggregators that AgentSession makes with it
        super().__init__(call, record)
        self.transport = phone_transport(websocket, serializer, background_mixer(call.assistant.get("background_sound")))
        self.transport.add_event_handler("on_client_disconnected", self._on_disconnected)
        self.stt = stt
        self.tts = tts_service(call.assistant.get("voice"))
        self.gate = AgentGate()
        self.speech = AgentSpeech()
        self.said = SaidSentences()
        self.tracks = CallTracks()
        self._first_utterance: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._callee_spoke = asyncio.Event()
        self.aggregators.user().add_event_handler("on_user_turn_started", self._on_user_turn_started)
        self.aggregators.user().add_event_handler("on_user_turn_stopped", self._on_user_turn)

    def aggregator_params(self) -> dict:
        strategies = user_turn_strategies()
        return {"user_params": LLMUserAggregatorParams(vad_analyzer=self.vad, user_turn_strategies=strategies)}

    def processors(self) -> list:
        agent = [self.gate, self.llm, self.speech, self.tts]
        user_turns, assistant_turns = self.aggregators.user(), self.aggregators.assistant()
        return phone_processors(self.transport, self.stt, user_turns, self.vad, agent, self.tracks, self.said, assistant_turns)

    async def converse(self) -> None:
        first = await self._hear_first_utterance()
        self.gate.is_open = True
        if await self.answer(first):
            await asyncio.Event().wait()  # the conversation runs in the pipeline until an outcome

    async def _hear_first_utterance(self) -> str | None:
        """The callee's first turn, however long once begun; None if they say nothing at first."""
        spoke = asyncio.create_task(self._callee_spoke.wait())
        try:
            await asyncio.wait({spoke, self._first_utterance}, timeout=FIRST_UTTERANCE_WAIT)
        finally:
            spoke.cancel()
        if self._first_utterance.done():
            return self._first_utterance.result()
        if not self._callee_spoke.is_set():
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._first_utterance), FIRST_UTTERANCE_LONGEST)
        except TimeoutError:
            return None

    async def _on_user_turn_started(self, aggregator, strategy) -> None:  # noqa: ANN001
        self._callee_spoke.set()

    def turn_text(self, message) -> str:  # noqa: ANN001
        started = self.speech.take()
        return (message.content or "").strip() or (started if message.interrupted else "")

    async def _on_user_turn(self, aggregator, strategy, message) -> None:
        """A turn of the callee; without STT its words are unknown, but not that someone spoke."""
        text = (message.content or "").strip()
        if text:
            await self.record.add("user", text)
        if not self._first_utterance.done():
            self._first_utterance.set_result(text)

    async def _on_disconnected(self, transport, client) -> None:
        self.finish("user")

    async def say(self, text: str) -> None:
        """Speak `text`; returns once it was heard to its end (or, should the line never report
        that, a few seconds after it should have ended)."""
        frame, spoken = self.said.say(text)
        await self.worker.queue_frame(frame)
        try:
            await asyncio.wait_for(spoken, speaking_secs(text) + SAY_TIMEOUT_MARGIN)
        except TimeoutError:
            log.warning("no end of speech reported for %r; going on", text[:40])

    async def send_dtmf(self, digits: str) -> None:
        await self.worker.queue_frame(OutputDTMFUrgentFrame(buttons=[KeypadEntry(d) for d in digits]))

    async def transfer(self, to_phone_number: str) -> None:
        """The carrier transfers the line once the session returns its outcome."""
