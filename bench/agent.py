"""Voice agent benchmark: many concurrent calls per worker process, each a Pipecat pipeline as
production runs it, fed real-time phone audio of real speech over a real websocket.

Processes (all this script, by `--role`):

* worker (P of them, `--procs`): uvicorn + FastAPI, a Twilio Media Streams websocket endpoint
  whose every connection runs FastAPIWebsocketTransport + TwilioFrameSerializer at 8 kHz →
  stand-in STT → user aggregator with Silero VAD and Smart Turn v3 → OpenAILLMService → stand-in
  TTS → transport output → assistant aggregator, with a stereo call recording. Mode "ours" is
  openrevox's phone pipeline (`openrevox.agent.phone_call.phone_transport` and
  `phone_processors`: the callee's audio in 40 ms frames, its PipelineWorker,
  `openrevox.agent.audio_models`' shared analyzers, one OpenAI client per process, the recording
  taken off where each side's audio ends); mode "stock" is Pipecat as its examples lay a phone bot
  out (Pipecat's own analyzers with the same parameters, an OpenAI client per call, an
  AudioBufferProcessor after the output, the worker's default observers unless
  --no-default-observers). Stand-ins of fixed, known latency:
    STT: finalizes as Deepgram does, when VAD reports the user stopped: the final transcript
         STT_SECS later;
    LLM: tests/scripted_llm.py's ScriptedLLM in its own process (real HTTP, streaming SSE) read by
         the real OpenAILLMService: first word LLM_FIRST_SECS after the request, then one word per
         LLM_WORD_SECS;
    TTS: first audio TTS_FIRST_SECS after each sentence (real eSpeak NG speech, whole sentences).
* the orchestrator (this process): N calls per worker over websockets, each sending 20 ms μ-law
  8 kHz frames paced in real time like Twilio: a second of silence, then per turn one eSpeak NG
  sentence, silence until the agent's reply has played out, a short gap, the next sentence.

Per turn it measures, on the caller's clock (CLOCK_MONOTONIC, the same in every process):
* added: first agent audio received − the earliest a pipeline costing nothing could answer, that
  is max(decision frame sent, VAD-stop frame sent + STT) + LLM to the end of the first sentence +
  TTS, where the decision frame is the audio frame on which the turn was decided (the VAD stop
  when Smart Turn judged it complete or gave no verdict in time, else the frame where Smart
  Turn's silence fallback fired), reported by the worker by the frame's position in the stream. This is the latency the pipeline
  adds beyond the stand-ins' own: frame hops, the turn model's inference and queueing, event
  loop lag, HTTP to the LLM, sentence aggregation. Split (p50/p95) into input (VAD-stop frame
  sent → VAD stop seen), turn (turn ready → the LLM given the turn: the transcript's and the
  verdict's way into the user aggregator), LLM (→ TTS given the first sentence, beyond the
  stand-in's own time) and output (TTS → caller, beyond its own), with Smart Turn's verdict
  wait beside them (it overlaps the STT's).
* decision: the decision frame − the end of speech (VAD stop_secs, Silero's tail, fallbacks):
  set by the audio and the parameters, the same for any implementation.
* lost: no agent audio within REPLY_TIMEOUT_SECS; late: added > LATE_SECS; no verdict: turns
  ended without Smart Turn's verdict, not in within VERDICT_LIMIT_SECS (its wait is in added).
* agent audio gaps: the reply played as it arrives at the caller, where it ran dry (a media
  message came after the audio before it had played out): gaps over 20 ms per minute of the
  agent's speech, their total and the longest. Pipecat sends audio at the pace it plays, so a
  worker whose event loop runs late is heard as these gaps.
Per run: CPU % of the workers (all threads, and the event loop thread), RSS per call (peak −
idle, over N), event loop lag in the workers (a 10 ms sleeper), how busy the machine's CPUs
were (all processes), over the window when every call is up.

    .venv/bin/python bench/agent.py [--calls 1,10,25,50] [--procs 1] [--pin] [--turns 5]
        [--modes ours,stock] [--no-default-observers] [--json FILE]

Exits non-zero only when a call could not connect or broke off; missed goals are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

with warnings.catch_warnings():  # deprecated in 3.11, gone in 3.13; Pipecat's serializers use it too
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

from fastapi import FastAPI, WebSocket  # noqa: E402 (module level: FastAPI reads the annotation)

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

FRAME_SECS = 0.02
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
STT_SECS = 0.1
LLM_FIRST_SECS = 0.2
LLM_WORD_SECS = 0.01
TTS_FIRST_SECS = 0.1
REPLY = "Sure, I can help with that. Let me look at the calendar for Thursday afternoon."
FIRST_SENTENCE_WORDS = 6  # "Sure, I can help with that."
TRANSCRIPT = "I would like to move my appointment."
CALLER_LINES = [
    "Hi, yes, this is Sam speaking.",
    "I would like to move my appointment to Thursday afternoon if that works.",
    "Could you also send me a text message with the new time?",
    "Thank you so much, that is all I needed.",
]
LEAD_IN_SECS = 1.0
GAP_SECS = 0.4  # caller's pause after the agent stops talking
REPLY_END_SECS = 0.5  # no agent audio for this long: the reply is over
REPLY_TIMEOUT_SECS = 8.0
LATE_SECS = 0.5
GOAL_ADDED_P95_MS = 50
GOAL_MB_PER_CALL = 20
TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# worker process


@dataclass
class Trace:
    """What one call's analyzers decided, by audio position (frame index in the stream)."""

    vad_samples: int = 0
    turn_samples: int = 0
    speaking: bool = False
    vad_stop: int | None = None
    decisions: list[tuple[str, int, int]] = field(default_factory=list)  # kind, frame, VAD stop
    verdict_secs: list[float] = field(default_factory=list)
    # When (time.monotonic(), the same clock as the callers') VAD reported the stop on a frame,
    # Smart Turn answered for it, and the LLM got the turn decided on it, the TTS its first sentence.
    events: dict[str, dict[int, float]] = field(
        default_factory=lambda: {"vad_stop": {}, "verdict": {}, "context": {}, "sentence": {}}
    )


