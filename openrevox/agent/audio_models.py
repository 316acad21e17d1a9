"""Voice activity and end-of-turn models for phone calls, shared by every call in a process.

The pipeline builder asks for fresh analyzers per call:

    LLMUserAggregatorParams(
        vad_analyzer=vad_analyzer(),                       # Silero at 8 kHz, phone audio
        user_turn_strategies=UserTurnStrategies(
            stop=[TurnAnalyzerUserTurnStopStrategy(turn_analyzer=turn_analyzer())]
        ),
    )

A worker calls `preload()` at start, so its first call does not wait for the models to load.
Both are drop-in Pipecat analyzers that decide exactly as stock Pipecat 1.14 does
(`SileroVADAnalyzer`, `LocalSmartTurnAnalyzerV3`), minus what stock spends per call:

- Stock loads an ONNX session per call (~10 MB for Silero, ~45 MB for Smart Turn) and gives each
  call two threads; VAD hands every 20 ms frame to its call's thread, which costs ~3x the model
  itself and, at 35 calls in a process, starves the event loop into collapse. Here each model is
  one session per process; a call keeps only its own recurrent state and audio buffer.
- Silero is scored in batches on a thread of its own: the windows that calls complete during one
  turn of the event loop go to the thread together at the start of the next when one of them
  is near a start or a stop of speech, else up to 8 ms later with whatever came meanwhile
  (`SileroBatches`), and batches that queue while it runs one are scored as one; the windows one
  audio frame completes (a 40 ms frame ends one or two) go in one trip, each scored after the
  one before it. A run costs ~0.2 ms whatever it holds up to a batch of 16 (~0.06 ms a window
  then), and a busy loop is exactly when windows pile up, so the model's cost per call falls as
  calls are added; on the thread (ONNX Runtime releases the GIL) the loop goes on with other
  calls' frames meanwhile: at 25 calls a process the loop's share of a core fell from ~58 to
  ~48 % (docs/benchmarks.md). A thread hop per window, as stock does, costs more than the model
  (`bench/agent.py` prints both at start).
- Smart Turn (~45-60 ms of CPU per verdict, once per VAD stop) runs on two threads per process
  (one where the process may use one CPU), in arrival order. Batching requests from several
  calls was measured and buys nothing: the CPU per verdict is flat from batch 1 to 6 (the model
  is compute-bound on a fixed 8 s input), while a batch makes every caller in it wait for the
  last; its input features are computed for the speech only (`turn_features`). Its time hides
  behind the STT's finalization, requested at the same VAD stop (at 25 calls a process, verdicts
  wait p95 ~0.1 s), once numpy's BLAS is held to one thread: its default pool spins beside the
  model and had doubled every verdict's time (docs/benchmarks.md, "Voice agent"). Its threads run at a lower
  priority than the loop (`SMART_TURN_NICE`): a frame's work must not wait behind a verdict's.
  A verdict not in 0.6 s after VAD's stop is not waited for (`VERDICT_LIMIT_SECS`): the turn
  ends on that silence alone, as in a pipeline without a turn model.

Parameters (why these):
- VAD `stop_secs` 0.2 s, Pipecat's default for a turn model: VAD stop only asks Smart Turn and
  the STT for a verdict, so a longer wait adds to every turn, a shorter one runs the turn model
  on gaps inside words. `start_secs` 0.2 s and `confidence` 0.7 as stock: barge-in on 200 ms of
  speech.
- Smart Turn `stop_secs` 1.5 s (stock 3 s): the silence after which a turn ends even when the
  model judged it incomplete. On 8 kHz audio Smart Turn v3 calls some complete sentences
  incomplete (2 of 4 espeak-ng sentences in the project's Pipecat study), and 3 s of dead air
  on a phone line sounds like a dropped call; 1.5 s still outlasts the hesitation pauses that
  make a turn incomplete.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sys
import threading
import time
import weakref
from importlib import resources
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
import soxr
import threadpoolctl
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from pipecat.metrics.metrics import MetricsData, TurnMetricsData

from openrevox.agent import turn_features

PHONE_SAMPLE_RATE = 8000
VAD_PARAMS = VADParams(confidence=0.7, start_secs=0.2, stop_secs=0.2, min_volume=0.6)
TURN_PARAMS = SmartTurnParams(stop_secs=1.5)

log = logging.getLogger("openrevox.agent")

# Verdicts come in bursts (several calls' turns end together); a second thread serves the next
# one while the first runs (ONNX Runtime releases the GIL): at 25 calls per process it cut the
# verdict wait p95 from ~1.1 s to ~0.4 s (docs/benchmarks.md). Only on a second CPU, though: on
# a process's one CPU two verdicts share it and both finish late (`smart_turn_threads`).
SMART_TURN_THREADS = 2
# How much lower Smart Turn's threads run than the calls' event loop and Silero: a verdict's ~50 ms
# of CPU can wait behind a frame's, a frame not behind a verdict. Pipecat sends the agent's audio
# at the pace it plays, so a loop that a verdict holds up is heard as a gap in the agent's voice:
# at 25 calls in each of two processes the callee heard 55-97 gaps over 20 ms a minute of the
# agent's speech, 4-13 with the verdicts at nice +10 (docs/benchmarks.md).
SMART_TURN_NICE = 10
# How long a call's VAD must have held one state, quiet or speaking, before its Silero windows may
# wait for other calls' to share a model run (`SileroBatches.GATHER_SECS`): around a start or a
# stop of speech every window goes at once, and so does the audio frame behind which the STT's
# final transcript (~0.1-0.3 s after a stop) waits in the user aggregator.
SETTLED_SECS = 0.5
# How long after VAD's stop a turn waits for Smart Turn's verdict: until the callee has been quiet
# 0.8 s (VAD's 0.2 s stop included), longer than most pauses inside a sentence, short of sounding
# like a dropped line. A verdict takes ~50-120 ms of CPU; one not in by then is queued behind others
# on an overloaded process (at 25 calls on a slow host verdicts waited p95 ~2 s, each second of it
# silence on the line), so the turn ends on that silence alone, as a pipeline without a turn model
# ends it, and the model's run is dropped if it has not begun: load shed where there is too much.
VERDICT_LIMIT_SECS = 0.6


def vad_analyzer(sample_rate: int = PHONE_SAMPLE_RATE) -> SharedSileroVADAnalyzer:
    """A call's voice activity detector, with the parameters production uses."""
    return SharedSileroVADAnalyzer(sample_rate=sample_rate, params=VAD_PARAMS)


