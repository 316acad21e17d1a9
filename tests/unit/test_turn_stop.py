"""When the callee's turn ends (openrevox.agent.turn_stop): while Smart Turn decides, the user
aggregator goes on hearing the call, a verdict the callee made stale by speaking again is
dropped, and the STT's final transcript does not wait behind the callee's audio."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fakes.pipelines import running_pipeline
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import (
    DataFrame,
    InputAudioRawFrame,
    LLMContextFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.utils.time import time_now_iso8601

from openrevox.agent.audio_models import (
    PHONE_SAMPLE_RATE,
    TURN_PARAMS,
    VAD_PARAMS,
    SharedSileroVADAnalyzer,
    SharedSmartTurnAnalyzer,
)
from openrevox.agent.turn_stop import TranscriptsInLine, TurnStopInBackground

SOON = 2.0  # seconds: far more than a frame's trip through the pipeline


@dataclass
class Marker(DataFrame):
    """A frame sent behind VAD's stop, to see when the aggregator gets to it."""


class HeldVerdicts(SharedSmartTurnAnalyzer):
    """Smart Turn whose verdicts the test gives: each one asked is a future in `asked`."""

    def __init__(self) -> None:
        super().__init__(params=TURN_PARAMS)
        self.asked: asyncio.Queue[asyncio.Future] = asyncio.Queue()

    async def analyze_end_of_turn(self):  # noqa: ANN201
        verdict = asyncio.get_running_loop().create_future()
        self.asked.put_nowait(verdict)
        return await verdict, None


class Seen(FrameProcessor):
    """What comes out of the user aggregator: markers, and the turns handed to the LLM."""

    def __init__(self) -> None:
        super().__init__()
        self.markers: asyncio.Queue[Marker] = asyncio.Queue()
        self.turns: asyncio.Queue[str] = asyncio.Queue()

    async def process_frame(self, frame, direction: FrameDirection) -> None:  # noqa: ANN001
        await super().process_frame(frame, direction)
        if isinstance(frame, Marker):
            self.markers.put_nowait(frame)
        elif isinstance(frame, LLMContextFrame):
            self.turns.put_nowait(frame.context.get_messages()[-1]["content"])
        await self.push_frame(frame, direction)


class BusyVAD(SharedSileroVADAnalyzer):
    """VAD that hears silence and takes a while over each frame, as on a busy worker (a window
    waits for its batch); `heard` counts the frames it analyzed."""

    def __init__(self) -> None:
        super().__init__(sample_rate=PHONE_SAMPLE_RATE, params=VAD_PARAMS)
        self.heard = 0

    async def analyze_audio(self, buffer: bytes) -> VADState:
        await asyncio.sleep(0.005)
        self.heard += 1
        return VADState.QUIET


async def with_user_turns(story, vad=None, before: tuple = ()) -> None:  # noqa: ANN001
    """Runs `story(send, verdicts, seen)` against a user aggregator whose stop strategy is ours
    (with `vad`, and `before` it in the pipeline)."""
    verdicts, seen = HeldVerdicts(), Seen()
    strategies = UserTurnStrategies(stop=[TurnStopInBackground(turn_analyzer=verdicts)])
    params = LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=strategies)
    aggregators = LLMContextAggregatorPair(LLMContext(), user_params=params)
    async with running_pipeline([*before, aggregators.user(), seen]) as worker:
        await story(worker.queue_frame, verdicts, seen)


def transcript(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text, "caller", time_now_iso8601(), finalized=True)


def test_the_aggregator_goes_on_while_the_verdict_is_awaited():
    async def story(send, verdicts, seen) -> None:  # noqa: ANN001
        await send(VADUserStartedSpeakingFrame(start_secs=0.2))
        await send(VADUserStoppedSpeakingFrame(stop_secs=0.2))
        verdict = await asyncio.wait_for(verdicts.asked.get(), SOON)
        await send(Marker())
        await send(transcript("I would like to move my appointment."))

        await asyncio.wait_for(seen.markers.get(), SOON)  # through, with the verdict still awaited
        assert not verdict.done() and seen.turns.empty()
        verdict.set_result(EndOfTurnState.COMPLETE)  # the transcript is in hand: the turn ends now
        assert await asyncio.wait_for(seen.turns.get(), SOON) == "I would like to move my appointment."

    asyncio.run(with_user_turns(story))


def test_a_verdict_made_stale_by_the_callee_speaking_again_is_dropped():
    async def story(send, verdicts, seen) -> None:  # noqa: ANN001
        await send(VADUserStartedSpeakingFrame(start_secs=0.2))
        await send(VADUserStoppedSpeakingFrame(stop_secs=0.2))  # a pause inside the sentence
        stale = await asyncio.wait_for(verdicts.asked.get(), SOON)
        await send(VADUserStartedSpeakingFrame(start_secs=0.2))  # ... and the callee goes on
        await send(Marker())
        await asyncio.wait_for(seen.markers.get(), SOON)
        assert stale.cancelled()  # never answered: Smart Turn skips it if it had not begun

        await send(VADUserStoppedSpeakingFrame(stop_secs=0.2))
        verdict = await asyncio.wait_for(verdicts.asked.get(), SOON)
        await send(transcript("Could you call me back tomorrow?"))
        verdict.set_result(EndOfTurnState.COMPLETE)
        assert await asyncio.wait_for(seen.turns.get(), SOON) == "Could you call me back tomorrow?"
        await asyncio.sleep(0.3)
        assert seen.turns.empty()  # one turn, not two

    asyncio.run(with_user_turns(story))


def test_a_final_transcript_waits_only_for_the_callee_audio_that_came_before_it():
    """Audio frames are system frames, which Pipecat's processors take before any data frame: on
    a busy worker the aggregator always had audio queued, and the transcript the turn waits for
    came after all of it. In line, it comes after the audio that arrived before it."""
    vad = BusyVAD()

    async def story(send, verdicts, seen) -> None:  # noqa: ANN001
        await send(VADUserStartedSpeakingFrame(start_secs=0.2))
        await send(VADUserStoppedSpeakingFrame(stop_secs=0.2))
        (await asyncio.wait_for(verdicts.asked.get(), SOON)).set_result(EndOfTurnState.COMPLETE)
        audio = InputAudioRawFrame(bytes(640), PHONE_SAMPLE_RATE, 1)  # 40 ms
        heard_before = vad.heard
        for _ in range(10):
            await send(audio)
        await send(transcript("I would like to move my appointment."))
        for _ in range(30):
            await send(audio)
        assert await asyncio.wait_for(seen.turns.get(), SOON) == "I would like to move my appointment."
        # The ten before it, and at most the one being heard as the turn went out (stock: all 40).
        assert vad.heard - heard_before <= 11

    asyncio.run(with_user_turns(story, vad, before=(TranscriptsInLine(),)))