def last_frame(samples: int) -> int:
    """The index of the caller's frame that holds the last of `samples` (the analyzers may take
    audio in pieces that end inside a frame)."""
    return (samples + FRAME_SAMPLES - 1) // FRAME_SAMPLES - 1


class TracedVAD:
    """Mixin over a VAD analyzer: notes the frame on which VAD reports the user stopped."""

    trace: Trace

    def _run_analyzer(self, buffer: bytes):
        from pipecat.audio.vad.vad_analyzer import VADState

        state = super()._run_analyzer(buffer)
        self.trace.vad_samples += len(buffer) // 2
        if state == VADState.SPEAKING:
            self.trace.speaking = True
        elif state == VADState.QUIET and self.trace.speaking:
            self.trace.speaking = False
            self.trace.vad_stop = last_frame(self.trace.vad_samples)
            self.trace.events["vad_stop"][self.trace.vad_stop] = time.monotonic()
        return state


class TracedTurn:
    """Mixin over a turn analyzer: notes each turn-ending decision and each verdict's wait."""

    trace: Trace

    def append_audio(self, buffer: bytes, is_speech: bool):
        from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

        state = super().append_audio(buffer, is_speech)
        self.trace.turn_samples += len(buffer) // 2
        if state == EndOfTurnState.COMPLETE:  # silence fallback after an "incomplete" verdict
            frame = last_frame(self.trace.turn_samples)
            self.trace.decisions.append(("silence", frame, self.trace.vad_stop or frame))
        return state

    async def analyze_end_of_turn(self):
        from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

        started = time.perf_counter()
        state, metrics = await super().analyze_end_of_turn()
        if metrics is not None:  # a verdict of the model (not the empty ask after a fallback)
            self.trace.verdict_secs.append(time.perf_counter() - started)
            self.trace.events["verdict"].setdefault(self.trace.vad_stop, time.monotonic())
            if state == EndOfTurnState.COMPLETE and self.trace.vad_stop is not None:
                self.trace.decisions.append(("model", self.trace.vad_stop, self.trace.vad_stop))
        elif state == EndOfTurnState.COMPLETE and self.trace.vad_stop is not None:
            # No verdict within the limit (openrevox.agent.audio_models.VERDICT_LIMIT_SECS): the turn
            # ended on the silence, decided at VAD's stop as far as the added latency goes.
            self.trace.events["verdict"].setdefault(self.trace.vad_stop, time.monotonic())
            self.trace.decisions.append(("timeout", self.trace.vad_stop, self.trace.vad_stop))
        return state, metrics


def analyzers(stock: bool, trace: Trace):
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from openrevox.agent import audio_models

    vad_cls = SileroVADAnalyzer if stock else audio_models.SharedSileroVADAnalyzer
    turn_cls = LocalSmartTurnAnalyzerV3 if stock else audio_models.SharedSmartTurnAnalyzer
    vad = type("Traced" + vad_cls.__name__, (TracedVAD, vad_cls), {})(
        sample_rate=audio_models.PHONE_SAMPLE_RATE, params=audio_models.VAD_PARAMS
    )
    turn = type("Traced" + turn_cls.__name__, (TracedTurn, turn_cls), {})(params=audio_models.TURN_PARAMS)
    vad.trace = turn.trace = trace
    return vad, turn


