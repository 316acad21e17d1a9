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
- Silero runs on the event loop, batched: the windows that calls complete during one turn of
  the loop are scored by one `session.run` at the start of the next (a window waits for no
  timer, only for the loop's other ready work). A run costs ~0.2 ms whatever it holds up to a
  batch of 16 (~0.06 ms a window then), and a busy loop is exactly when windows pile up, so the
  model's cost per call falls as calls are added. A thread hop per window, as stock does, costs
  more than the model (`bench/agent.py` prints both at start).
- Smart Turn (~50-80 ms of CPU per verdict, once per VAD stop) runs on two threads per process,
  in arrival order. Batching requests from several calls was measured and buys nothing: the CPU
  per verdict is flat from batch 1 to 6 (the model is compute-bound on a fixed 8 s input), while
  a batch makes every caller in it wait for the last. On a quiet core its time hides behind the
  STT's finalization, requested at the same VAD stop; on a busy one it is most of what a turn
  adds (docs/benchmarks.md, "Voice agent").

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
import queue
import threading
import time
import weakref
from importlib import resources

import numpy as np
import onnxruntime as ort
import soxr
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState
from pipecat.metrics.metrics import MetricsData, TurnMetricsData

PHONE_SAMPLE_RATE = 8000
VAD_PARAMS = VADParams(confidence=0.7, start_secs=0.2, stop_secs=0.2, min_volume=0.6)
TURN_PARAMS = SmartTurnParams(stop_secs=1.5)

log = logging.getLogger("openrevox.agent")

# Verdicts come in bursts (several calls' turns end together); a second thread serves the next
# one while the first runs (ONNX Runtime releases the GIL): at 25 calls per process it cut the
# verdict wait p95 from ~1.1 s to ~0.4 s (docs/benchmarks.md).
SMART_TURN_THREADS = 2
_SMART_TURN_RATE = 16000  # the model hears 16 kHz audio ...
_SMART_TURN_SECS = 8  # ... the last 8 s of it, zero-padded in front when shorter


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
    """Scores the Silero windows of many calls with one model run per turn of the event loop.
    Each call's recurrent state and audio context stay its own (`_SileroState`): a batch row
    carries them in and out, as `SileroOnnxModel.__call__` does for a batch of one."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.runs = self.windows = 0  # model runs and the windows they scored, since start
        self._pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> waiting windows

    def score(self, model: _SileroState, window: np.ndarray, sample_rate: int) -> asyncio.Future:
        """The speech confidence of `window` (float32, one Silero window) as `model` hears it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        waiting = self._pending.setdefault(loop, [])
        if not waiting:
            loop.call_soon(self._run, loop)
        waiting.append((model, window, sample_rate, future))
        return future

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        waiting = self._pending.pop(loop, [])
        for sample_rate in {rate for _, _, rate, _ in waiting}:
            batch = [(model, window, future) for model, window, rate, future in waiting if rate == sample_rate]
            try:
                confidences = self._score_batch([(model, window) for model, window, _ in batch], sample_rate)
            except Exception as error:  # each call's VAD logs it and hears silence, as stock does
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, _, future), confidence in zip(batch, confidences, strict=True):
                if not future.done():  # not cancelled by a call that ended meanwhile
                    future.set_result(confidence)

    def _score_batch(self, batch: list[tuple[_SileroState, np.ndarray]], sample_rate: int) -> list[float]:
        context_size = 64 if sample_rate == 16000 else 32
        for model, _ in batch:
            if model._last_sr and model._last_sr != sample_rate:
                model.reset_states()
        # A row: the call's context (the tail of its last window; zeros after a reset), its window.
        empty = np.zeros(context_size, np.float32)
        inputs = np.stack([np.concatenate((model._context[0] if model._context.size else empty, window)) for model, window in batch])
        state = np.concatenate([model._state for model, _ in batch], axis=1)
        out, state = self.session.run(None, {"input": inputs, "state": state, "sr": np.array(sample_rate, dtype="int64")})
        for row, (model, _) in enumerate(batch):
            model._state = state[:, row : row + 1].copy()
            model._context = inputs[row : row + 1, -context_size:].copy()
            model._last_sr, model._last_batch_size = sample_rate, 1
        self.runs += 1
        self.windows += len(batch)
        return [float(c) for c in out[:, 0]]


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

    async def analyze_audio(self, buffer: bytes) -> VADState:
        """Pipecat's VAD over `buffer`, cut where Silero windows end so that each piece completes
        at most one window, scored in the batches before the state machine takes the piece."""
        state = self._vad_state
        while buffer:
            completing = self._vad_frames_num_bytes - len(self._vad_buffer)  # bytes that end a window
            piece, buffer = buffer[:completing], buffer[completing:]
            if len(piece) == completing:
                window = np.frombuffer(self._vad_buffer + piece, np.int16).astype(np.float32) / 32768.0
                try:
                    self._scored = await _silero_batches().score(self._model, window, self.sample_rate)
                except Exception as error:
                    log.error("Silero VAD failed on a window: %s", error)
                    self._scored = 0.0
            state = self._run_analyzer(piece)
        return state

    def voice_confidence(self, buffer: bytes) -> float:
        self._maybe_reset_model(self._scored)
        return self._scored


def smart_turn_input(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Smart Turn v3's features for a speech segment (float32 at `sample_rate`), exactly as
    `LocalSmartTurnAnalyzerV3` computes them: 16 kHz, the last 8 s, Whisper log-mel."""
    if sample_rate != _SMART_TURN_RATE:
        audio = soxr.resample(audio, sample_rate, _SMART_TURN_RATE, quality="HQ")
    samples = _SMART_TURN_SECS * _SMART_TURN_RATE
    audio = audio[-samples:]
    audio = np.pad(audio, (samples - len(audio), 0))
    return compute_whisper_log_mel_features(audio, do_normalize=True)


class SmartTurnModel:
    """Smart Turn v3 loaded once, run by SMART_TURN_THREADS threads serving requests in arrival order."""

    def __init__(self) -> None:
        self._session = _session("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx")
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        for n in range(SMART_TURN_THREADS):
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


def _settle(future: asyncio.Future, settle, outcome) -> None:
    if not future.done():
        settle(outcome)


_smart_turn_model = _once(SmartTurnModel)


class SharedSmartTurnAnalyzer(BaseSmartTurn):
    """`LocalSmartTurnAnalyzerV3`'s verdicts from the process's `SmartTurnModel`."""

    def __init__(self, *, sample_rate: int | None = None, params: SmartTurnParams | None = None):
        super().__init__(sample_rate=sample_rate, params=params)
        self._model = _smart_turn_model()

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, MetricsData | None]:
        segment = self._speech_segment()
        if segment is None:
            return EndOfTurnState.INCOMPLETE, None
        started = time.perf_counter()
        probability = await self._model.complete_probability(segment, self.sample_rate)
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