def turn_analyzer() -> SharedSmartTurnAnalyzer:
    """A call's end-of-turn analyzer (its sample rate comes from the pipeline)."""
    return SharedSmartTurnAnalyzer(params=TURN_PARAMS)


def preload() -> None:
    """Load this process's models and run each once (ONNX Runtime sizes its memory on the first
    run), so that the first call waits for neither."""
    _SileroState(_silero_session())(np.zeros(256, np.float32), PHONE_SAMPLE_RATE)
    one_second = np.zeros(PHONE_SAMPLE_RATE, np.float32)
    _smart_turn_model().probability(smart_turn_input(one_second, PHONE_SAMPLE_RATE))


def _session(package: str, name: str) -> ort.InferenceSession:
    """An ONNX session on one CPU thread (calls are spread over processes, one per core)."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    path = str(resources.files(package).joinpath(name))
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _once(load):
    """`load()` run once per process, whichever thread asks first (`preload` may run in one)."""
    lock, loaded = threading.Lock(), []

    def get():
        with lock:
            if not loaded:
                loaded.append(load())
            return loaded[0]

    return get


_silero_session = _once(lambda: _session("pipecat.audio.vad.data", "silero_vad.onnx"))


class _SileroState(SileroOnnxModel):
    """Stock Silero inference over the process's session: the recurrent state and audio context
    that `SileroOnnxModel` keeps are this call's own."""

    def __init__(self, session: ort.InferenceSession):
        self.session = session
        self.sample_rates = [8000, 16000]
        self.reset_states()