def worker_app(stock: bool, llm_url: str, observers: bool):
    from pipecat.frames.frames import (
        LLMContextFrame,
        TranscriptionFrame,
        TTSAudioRawFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.settings import STTSettings, TTSSettings
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService
    from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
    from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.utils.time import time_now_iso8601
    from pipecat.workers.runner import WorkerRunner

    from openrevox.agent import audio_models, phone_call, session, turn_stop
    from openrevox.agent.speech import AGENT_VOICE, synthesize
    from openrevox.llm import LLMEndpoint

    class StandInSTT(STTService):
        """Deepgram's shape: on VAD's stop it asks to finalize; the final comes STT_SECS later."""

        def __init__(self) -> None:
            super().__init__(ttfs_p99_latency=0.5, settings=STTSettings(model=None, language=None))

        async def run_stt(self, audio: bytes):
            yield None

        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            if isinstance(frame, VADUserStoppedSpeakingFrame):
                self.request_finalize()
                self.create_task(self._finalize())

        async def _finalize(self) -> None:
            await asyncio.sleep(STT_SECS)
            self.confirm_finalize()
            await self.push_frame(TranscriptionFrame(TRANSCRIPT, "caller", time_now_iso8601()))

    class StandInTTS(TTSService):
        """First audio TTS_FIRST_SECS after each sentence: the sentence as eSpeak NG says it."""

        def __init__(self, trace: Trace) -> None:
            self.trace = trace
            super().__init__(
                push_start_frame=True,
                push_stop_frames=True,
                sample_rate=8000,
                settings=TTSSettings(model=None, voice=None, language=None),
            )

        async def run_tts(self, text: str, context_id: str):
            if self.trace.decisions:
                self.trace.events["sentence"].setdefault(self.trace.decisions[-1][1], time.monotonic())
            await asyncio.sleep(TTS_FIRST_SECS)
            yield TTSAudioRawFrame(spoken(text), 8000, 1, context_id=context_id)

    class TurnToLLM(FrameProcessor):
        """Before the LLM, in the pushing task (no queue of its own): when it is given a turn."""

        def __init__(self, trace: Trace) -> None:
            super().__init__(enable_direct_mode=True)
            self.trace = trace

        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            if isinstance(frame, LLMContextFrame) and self.trace.decisions:
                self.trace.events["context"].setdefault(self.trace.decisions[-1][1], time.monotonic())
            await self.push_frame(frame, direction)

    spoken_cache: dict[str, bytes] = {}

    def spoken(text: str) -> bytes:
        if text not in spoken_cache:
            spoken_cache[text] = synthesize(text.strip(), AGENT_VOICE)
        return spoken_cache[text]

    traces: dict[str, Trace] = {}
    lags: list[tuple[float, float]] = []  # (when, how late a 10 ms sleep woke)

    async def watch_lag() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append((started, time.monotonic() - started - 0.01))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if not stock:  # as openrevox's worker starts
            await phone_call.prepare_process()
        for sentence in ("Sure, I can help with that.", "Let me look at the calendar for Thursday afternoon."):
            spoken(sentence)
        watcher = asyncio.create_task(watch_lag())
        yield
        watcher.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/stats")
    async def stats() -> dict:
        batches = audio_models._silero_batches() if not stock else None
        return {
            "lags": lags,
            "threads": {thread.native_id: thread.name for thread in threading.enumerate()},
            "vad_batches": [batches.runs, batches.windows] if batches else None,
            "traces": {
                call: {
                    "decisions": t.decisions,
                    "verdict_secs": t.verdict_secs,
                    "events": t.events,
                    "frames": t.vad_samples // FRAME_SAMPLES,
                }
                for call, t in traces.items()
            },
        }

    @app.websocket("/media")
    async def media(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call = await parse_telephony_websocket(websocket)
        trace = traces[call["call_id"]] = Trace()
        vad, turn = analyzers(stock, trace)
        stop_cls = TurnAnalyzerUserTurnStopStrategy if stock else turn_stop.TurnStopInBackground
        serializer = TwilioFrameSerializer(
            call["stream_id"], call["call_id"], params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
        )
        if stock:
            params = FastAPIWebsocketParams(audio_in_enabled=True, audio_out_enabled=True, serializer=serializer)
            transport = FastAPIWebsocketTransport(websocket, params)
        else:
            transport = phone_call.phone_transport(websocket, serializer)
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=vad,
                user_turn_strategies=UserTurnStrategies(stop=[stop_cls(turn_analyzer=turn)]),
            ),
        )
        if stock:  # Pipecat as its examples lay a phone bot out
            llm = OpenAILLMService(
                api_key="bench",
                base_url=llm_url,
                settings=OpenAILLMService.Settings(model="bench", system_instruction="You book appointments."),
            )
            recording = AudioBufferProcessor(num_channels=2)
            processors = [
                transport.input(),
                StandInSTT(),
                aggregators.user(),
                TurnToLLM(trace),
                llm,
                StandInTTS(trace),
                transport.output(),
                recording,
                aggregators.assistant(),
            ]
            worker = PipelineWorker(
                Pipeline(processors),
                params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000),
                cancel_on_idle_timeout=False,
                enable_rtvi=False,
                # Pipecat's two default observers (turn tracking, idle watch) see every frame push.
                **({} if observers else {"enable_turn_tracking": False, "idle_timeout_secs": None}),
            )

            @transport.event_handler("on_client_connected")
            async def connected(*_) -> None:
                await recording.start_recording()

        else:  # openrevox's PhoneSession layout and worker, its gate open
            gate = phone_call.AgentGate()
            gate.is_open = True
            llm = session.make_llm(LLMEndpoint(llm_url, "bench", "bench"))
            agent = [gate, TurnToLLM(trace), llm, phone_call.AgentSpeech(), StandInTTS(trace)]
            ears = [transport, StandInSTT(), aggregators.user(), vad]
            tails = [phone_call.CallTracks(), phone_call.SaidSentences(), aggregators.assistant()]
            worker = session.pipeline_worker(phone_call.phone_processors(*ears, agent, *tails))

        @transport.event_handler("on_client_disconnected")
        async def disconnected(*_) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


