"""The process-shared VAD and Smart Turn analyzers (openrevox.agent.audio_models) decide as stock
Pipecat does on real speech at phone rate, and keep each call's state to that call."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import types

import numpy as np
import pytest
import threadpoolctl
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn import base_smart_turn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState

from openrevox.agent import audio_models
from openrevox.agent.audio_models import (
    PHONE_SAMPLE_RATE,
    SETTLED_SECS,
    SMART_TURN_NICE,
    SMART_TURN_THREADS,
    smart_turn_threads,
    SileroBatches,
    _silero_batches,
    _silero_session,
    _SileroState,
    TURN_PARAMS,
    VAD_PARAMS,
    turn_analyzer,
    vad_analyzer,
)
from openrevox.agent.speech import CALLEE_VOICE, synthesize

pytestmark = pytest.mark.usefixtures("silero_without_gathering")
GATHER_SECS = SileroBatches.GATHER_SECS  # production's, read before the fixture sets it to 0

FRAME_BYTES = 2 * PHONE_SAMPLE_RATE // 50  # 20 ms of 16-bit audio, as a phone stream brings it
SENTENCES = [
    "Hi, yes, this is Sam speaking.",
    "I would like to move my appointment to Thursday afternoon if that works.",
    "Actually, could you tell me",  # trails off: Smart Turn should want more
    "Thank you so much, that is all I needed.",
]


def silence(seconds: float) -> bytes:
    return bytes(2 * round(seconds * PHONE_SAMPLE_RATE))


@pytest.fixture(scope="module")
def conversation() -> bytes:
    """The sentences with a second of line silence around each, 8 kHz PCM."""
    parts = [silence(0.5)]
    for sentence in SENTENCES:
        parts += [synthesize(sentence, CALLEE_VOICE), silence(1.0)]
    return b"".join(parts)


def frames(pcm: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def ready(analyzer):
    analyzer.set_sample_rate(PHONE_SAMPLE_RATE)  # what the pipeline does at start
    return analyzer


def stock_vad() -> SileroVADAnalyzer:
    return ready(SileroVADAnalyzer(sample_rate=PHONE_SAMPLE_RATE, params=VAD_PARAMS))


async def vad_states(analyzer, pcm: bytes, size: int = FRAME_BYTES) -> list[VADState]:
    return [await analyzer.analyze_audio(frame) for frame in frames(pcm, size)]


def speech_segments(states: list[VADState]) -> int:
    """How many times the user started speaking, as Pipecat's VAD controller reports it (it
    ignores STARTING and STOPPING)."""
    reported = [s for s in states if s in (VADState.QUIET, VADState.SPEAKING)]
    return sum(1 for a, b in zip(reported, reported[1:]) if b == VADState.SPEAKING != a)


def test_shared_vad_hears_the_same_speech_as_stock_silero(conversation):
    stock = asyncio.run(vad_states(stock_vad(), conversation))
    shared = asyncio.run(vad_states(ready(vad_analyzer()), conversation))

    assert shared == stock
    # At least one start per sentence (a pause inside one may split it), and never in silence.
    assert len(SENTENCES) <= speech_segments(shared) <= 2 * len(SENTENCES)
    assert shared[: int(0.5 * 50)] == [VADState.QUIET] * 25
    assert shared[-1] == VADState.QUIET


def test_a_call_is_settled_only_after_half_a_second_quiet_or_speaking(conversation):
    """Around a start or a stop of speech a call's Silero windows go to the model at once; only
    after SETTLED_SECS in one state may they wait for other calls' (`SileroBatches`)."""

    async def story() -> list[tuple[VADState, bool]]:
        vad = ready(vad_analyzer())
        return [(await vad.analyze_audio(frame), vad.settled) for frame in frames(conversation)]

    seen, held, settled_in = asyncio.run(story()), 0.0, set()
    window = 0.032  # Silero's at 8 kHz: the state may change mid-frame, the count is in windows
    for index, (state, settled) in enumerate(seen):
        held = held + 0.02 if index and state == seen[index - 1][0] else 0.02
        if settled:
            settled_in.add(state)
            assert held >= SETTLED_SECS - window
        elif state in (VADState.QUIET, VADState.SPEAKING):
            assert held < SETTLED_SECS + window
    assert settled_in == {VADState.QUIET, VADState.SPEAKING}