class SileroBatches:
    """Scores the Silero windows of many calls in batches, on a thread of its own.

    Urgent windows (around a start or a stop of speech: `SharedSileroVADAnalyzer.settled`) go to
    the thread at the start of the event loop's next turn, with every window waiting by then; the
    others, a call in steady silence or speech, wait up to `GATHER_SECS` for company. Batches
    that queue while the thread runs one are scored together. A call may send several
    consecutive windows at once: the thread scores its first with the other calls' in one model
    run, its second in the next run, and so on, each from the state the one before it left. The
    loop builds each row and takes each answer, so a call's recurrent state and audio context
    (`_SileroState`) are only touched on the loop: a row carries them in and out, as
    `SileroOnnxModel.__call__` does for a batch of one."""

    # A model run costs ~0.7 ms in a busy worker whatever it holds up to a few windows (the
    # weights must come back into the cache), so fewer, fuller runs save CPU; a window that
    # decides nothing delays nothing by waiting, its call's next frame being 20-40 ms away. At
    # 25 calls a process: 2.8-4.4 -> 4.4-4.8 windows a run, Silero's CPU a call 0.48-0.53 ->
    # 0.39-0.47 % of a core; the bench's callers are settled only briefly, and with every window
    # waiting it fell to 0.28-0.32 % (docs/benchmarks.md).
    GATHER_SECS = 0.008

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.runs = self.windows = 0  # model runs and the windows they scored, since start
        self._pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> _Gathering
        self._batches: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="silero", daemon=True).start()

    def score(self, model: _SileroState, windows: list[np.ndarray], sample_rate: int, urgent: bool) -> asyncio.Future:
        """The speech confidence of each of `windows` (float32, consecutive Silero windows) as
        `model` hears them, in order; `urgent` ones without waiting for other calls' windows."""
        loop = asyncio.get_running_loop()
        if model._last_sr and model._last_sr != sample_rate:
            model.reset_states()
        context = model._context[0] if model._context.size else np.zeros(_silero_context(sample_rate), np.float32)
        future = loop.create_future()
        gathering = self._pending.get(loop) or self._pending.setdefault(loop, _Gathering())
        gathering.rows.append(_SileroRow(model, context, windows, model._state, sample_rate, future))
        if urgent and not gathering.soon:
            if gathering.handover:
                gathering.handover.cancel()
            gathering.handover, gathering.soon = loop.call_soon(self._hand_over, loop), True
        elif gathering.handover is None:
            gathering.handover = loop.call_later(self.GATHER_SECS, self._hand_over, loop)
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._batches.put((loop, self._pending.pop(loop).rows))

    def _serve(self) -> None:
        while True:
            batches = [self._batches.get()]
            while not self._batches.empty():
                batches.append(self._batches.get())
            for loop in {loop for loop, _ in batches}:
                rows = [row for batch_loop, batch in batches if batch_loop is loop for row in batch]
                for sample_rate in {row.sample_rate for row in rows}:
                    self._score([row for row in rows if row.sample_rate == sample_rate], sample_rate, loop)

    def _score(self, rows: list[_SileroRow], sample_rate: int, loop: asyncio.AbstractEventLoop) -> None:
        contexts, states = [row.context for row in rows], [row.state for row in rows]
        confidences: list[list[float]] = [[] for _ in rows]
        context_size = _silero_context(sample_rate)
        try:
            for step in range(max(len(row.windows) for row in rows)):
                scored = [i for i, row in enumerate(rows) if step < len(row.windows)]
                inputs = np.stack([np.concatenate((contexts[i], rows[i].windows[step])) for i in scored])
                out, state = self.session.run(None, {
                    "input": inputs,
                    "state": np.concatenate([states[i] for i in scored], axis=1),
                    "sr": np.array(sample_rate, dtype="int64"),
                })  # fmt: skip
                for j, i in enumerate(scored):
                    confidences[i].append(float(out[j, 0]))
                    states[i], contexts[i] = state[:, j : j + 1], inputs[j, -context_size:]
                self.runs += 1
                self.windows += len(scored)
            outcome = (confidences, states, contexts)
        except Exception as error:  # each call's VAD logs it and hears silence, as stock does
            outcome = error
        try:
            loop.call_soon_threadsafe(_answer, rows, outcome)
        except RuntimeError:  # that loop is closed: nobody waits for the answers
            pass


class _Gathering:
    """A loop's rows waiting for the thread, and the hand-over that will take them."""

    def __init__(self) -> None:
        self.rows: list[_SileroRow] = []
        self.handover: asyncio.Handle | None = None
        self.soon = False  # the hand-over comes at the loop's next turn, not after GATHER_SECS


class _SileroRow(NamedTuple):
    model: _SileroState
    context: np.ndarray  # the tail of the call's last window (zeros after a reset)
    windows: list[np.ndarray]
    state: np.ndarray  # the call's recurrent state before the first window
    sample_rate: int
    future: asyncio.Future


def _answer(rows: list[_SileroRow], outcome: tuple[list, list, list] | Exception) -> None:
    """On the loop: each row's confidences to its caller, the state they leave to its call."""
    for index, row in enumerate(rows):
        if row.future.done():  # cancelled by a call that ended meanwhile
            continue
        if isinstance(outcome, Exception):
            row.future.set_exception(outcome)
            continue
        confidences, states, contexts = outcome
        model = row.model
        model._state, model._context = states[index].copy(), contexts[index][np.newaxis].copy()
        model._last_sr, model._last_batch_size = row.sample_rate, 1
        row.future.set_result(confidences[index])