def serve_worker(args) -> None:
    import logging

    import uvicorn
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.getLogger("uvicorn.access").disabled = True
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    app = worker_app(args.mode == "stock", args.llm_url, not args.no_default_observers)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=2**20))
    server.run(sockets=[sock])


def serve_llm() -> None:
    import logging

    from scripted_llm import Reply, ScriptedLLM

    logging.getLogger("aiohttp.server").disabled = True  # a call ending mid-reply is no news

    with ScriptedLLM(
        responder=lambda _body: Reply.text(REPLY), first_token_delay=LLM_FIRST_SECS, token_delay=LLM_WORD_SECS
    ) as llm:
        print(f"URL {llm.base_url}", flush=True)
        sys.stdin.read()  # until the orchestrator closes our stdin


# --------------------------------------------------------------------------------------------
# the callers


@dataclass
class Turn:
    speech_end: int  # index of the last speech frame
    first_audio: float | None = None
    audio: list[tuple[float, float]] = field(default_factory=list)  # agent's media: (arrival, secs)

    def stalls(self) -> list[float]:
        """Where the reply, played as it arrives, ran dry: each media message that came after the
        audio before it had finished playing, by how late (s). Pipecat sends a reply's audio at
        the pace it plays, so a worker's late event loop is heard as these gaps."""
        gaps, played_until = [], None
        for arrival, secs in self.audio:
            if played_until is not None and arrival > played_until:
                gaps.append(arrival - played_until)
            played_until = max(arrival, played_until or arrival) + secs
        return gaps


@dataclass
class CallLog:
    call_id: str
    sent: list[float] = field(default_factory=list)  # send time of each frame, by index
    turns: list[Turn] = field(default_factory=list)
    clears: int = 0
    error: str | None = None
    ended: float = 0.0


def ulaw_frames(pcm: bytes) -> list[str]:
    pcm += bytes(-len(pcm) % (2 * FRAME_SAMPLES))
    ulaw = audioop.lin2ulaw(pcm, 2)
    return [base64.b64encode(ulaw[i : i + FRAME_SAMPLES]).decode() for i in range(0, len(ulaw), FRAME_SAMPLES)]


def caller_lines() -> list[list[str]]:
    from openrevox.agent.speech import CALLEE_VOICE, synthesize

    return [ulaw_frames(synthesize(line, CALLEE_VOICE)) for line in CALLER_LINES]


async def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def caller(url: str, index: int, lines: list[list[str]], turns: int, start_at: float) -> CallLog:
    import websockets

    log = CallLog(f"CA{index:032d}")
    stream_sid = f"MZ{index:032d}"
    silence = ulaw_frames(bytes(2 * FRAME_SAMPLES))[0]
    await sleep_until(start_at)
    try:
        async with websockets.connect(url, compression=None, max_size=None) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            start = {"streamSid": stream_sid, "callSid": log.call_id, "accountSid": "AC" + "0" * 32,
                     "tracks": ["inbound"], "customParameters": {},
                     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}  # fmt: skip
            opening = {"event": "start", "sequenceNumber": "1", "start": start, "streamSid": stream_sid}
            await ws.send(json.dumps(opening))
            heard = {"last": 0.0}
            receiver = asyncio.create_task(listen(ws, log, heard))
            origin = time.monotonic()

            async def send(payload: str) -> None:
                index = len(log.sent)
                await sleep_until(origin + (index + 1) * FRAME_SECS)  # the frame's audio is complete
                log.sent.append(time.monotonic())
                await ws.send(
                    f'{{"event":"media","sequenceNumber":"{index + 2}","media":{{"track":"inbound",'
                    f'"chunk":"{index + 1}","timestamp":"{index * 20}","payload":"{payload}"}},'
                    f'"streamSid":"{stream_sid}"}}'
                )

            for _ in range(round(LEAD_IN_SECS / FRAME_SECS)):
                await send(silence)
            for k in range(turns):
                for payload in lines[(index + k) % len(lines)]:
                    await send(payload)
                log.turns.append(turn := Turn(len(log.sent) - 1))
                asked = time.monotonic()
                while True:
                    await send(silence)
                    now = time.monotonic()
                    if turn.first_audio is not None and now - heard["last"] > REPLY_END_SECS:
                        break
                    if turn.first_audio is None and now - asked > REPLY_TIMEOUT_SECS:
                        break
                for _ in range(round(GAP_SECS / FRAME_SECS)):
                    await send(silence)
            receiver.cancel()
    except Exception as error:  # reported per run, the other calls go on
        log.error = f"{type(error).__name__}: {error}"
    log.ended = time.monotonic()
    return log


