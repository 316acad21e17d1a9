"""The shared analyzers as the pipeline builder wires them: in Pipecat's user aggregator, several
calls in one process, each call's turns are its own caller's."""

from __future__ import annotations

import asyncio

from fakes.pipelines import running_pipeline
from pipecat.frames.frames import (
    InputAudioRawFrame,
    LLMContextFrame,
    TranscriptionFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.utils.time import time_now_iso8601

from openrevox.agent.audio_models import PHONE_SAMPLE_RATE, vad_analyzer
from openrevox.agent.speech import CALLEE_VOICE, synthesize
from openrevox.agent.turn_stop import user_turn_strategies

FRAME_BYTES = 2 * PHONE_SAMPLE_RATE // 50  # 20 ms


class HeardSTT(FrameProcessor):
    """Finalizes on VAD's stop, as Deepgram does: the transcript names how many stops it has
    heard on this call."""

    def __init__(self) -> None:
        super().__init__()
        self.stops = 0

    async def process_frame(self, frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            self.stops += 1
            await self.push_frame(
                TranscriptionFrame(f"utterance {self.stops}", "caller", time_now_iso8601(), finalized=True)
            )
        await self.push_frame(frame, direction)


class Turns(FrameProcessor):
    """What reaches the LLM: one context per user turn."""

    def __init__(self) -> None:
        super().__init__()
        self.ended = asyncio.Queue()

    async def process_frame(self, frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            self.ended.put_nowait(frame.context.get_messages()[-1]["content"])
        await self.push_frame(frame, direction)


async def say(worker, pcm: bytes) -> None:  # noqa: ANN001
    """At twice real time: fast, yet as on a line, VAD's events are handled before the frames
    that follow them arrive."""
    for i in range(0, len(pcm), FRAME_BYTES):
        await worker.queue_frame(InputAudioRawFrame(pcm[i : i + FRAME_BYTES], PHONE_SAMPLE_RATE, 1))
        await asyncio.sleep(0.01)


async def call(lines: list[str]) -> list[str]:
    """One call: each line spoken, then line silence until its turn reaches the LLM (at most 3 s of
    it; Smart Turn's fallback is 1.5 s); returns the user turns the LLM was given."""
    turns = Turns()
    aggregators = LLMContextAggregatorPair(
        LLMContext(),
        user_params=LLMUserAggregatorParams(vad_analyzer=vad_analyzer(), user_turn_strategies=user_turn_strategies()),
    )
    heard = []
    silence = bytes(FRAME_BYTES)
    async with running_pipeline([HeardSTT(), aggregators.user(), turns]) as worker:
        await say(worker, silence * 10)
        for line in lines:
            await say(worker, synthesize(line, CALLEE_VOICE) + silence * 25)
            for _ in range(150):  # 3 s of line silence, 20 ms at a time, until the turn ends
                if not turns.ended.empty():
                    break
                await say(worker, silence)
            while not turns.ended.empty():
                heard.append(turns.ended.get_nowait())
        await say(worker, silence * 50)  # a turn that should not be there would end in it
        while not turns.ended.empty():
            heard.append(turns.ended.get_nowait())
    return heard


def test_calls_in_one_process_each_get_their_own_callers_turns():
    async def three_calls():
        return await asyncio.gather(
            call(["Hi, yes, this is Sam speaking.", "Thank you so much, that is all I needed."]),
            call(["Could you call me back tomorrow morning?"]),
            call([]),  # an open line nobody speaks on
        )

    two_lines, one_line, silent = asyncio.run(three_calls())

    assert two_lines == ["utterance 1", "utterance 2"]
    assert one_line == ["utterance 1"]
    assert silent == []