def _silero_context(sample_rate: int) -> int:
    """How many samples of the previous window Silero hears before each window."""
    return 64 if sample_rate == 16000 else 32


_silero_batches = _once(lambda: SileroBatches(_silero_session()))


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """`SileroVADAnalyzer` on the process's Silero session, its windows scored in the process's
    batches: a window is scored before Pipecat's own `_run_analyzer` takes the audio that ends
    it and asks `voice_confidence` for it, so the decisions are stock's, window by window."""

    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None):
        # Not SileroVADAnalyzer.__init__: it would load a session of this call's own.
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _SileroState(_silero_session())
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._scored = 0.0  # the confidence of the window the piece being analyzed completes
        self._windows_in_state = 0  # windows since VAD's state last changed

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Pipecat's VAD over `buffer`, cut where Silero windows end so that each piece completes
        at most one window. The windows `buffer` completes are scored first, in one trip through
        the batches; should the state machine reset the model after one of them (stock does
        after 2 s of quiet), those after it are scored again from the reset state."""
        state = self._vad_state
        size = self._vad_frames_num_bytes
        audio = self._vad_buffer + buffer
        windows = [audio[start : start + size] for start in range(0, len(audio) - size + 1, size)]
        scores = await self._scores(windows) if windows else []
        while buffer:
            completing = size - len(self._vad_buffer)  # bytes that end a window
            piece, buffer = buffer[:completing], buffer[completing:]
            if len(piece) < completing:
                state = self._run_analyzer(piece)
                continue
            self._scored, windows = scores.pop(0), windows[1:]
            before, state = state, self._run_analyzer(piece)
            self._windows_in_state = self._windows_in_state + 1 if state == before else 0
            if windows and self._windows_since_reset == 0:  # reset on this window
                scores = await self._scores(windows)
        return state

    @property
    def deciding(self) -> bool:
        """Whether VAD is counting windows toward a start or a stop of speech, when each window
        it waits for is felt in the turn's latency."""
        return self._vad_state in (VADState.STARTING, VADState.STOPPING)

    @property
    def settled(self) -> bool:
        """Whether the callee has been quiet, or speaking, for `SETTLED_SECS`: nothing the turn
        needs next (a decision, the STT's final transcript behind this frame) is in flight."""
        held = self._windows_in_state * self.num_frames_required() / self.sample_rate
        return not self.deciding and held >= SETTLED_SECS

    async def _scores(self, windows: list[bytes]) -> list[float]:
        samples = [np.frombuffer(window, np.int16).astype(np.float32) / 32768.0 for window in windows]
        try:
            return await _silero_batches().score(self._model, samples, self.sample_rate, urgent=not self.settled)
        except Exception as error:
            log.error("Silero VAD failed on a window: %s", error)
            return [0.0] * len(windows)

    def voice_confidence(self, buffer: bytes) -> float:
        self._maybe_reset_model(self._scored)
        return self._scored