async def listen(ws, log: CallLog, heard: dict) -> None:
    async for raw in ws:
        message = json.loads(raw)
        event = message.get("event")
        if event == "media":
            now = heard["last"] = time.monotonic()
            if log.turns and log.turns[-1].first_audio is None:
                log.turns[-1].first_audio = now
            if log.turns:
                log.turns[-1].audio.append((now, len(base64.b64decode(message["media"]["payload"])) / 8000))
        elif event == "clear":
            log.clears += 1


# --------------------------------------------------------------------------------------------
# orchestrator


def start_role(*args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    line = process.stdout.readline().split()
    if not line:
        raise SystemExit(f"bench/agent.py {' '.join(args)} did not start")
    return process, line[1]


def proc_cpu(pid: int, task: int | None = None) -> float:
    path = f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_ready(port: str) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/stats")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"worker on port {port} never answered")


@dataclass
class Sample:
    at: float
    cpu: list[float]  # per worker, all threads (s)
    loop_cpu: list[float]  # per worker, its main thread: the event loop (s)
    callers_cpu: float
    rss: list[float]
    machine: tuple[int, int]  # all CPUs: (busy, total) jiffies
    threads: list[dict[int, float]]  # per worker, each thread's CPU (s) by its id


def sample(workers) -> Sample:
    pids = [process.pid for process, _ in workers]
    return Sample(
        time.monotonic(),
        [proc_cpu(pid) for pid in pids],
        [proc_cpu(pid, pid) for pid in pids],
        time.process_time(),
        [proc_rss_mb(pid) for pid in pids],
        machine_jiffies(),
        [threads_cpu(pid) for pid in pids],
    )


def threads_cpu(pid: int) -> dict[int, float]:
    """Each thread's CPU so far (s); a thread that ended between listing and reading is left out."""
    seconds = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            seconds[int(task.name)] = proc_cpu(pid, int(task.name))
        except (FileNotFoundError, ProcessLookupError):
            pass
    return seconds


def machine_jiffies() -> tuple[int, int]:
    """All CPUs' busy and total time so far (/proc/stat; idle and iowait are not busy)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


async def run_case(mode: str, calls: int, procs: int, turns: int, llm_url: str, lines, worker_args, pin: bool) -> dict:
    """One row; with `pin`, worker k runs on CPU k + 1 (the bench itself on CPU 0)."""
    import httpx

    workers = [
        start_role("--role", "worker", "--mode", mode, "--llm-url", llm_url, *worker_args, *(["--cpu", str(1 + k)] if pin else []))
        for k in range(procs)
    ]
    try:
        await asyncio.gather(*(wait_ready(port) for _, port in workers))
        await asyncio.sleep(1.0)
        idle = sample(workers)
        total = calls * procs
        spread = min(3.0, 0.1 * total)  # calls come in over a few seconds, out of step
        begin = time.monotonic() + 0.5
        tasks = [
            asyncio.create_task(
                caller(f"ws://127.0.0.1:{workers[i % procs][1]}/media", i, lines, turns, begin + spread * i / total)
            )
            for i in range(total)
        ]
        samples = [idle]

        async def sampler() -> None:
            while True:
                await asyncio.sleep(0.5)
                samples.append(sample(workers))

        sampling = asyncio.create_task(sampler())
        logs = await asyncio.gather(*tasks)
        sampling.cancel()
        samples.append(sample(workers))  # the whole run's CPU, to divide by its verdicts
        async with httpx.AsyncClient(timeout=30) as http:
            replies = [(await http.get(f"http://127.0.0.1:{port}/stats")).json() for _, port in workers]
    finally:
        for process, _ in workers:
            process.terminate()
        for process, _ in workers:
            process.wait()
    # The steady window: every call up, none finished.
    opened = begin + spread + 1.0
    closed = min((log.ended for log in logs if not log.error), default=samples[-1].at)
    inside = [s for s in samples if opened <= s.at <= closed] or samples[-2:]
    first, last = inside[0], inside[-1]
    elapsed = max(last.at - first.at, 1e-9)
    traces = {call: trace for reply in replies for call, trace in reply["traces"].items()}
    lags = [lag for reply in replies for at, lag in reply["lags"] if opened <= at <= closed]
    vad_runs = sum(reply["vad_batches"][0] for reply in replies if reply["vad_batches"])
    vad_windows = sum(reply["vad_batches"][1] for reply in replies if reply["vad_batches"])
    n_verdicts = sum(len(trace["verdict_secs"]) for trace in traces.values())
    models_cpu = {  # NaN where no thread has the name (stock's executors)
        model: sum(
            [
                done.get(int(tid), 0.0) - before.get(int(tid), 0.0)
                for reply, before, done in zip(replies, idle.threads, samples[-1].threads)
                for tid, name in reply["threads"].items()
                if name.startswith(model)
            ]
            or [float("nan")]
        )
        for model in ("smart-turn", "silero")
    }
    return summarize(mode, calls, procs, turns, logs, traces, lags) | {
        "vad_windows_per_run": vad_windows / vad_runs if vad_runs else float("nan"),
        # Over the whole run, from the model threads' own CPU (openrevox's named threads only).
        "verdict_cpu_ms": 1000 * models_cpu["smart-turn"] / n_verdicts if n_verdicts else float("nan"),
        "silero_cpu_pct_per_call": 100 * models_cpu["silero"] / (samples[-1].at - idle.at) / total,
        "pinned": pin,
        "window_s": elapsed,
        "cpu_pct": 100 * (sum(last.cpu) - sum(first.cpu)) / elapsed,
        "loop_cpu_pct": 100 * (sum(last.loop_cpu) - sum(first.loop_cpu)) / elapsed,
        "cpu_pct_per_call": 100 * (sum(last.cpu) - sum(first.cpu)) / elapsed / total,
        "callers_cpu_pct": 100 * (last.callers_cpu - first.callers_cpu) / elapsed,
        # A thread that waits while this is well below 100 % waits for something else than a CPU.
        "machine_busy_pct": 100 * (last.machine[0] - first.machine[0]) / max(last.machine[1] - first.machine[1], 1),
        "idle_rss_mb": sum(idle.rss),
        "peak_rss_mb": max(sum(s.rss) for s in samples),
        "mb_per_call": (max(sum(s.rss) for s in samples) - sum(idle.rss)) / total,
    }


def summarize(mode, calls, procs, turns, logs, traces, lags) -> dict:
    added, decision, verdicts, stalls = [], [], [], []
    speech_secs = 0.0
    parts = {"input": [], "verdict": [], "turn": [], "llm": [], "output": []}
    lost = late = fallbacks = timeouts = unmatched = errors = misframed = 0
    answer = LLM_FIRST_SECS + (FIRST_SENTENCE_WORDS - 1) * LLM_WORD_SECS + TTS_FIRST_SECS
    for log in logs:
        trace = traces.get(log.call_id)
        if log.error or trace is None:
            errors += 1
            continue
        misframed += not 0 <= len(log.sent) - trace["frames"] <= 1  # the input may hold the last frame
        verdicts += trace["verdict_secs"]
        for turn in log.turns:
            found = [d for d in trace["decisions"] if d[1] >= turn.speech_end]
            if turn.first_audio is None:
                lost += 1
                continue
            if not found:
                unmatched += 1
                continue
            kind, frame, vad_stop = found[0]
            fallbacks += kind == "silence"
            timeouts += kind == "timeout"
            ideal = max(log.sent[frame], log.sent[vad_stop] + STT_SECS) + answer
            added.append(turn.first_audio - ideal)
            events = trace["events"]  # keyed by frame (JSON made the keys strings)
            stop_at = events["vad_stop"].get(str(vad_stop))
            verdict_at = events["verdict"].get(str(vad_stop))
            context_at = events["context"].get(str(frame))
            sentence_at = events["sentence"].get(str(frame))
            if None not in (stop_at, verdict_at, context_at, sentence_at):
                parts["input"].append(stop_at - log.sent[vad_stop])
                parts["verdict"].append(verdict_at - stop_at)
                ready = max(log.sent[frame], verdict_at if kind != "silence" else 0, stop_at + STT_SECS)
                parts["turn"].append(context_at - ready)
                parts["llm"].append(sentence_at - context_at - (answer - TTS_FIRST_SECS))
                parts["output"].append(turn.first_audio - sentence_at - TTS_FIRST_SECS)
            decision.append(log.sent[frame] - log.sent[turn.speech_end])
            stalls += turn.stalls()
            speech_secs += sum(secs for _, secs in turn.audio)
            late += added[-1] > LATE_SECS
    n_turns = sum(len(log.turns) for log in logs)
    return {
        "mode": mode, "calls_per_proc": calls, "procs": procs,
        "turns": n_turns, "expected_turns": calls * procs * turns,
        "lost": lost, "late": late, "errors": errors, "unmatched": unmatched, "misframed": misframed,
        "silence_fallbacks": fallbacks, "verdict_timeouts": timeouts,
        "added_p50_ms": pct(added, 0.5) * 1000, "added_p95_ms": pct(added, 0.95) * 1000,
        "added_max_ms": max(added, default=float("nan")) * 1000,
        "decision_p50_ms": pct(decision, 0.5) * 1000,
        "verdict_p50_ms": pct(verdicts, 0.5) * 1000, "verdict_p95_ms": pct(verdicts, 0.95) * 1000,
        "verdicts_per_turn": len(verdicts) / max(n_turns, 1),
        "lag_p50_ms": pct(lags, 0.5) * 1000, "lag_p99_ms": pct(lags, 0.99) * 1000,
        "lag_max_ms": max(lags, default=float("nan")) * 1000,
        # The agent's audio as heard: gaps over 20 ms per minute of its speech, and how long.
        "stalls_per_min": 60 * sum(gap > 0.02 for gap in stalls) / max(speech_secs, 1e-9),
        "stall_ms_per_min": 60_000 * sum(stalls) / max(speech_secs, 1e-9),
        "stall_max_ms": max(stalls, default=0.0) * 1000,
        "first_error": next((log.error for log in logs if log.error), None),
        **{f"{part}_p50_ms": pct(values, 0.5) * 1000 for part, values in parts.items()},
        **{f"{part}_p95_ms": pct(values, 0.95) * 1000 for part, values in parts.items()},
    }  # fmt: skip


def vad_hop_costs() -> tuple[float, float]:
    """CPU per 20 ms frame of the shared VAD run inline vs. handed to a thread as stock does."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from openrevox.agent.audio_models import PHONE_SAMPLE_RATE, VAD_PARAMS, vad_analyzer
    from openrevox.agent.speech import CALLEE_VOICE, synthesize

    pcm = synthesize(" ".join(CALLER_LINES), CALLEE_VOICE)
    frames = [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]

    async def per_frame(analyzer, hop: bool) -> float:
        analyzer.set_sample_rate(PHONE_SAMPLE_RATE)
        loop, executor = asyncio.get_running_loop(), ThreadPoolExecutor(1)
        started = time.process_time()
        for frame in frames:
            if hop:
                await loop.run_in_executor(executor, analyzer._run_analyzer, frame)
            else:
                await analyzer.analyze_audio(frame)
        executor.shutdown()
        return (time.process_time() - started) / len(frames)

    inline = asyncio.run(per_frame(vad_analyzer(), hop=False))
    hopped = asyncio.run(per_frame(SileroVADAnalyzer(sample_rate=PHONE_SAMPLE_RATE, params=VAD_PARAMS), hop=True))
    return inline, hopped


def verdict_cost() -> float:
    """CPU of one Smart Turn verdict alone on this thread (features of a caller's sentence and the
    model): this host's speed now, to read the rows' in-worker figure against."""
    import numpy as np

    from openrevox.agent import audio_models
    from openrevox.agent.speech import CALLEE_VOICE, synthesize

    speech = np.frombuffer(synthesize(CALLER_LINES[0], CALLEE_VOICE), np.int16).astype(np.float32) / 32768
    model = audio_models._smart_turn_model()
    costs = []
    for _ in range(12):
        started = time.thread_time()
        model.probability(audio_models.smart_turn_input(speech, audio_models.PHONE_SAMPLE_RATE))
        costs.append(time.thread_time() - started)
    return statistics.median(costs[2:])  # the first runs size ONNX Runtime's memory


def print_row(r: dict) -> None:
    print(
        f"{r['mode']:5} {r['calls_per_proc']:>4}x{r['procs']}{' pinned' if r['pinned'] else ''} | turns {r['turns'] - r['lost']}/{r['expected_turns']} "
        f"lost {r['lost']} late {r['late']} fallback {r['silence_fallbacks']} "
        f"no verdict {r.get('verdict_timeouts', 0)} err {r['errors']} | "
        f"added p50 {r['added_p50_ms']:.0f} p95 {r['added_p95_ms']:.0f} max {r['added_max_ms']:.0f} ms | "
        f"decision p50 {r['decision_p50_ms']:.0f} ms | "
        f"added = input {r['input_p50_ms']:.0f}/{r['input_p95_ms']:.0f} "
        f"+ turn {r['turn_p50_ms']:.0f}/{r['turn_p95_ms']:.0f} "
        f"+ LLM {r['llm_p50_ms']:.0f}/{r['llm_p95_ms']:.0f} "
        f"+ output {r['output_p50_ms']:.0f}/{r['output_p95_ms']:.0f} ms (p50/p95; verdict wait "
        f"{r['verdict_p50_ms']:.0f}/{r['verdict_p95_ms']:.0f} overlaps the STT's {STT_SECS * 1000:.0f}; "
        f"{r['verdicts_per_turn']:.1f} verdicts per turn) | "
        f"CPU {r['cpu_pct']:.0f}% (loop {r['loop_cpu_pct']:.0f}%) {r['cpu_pct_per_call']:.1f}%/call | "
        f"RSS {r['idle_rss_mb']:.0f}->{r['peak_rss_mb']:.0f} MB, {r['mb_per_call']:.1f} MB/call | "
        f"lag p50 {r['lag_p50_ms']:.1f} p99 {r['lag_p99_ms']:.1f} max {r['lag_max_ms']:.0f} ms | "
        f"agent audio gaps > 20 ms {r['stalls_per_min']:.1f}/min, {r['stall_ms_per_min']:.0f} ms/min "
        f"(max {r['stall_max_ms']:.0f}) | "
        f"VAD windows per model run {r['vad_windows_per_run']:.1f}, Silero {r['silero_cpu_pct_per_call']:.2f}% of a core a call, "
        f"Smart Turn {r['verdict_cpu_ms']:.0f} ms of CPU a verdict | "
        f"callers' CPU {r['callers_cpu_pct']:.0f}%, machine {r['machine_busy_pct']:.0f}% busy, "
        f"load average {r['load_average']:.1f}"
        + (f" | frames mismatched in {r['misframed']} calls" if r["misframed"] else "")
        + (f" | first error: {r['first_error']}" if r["first_error"] else ""),
        flush=True,
    )


def goals(r: dict) -> list[str]:
    missed = []
    if r["added_p95_ms"] >= GOAL_ADDED_P95_MS:
        missed.append(f"p95 added {r['added_p95_ms']:.0f} ms >= {GOAL_ADDED_P95_MS}")
    if r["lost"] or r["errors"]:
        missed.append(f"{r['lost']} lost turns, {r['errors']} failed calls")
    if r["mb_per_call"] >= GOAL_MB_PER_CALL:
        missed.append(f"{r['mb_per_call']:.1f} MB per call >= {GOAL_MB_PER_CALL}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,10,25,50", help="concurrent calls per worker process")
    parser.add_argument("--procs", type=int, default=1, help="worker processes")
    parser.add_argument("--turns", type=int, default=5, help="caller turns per call")
    parser.add_argument("--modes", default="ours,stock", help="ours (openrevox.agent.audio_models), stock")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument(
        "--no-default-observers",
        action="store_true",
        help="stock mode: PipelineWorker without its turn-tracking and idle observers (to see what they cost)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="each worker process on a CPU of its own (1, 2, ...), the callers and the LLM stand-in "
        "on CPU 0: what one core holds, with the bench's own load kept off it",
    )
    parser.add_argument("--role", choices=["orchestrator", "worker", "llm"], default="orchestrator")
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--llm-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu is not None:  # before any thread exists: the ones it starts keep the CPU
        os.sched_setaffinity(0, {args.cpu})
    if args.role == "worker":
        return serve_worker(args)
    if args.role == "llm":
        return serve_llm()

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start", flush=True)
    inline, hopped = vad_hop_costs()
    print(f"VAD CPU per 20 ms frame: inline {inline * 1e6:.0f} us, stock thread hop {hopped * 1e6:.0f} us", flush=True)
    print(f"Smart Turn alone: {verdict_cost() * 1000:.0f} ms of CPU a verdict (this host's speed now)", flush=True)
    lines = caller_lines()
    worker_args = ["--no-default-observers"] if args.no_default_observers else []
    if args.pin:
        if args.procs >= os.cpu_count():
            raise SystemExit(f"--pin needs a CPU per worker and one more: {args.procs} workers, {os.cpu_count()} CPUs")
        os.sched_setaffinity(0, {0})  # the callers, and the LLM stand-in started below, on CPU 0
    llm, llm_url = start_role("--role", "llm")
    rows, failed = [], False
    try:
        for calls in (int(n) for n in args.calls.split(",")):
            for mode in args.modes.split(","):  # side by side, so both see the machine alike
                row = asyncio.run(run_case(mode, calls, args.procs, args.turns, llm_url, lines, worker_args, args.pin))
                row["load_average"] = os.getloadavg()[0]  # the machine may be shared: say how busy
                rows.append(row)
                print_row(row)
                failed |= row["errors"] > 0
                for miss in goals(row):
                    print(f"      goal missed: {miss}")
    finally:
        llm.stdin.close()
        llm.wait()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