def test_shared_vad_fed_two_frames_at_a_time_decides_as_stock_fed_one(conversation):
    """The phone input hands the pipeline two 20 ms carrier frames at once (whose 40 ms end
    inside a 32 ms Silero window as often as not): after each pair the state is stock's after
    its second frame."""
    stock = asyncio.run(vad_states(stock_vad(), conversation))
    scored = _silero_batches().windows
    shared = asyncio.run(vad_states(ready(vad_analyzer()), conversation, 2 * FRAME_BYTES))

    heard_bytes = sum(len(pair) for pair in frames(conversation, 2 * FRAME_BYTES))
    # Every window, through the batches; a pair's second window is scored again when the model
    # was reset after its first (stock resets at most once per 2 s of audio). This conversation
    # has such a pair, so the decisions below were made across a reset too.
    rescored = _silero_batches().windows - scored - heard_bytes // 512
    assert 1 <= rescored <= len(conversation) // (2 * 2 * PHONE_SAMPLE_RATE)
    assert shared == stock[1::2][: len(shared)]
    assert len(shared) == len(stock) // 2
    assert speech_segments(shared) == speech_segments(stock)


def test_calls_sharing_the_vad_model_keep_their_own_state(conversation):
    """Two calls on one process-wide session, frames interleaved: one hears the conversation,
    the other a silent line; each decides as if alone."""

    async def interleaved():
        talking, quiet = ready(vad_analyzer()), ready(vad_analyzer())
        assert talking._model.session is quiet._model.session  # one session per process
        heard, silent = [], []
        for frame in frames(conversation):
            heard.append(await talking.analyze_audio(frame))
            silent.append(await quiet.analyze_audio(bytes(len(frame))))
        return heard, silent

    heard, silent = asyncio.run(interleaved())

    assert heard == asyncio.run(vad_states(stock_vad(), conversation))
    assert set(silent) == {VADState.QUIET}