def smart_turn_input(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Smart Turn v3's features for a speech segment (float32 at `sample_rate`), exactly as
    `LocalSmartTurnAnalyzerV3` computes them: 16 kHz, the last 8 s, Whisper log-mel."""
    if sample_rate != turn_features.SAMPLE_RATE:
        audio = soxr.resample(audio, sample_rate, turn_features.SAMPLE_RATE, quality="HQ")
    return turn_features.smart_turn_features(audio)


class SmartTurnModel:
    """Smart Turn v3 loaded once, run by `smart_turn_threads()` threads serving requests in arrival order."""

    def __init__(self) -> None:
        self._session = _session("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx")
        # The Whisper features' matrix product runs on numpy's OpenBLAS, whose default pool (a
        # thread per core) spins after every product: at 25 calls a process it took the CPU from
        # the model, a verdict's wall time twice its CPU time (docs/benchmarks.md). One thread,
        # as for the ONNX sessions; the setting is the process's.
        threadpoolctl.threadpool_limits(1, user_api="blas")
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        for n in range(smart_turn_threads()):
            threading.Thread(target=self._serve, name=f"smart-turn-{n}", daemon=True).start()

    def probability(self, features: np.ndarray) -> float:
        """The probability that the speech whose features these are is a complete turn."""
        logits = self._session.run(None, {"input_features": features[np.newaxis]})[0]
        return float(logits[0, 0])

    async def complete_probability(self, audio: np.ndarray, sample_rate: int) -> float:
        """`probability` of a speech segment, computed off the event loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._requests.put((audio, sample_rate, loop, future))
        return await future

    def _serve(self) -> None:
        _lower_priority(SMART_TURN_NICE)
        while True:
            audio, sample_rate, loop, future = self._requests.get()
            if future.cancelled():  # the call ended while it waited
                continue
            try:
                outcome = self.probability(smart_turn_input(audio, sample_rate))
                settle = future.set_result
            except Exception as error:  # the caller gets it, the thread lives on
                outcome, settle = error, future.set_exception
            try:
                loop.call_soon_threadsafe(_settle, future, settle, outcome)
            except RuntimeError:  # that loop is closed: nobody waits for the answer
                pass


def smart_turn_threads() -> int:
    """SMART_TURN_THREADS, or fewer when the process may run on fewer CPUs (a worker pinned to its
    core): there a second thread would only halve the speed of both verdicts. One core, 10 calls:
    added p95 168-360 ms with two threads, 55-116 with one (bench/agent.py --pin,
    docs/benchmarks.md)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(SMART_TURN_THREADS, cpus)


def _lower_priority(steps: int) -> None:
    """Run the calling thread `steps` nice levels below the process (Linux keeps a nice value per
    thread; elsewhere the thread keeps the process's, as it does where the system refuses)."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))
    except OSError as error:
        log.warning("Smart Turn runs at the event loop's priority: %s", error)


def _settle(future: asyncio.Future, settle, outcome) -> None:
    if not future.done():
        settle(outcome)


_smart_turn_model = _once(SmartTurnModel)


class SharedSmartTurnAnalyzer(BaseSmartTurn):
    """`LocalSmartTurnAnalyzerV3`'s verdicts from the process's `SmartTurnModel`, or none when the
    model is too late (`VERDICT_LIMIT_SECS`)."""

    verdict_limit_secs: float | None = VERDICT_LIMIT_SECS  # None: wait for every verdict, as stock

    def __init__(self, *, sample_rate: int | None = None, params: SmartTurnParams | None = None):
        super().__init__(sample_rate=sample_rate, params=params)
        self._model = _smart_turn_model()
        self.late_verdicts = 0  # turns ended without the model's verdict

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, MetricsData | None]:
        segment = self._speech_segment()
        if segment is None:
            return EndOfTurnState.INCOMPLETE, None
        started = time.perf_counter()
        verdict = self._model.complete_probability(segment, self.sample_rate)
        try:
            probability = await asyncio.wait_for(verdict, self.verdict_limit_secs)
        except TimeoutError:  # the callee has been quiet as long as a turn without a model waits
            self.late_verdicts += 1
            self._clear(EndOfTurnState.COMPLETE)
            return EndOfTurnState.COMPLETE, None
        state = EndOfTurnState.COMPLETE if probability > 0.5 else EndOfTurnState.INCOMPLETE
        if state == EndOfTurnState.COMPLETE:
            self._clear(state)
        return state, TurnMetricsData(
            processor="BaseSmartTurn",
            is_complete=state == EndOfTurnState.COMPLETE,
            probability=probability,
            e2e_processing_time_ms=(time.perf_counter() - started) * 1000,
        )

    def _speech_segment(self) -> np.ndarray | None:
        """The audio stock Smart Turn judges (`BaseSmartTurn._process_speech_segment`): from
        `pre_speech_ms` plus VAD's start delay before speech began, to now, at most
        `max_duration_secs`, as float32; taken now, so audio arriving while the model is busy
        stays for the next verdict."""
        if not self._audio_buffer:
            return None
        pre_speech_secs = self._params.pre_speech_ms / 1000 + self._vad_start_secs
        start = self._speech_start_time - pre_speech_secs
        first = next((i for i, (t, _) in enumerate(self._audio_buffer) if t >= start), 0)
        pcm = np.concatenate([chunk for _, chunk in self._audio_buffer[first:]])
        segment = pcm.astype(np.float32) / 32768.0
        return segment[-int(self._params.max_duration_secs * self.sample_rate) :]

    def _predict_endpoint(self, audio_array: np.ndarray) -> dict:
        """BaseSmartTurn's synchronous hook (its own executor path, unused by this class's
        `analyze_end_of_turn`), answered from the shared model."""
        probability = self._model.probability(smart_turn_input(audio_array, self.sample_rate))
        return {"prediction": int(probability > 0.5), "probability": probability}