def test_concurrent_calls_are_scored_in_shared_batches_and_each_decides_as_stock(conversation):
    """Four calls whose frames arrive together, as on a busy worker: their windows go through the
    model in batches, and each call's decisions are stock Silero's on its own audio."""
    silence = bytes(len(conversation))
    lines = [conversation, silence, conversation[::-1], conversation]  # reversed: other audio, same volume

    async def together():
        calls = [ready(vad_analyzer()) for _ in lines]
        batches = _silero_batches()
        runs, windows = batches.runs, batches.windows
        heard: list[list[VADState]] = [[] for _ in lines]
        for frame_set in zip(*(frames(line) for line in lines), strict=True):
            states = await asyncio.gather(*(call.analyze_audio(f) for call, f in zip(calls, frame_set, strict=True)))
            for seen, state in zip(heard, states, strict=True):
                seen.append(state)
        return heard, batches.runs - runs, batches.windows - windows

    heard, runs, windows = asyncio.run(together())

    for line, states in zip(lines, heard, strict=True):
        assert states == asyncio.run(vad_states(stock_vad(), line))
    heard_bytes = sum(len(frame) for frame in frames(conversation))
    assert windows == 4 * (heard_bytes // 512)  # every 32 ms window of every call, once
    assert runs == windows // 4  # four calls' windows per model run


class FailingOnce:
    """A Silero session whose first run fails, as an ONNX Runtime error would."""

    def __init__(self) -> None:
        self.session, self.failed = _silero_session(), False

    def run(self, *args):  # noqa: ANN002, ANN201
        if not self.failed:
            self.failed = True
            raise RuntimeError("model run failed")
        return self.session.run(*args)


def test_a_failed_model_run_fails_its_windows_and_the_batches_go_on():
    """The batches' thread outlives a failed run: the windows in it get the error (each call's
    VAD logs it and hears silence), later windows are scored (calls would hang otherwise)."""
    batches = SileroBatches(FailingOnce())

    async def story() -> float:
        model, window = _SileroState(_silero_session()), np.zeros(256, np.float32)
        with pytest.raises(RuntimeError, match="model run failed"):
            await asyncio.wait_for(batches.score(model, [window], PHONE_SAMPLE_RATE, urgent=True), 2)
        return await asyncio.wait_for(batches.score(model, [window, window], PHONE_SAMPLE_RATE, urgent=False), 2)

    scores = asyncio.run(story())
    assert len(scores) == 2 and all(0.0 <= score < VAD_PARAMS.confidence for score in scores)  # silence, scored


def test_windows_of_calls_in_steady_silence_or_speech_share_a_model_run():
    """Windows that decide nothing wait a few ms for other calls' (fewer, fuller runs)."""
    batches, window = SileroBatches(_silero_session()), np.zeros(256, np.float32)
    batches.GATHER_SECS = GATHER_SECS  # as in production (the module's other tests use 0)

    async def story() -> list[list[float]]:
        first = batches.score(_SileroState(_silero_session()), [window], PHONE_SAMPLE_RATE, urgent=False)
        await asyncio.sleep(0)  # the next turn of the loop: another call's frame
        second = batches.score(_SileroState(_silero_session()), [window], PHONE_SAMPLE_RATE, urgent=False)
        return await asyncio.wait_for(asyncio.gather(first, second), 2)

    assert len(asyncio.run(story())) == 2
    assert (batches.runs, batches.windows) == (1, 2)


def test_a_window_that_decides_goes_at_once_and_takes_the_waiting_ones_along():
    """A call counting toward a start or a stop of speech waits for nobody."""
    batches, window = SileroBatches(_silero_session()), np.zeros(256, np.float32)
    batches.GATHER_SECS = 10.0

    async def story() -> tuple[bool, list]:
        steady = [batches.score(_SileroState(_silero_session()), [window], PHONE_SAMPLE_RATE, urgent=False) for _ in range(2)]
        await asyncio.sleep(0.2)
        unscored = not any(future.done() for future in steady)
        deciding = batches.score(_SileroState(_silero_session()), [window], PHONE_SAMPLE_RATE, urgent=True)
        return unscored, await asyncio.wait_for(asyncio.gather(deciding, *steady), 2)

    unscored, scores = asyncio.run(story())
    assert unscored  # the steady calls' windows waited for company ...
    assert len(scores) == 3 and (batches.runs, batches.windows) == (1, 3)  # ... and went with the deciding one


class FrameClock:
    """Time as the audio tells it: 20 ms per frame, as frames arrive on a live call (BaseSmartTurn
    stamps buffered audio with time.monotonic())."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def perf_counter(self) -> float:
        return self.now


async def turn_verdicts(analyzer, pcm: bytes, clock: FrameClock) -> list[tuple[str, float]]:
    """Feed a call's audio as the turn stop strategy does: every frame with VAD's opinion of it,
    and a verdict asked at each VAD stop. Returns (state, probability) per verdict."""
    vad = stock_vad()
    speaking, verdicts = False, []
    for frame in frames(pcm):
        clock.now += 0.02
        state = await vad.analyze_audio(frame)
        if state == VADState.SPEAKING and not speaking:
            speaking = True
            analyzer.update_vad_start_secs(VAD_PARAMS.start_secs)
        elif state == VADState.QUIET and speaking:
            speaking = False
            verdict, metrics = await analyzer.analyze_end_of_turn()
            verdicts.append((verdict.name, round(metrics.probability, 3)))
        if analyzer.append_audio(frame, speaking) == EndOfTurnState.COMPLETE:
            verdicts.append(("SILENCE", 1.0))  # stop_secs of silence after an incomplete verdict
    return verdicts


@pytest.fixture
def frame_clock(monkeypatch) -> FrameClock:
    clock = FrameClock()
    fake_time = types.SimpleNamespace(monotonic=clock.monotonic, perf_counter=clock.perf_counter)
    monkeypatch.setattr(base_smart_turn, "time", fake_time)
    return clock


def test_shared_smart_turn_gives_stock_verdicts(conversation, frame_clock):
    stock = asyncio.run(
        turn_verdicts(ready(LocalSmartTurnAnalyzerV3(params=TURN_PARAMS)), conversation, frame_clock)
    )
    shared = asyncio.run(turn_verdicts(unhurried(ready(turn_analyzer())), conversation, frame_clock))

    assert [v for v, _ in shared] == [v for v, _ in stock]
    assert [p for _, p in shared] == pytest.approx([p for _, p in stock], abs=2e-3)
    # Every sentence got a verdict, and the model's opinions differ between them.
    assert sum(v != "SILENCE" for v, _ in shared) >= len(SENTENCES)
    assert "COMPLETE" in {v for v, _ in shared}


def test_concurrent_calls_get_their_own_smart_turn_verdicts(conversation, frame_clock):
    """Calls asking the one model at the same moment each get the verdict on their own speech."""
    sentence = synthesize(SENTENCES[1], CALLEE_VOICE)
    trailing = synthesize(SENTENCES[2], CALLEE_VOICE)

    def primed(pcm: bytes):
        analyzer = unhurried(ready(turn_analyzer()))
        analyzer.update_vad_start_secs(VAD_PARAMS.start_secs)
        for frame in frames(silence(0.5)):
            analyzer.append_audio(frame, False)
        for frame in frames(pcm):
            analyzer.append_audio(frame, True)
        for frame in frames(silence(0.3)):
            analyzer.append_audio(frame, False)
        return analyzer

    async def verdicts(calls):
        results = await asyncio.gather(*(call.analyze_end_of_turn() for call in calls))
        return [round(metrics.probability, 3) for _, metrics in results]

    alone = [asyncio.run(verdicts([primed(pcm)]))[0] for pcm in (sentence, trailing)]
    together = asyncio.run(verdicts([primed(sentence), primed(trailing), primed(sentence)]))

    assert together == pytest.approx([alone[0], alone[1], alone[0]], abs=1e-6)
    assert alone[0] != pytest.approx(alone[1], abs=1e-3)


def unhurried(analyzer):
    """Verdicts compared with stock's, not timed: the test waits for each however busy the host."""
    analyzer.verdict_limit_secs = None
    return analyzer


class BusyModel:
    """A turn model whose threads are all taken: requests wait, and are dropped when cancelled."""

    def __init__(self) -> None:
        self.requests: list[asyncio.Future] = []

    async def complete_probability(self, audio: np.ndarray, sample_rate: int) -> float:
        self.requests.append(asyncio.get_running_loop().create_future())
        return await self.requests[-1]


def heard_saying(analyzer, sentence: str, quiet_secs: float):
    """`analyzer` after the callee said `sentence` and was quiet `quiet_secs` (VAD's stop to come)."""
    analyzer.update_vad_start_secs(VAD_PARAMS.start_secs)
    for frame in frames(synthesize(sentence, CALLEE_VOICE) + silence(quiet_secs)):
        analyzer.append_audio(frame, True)
    return analyzer


def test_a_turn_whose_verdict_is_late_ends_without_it_and_the_model_run_is_dropped(frame_clock):
    async def scenario():
        analyzer = heard_saying(ready(turn_analyzer()), SENTENCES[0], quiet_secs=0.2)
        real, busy = analyzer._model, BusyModel()
        analyzer._model, analyzer.verdict_limit_secs = busy, 0.05
        started = time.monotonic()
        state, metrics = await analyzer.analyze_end_of_turn()
        waited = time.monotonic() - started
        # The next turn, with the model free again, gets its verdict.
        analyzer._model, analyzer.verdict_limit_secs = real, 10.0
        heard_saying(analyzer, SENTENCES[1], quiet_secs=0.2)
        return state, metrics, waited, busy.requests, analyzer.late_verdicts, await analyzer.analyze_end_of_turn()

    state, metrics, waited, requests, late, (_, next_metrics) = asyncio.run(scenario())
    assert (state, metrics) == (EndOfTurnState.COMPLETE, None)  # the turn ends on the silence alone
    assert 0.05 <= waited < 1.0
    assert [request.cancelled() for request in requests] == [True]  # the model's thread skips it
    assert late == 1
    assert 0.0 <= next_metrics.probability <= 1.0


def test_a_call_hanging_up_mid_verdict_does_not_stall_the_others(frame_clock):
    async def scenario():
        analyzer = heard_saying(ready(turn_analyzer()), SENTENCES[0], quiet_secs=0.3)
        gone = asyncio.create_task(analyzer.analyze_end_of_turn())
        await asyncio.sleep(0)
        gone.cancel()
        state, metrics = await asyncio.wait_for(analyzer.analyze_end_of_turn(), timeout=10)
        return gone.cancelled(), metrics.probability

    cancelled, probability = asyncio.run(scenario())
    assert cancelled and 0.0 <= probability <= 1.0


def test_the_turn_model_keeps_numpys_blas_to_one_thread():
    """The Whisper features' matrix product must not wake a BLAS pool that spins on every core
    beside the calls (measured: a verdict then took twice its CPU time at 25 calls)."""
    turn_analyzer()
    pools = threadpoolctl.threadpool_info()
    assert [pool["num_threads"] for pool in pools if pool["user_api"] == "blas"] == [1]


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_verdicts_run_at_a_lower_priority_than_the_calls_loop_and_vad():
    """A verdict's ~50 ms of CPU must not hold up the event loop that paces the agent's audio:
    Smart Turn's threads run SMART_TURN_NICE levels below the process, Silero's and the loop at
    the process's own."""
    turn_analyzer()
    _silero_batches()
    process = os.getpriority(os.PRIO_PROCESS, 0)

    def nice(thread: threading.Thread) -> int:
        return os.getpriority(os.PRIO_PROCESS, thread.native_id)

    deadline = time.monotonic() + 5  # each thread lowers itself as it starts
    while time.monotonic() < deadline:
        verdicts = [nice(t) for t in threading.enumerate() if t.name.startswith("smart-turn")]
        if len(verdicts) == smart_turn_threads() and set(verdicts) == {min(19, process + SMART_TURN_NICE)}:
            break
        time.sleep(0.01)
    assert verdicts == [min(19, process + SMART_TURN_NICE)] * smart_turn_threads()
    assert {nice(t) for t in threading.enumerate() if t.name == "silero"} == {process}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == process


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_a_system_refusing_the_lower_priority_leaves_the_verdicts_running(monkeypatch, caplog):
    """Lowering the priority is a courtesy to the loop: where it is refused, the thread that asked
    must go on to serve verdicts (an exception there would leave every call without one)."""

    def refuse(*args) -> None:  # noqa: ANN002
        raise PermissionError("Operation not permitted")

    monkeypatch.setattr(audio_models.os, "setpriority", refuse)
    with caplog.at_level("WARNING", logger="openrevox.agent"):
        audio_models._lower_priority(SMART_TURN_NICE)
    assert "event loop's priority" in caplog.text


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_a_process_pinned_to_one_cpu_runs_one_verdict_at_a_time(monkeypatch):
    """Two verdict threads on one CPU share it and both verdicts finish late; on two or more
    CPUs the second thread takes the next verdict while the first runs."""
    monkeypatch.setattr(audio_models.os, "sched_getaffinity", lambda pid: {3})
    assert smart_turn_threads() == 1
    monkeypatch.setattr(audio_models.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert smart_turn_threads() == SMART_TURN_THREADS == 2
