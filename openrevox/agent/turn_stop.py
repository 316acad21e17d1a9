"""When the callee's turn ends: Pipecat's turn-model stop strategy, whose verdict does not hold up
the user aggregator.

Stock `TurnAnalyzerUserTurnStopStrategy` awaits Smart Turn's verdict inside the aggregator's
handling of VAD's stop, so every frame behind that stop waits for the model: the callee's audio
(VAD hears nobody resume meanwhile) and the STT's final transcript, which the turn needs next. On
a busy worker a verdict takes from 200 ms to over a second; at 25 calls a process the callee's
frames waited up to 0.9 s at p99 to reach the aggregator, and the turn then waited for the
transcript behind them (bench/agent.py, docs/benchmarks.md). Here the verdict runs in a task of
its own: the aggregator keeps hearing, a transcript that arrives meanwhile is ready when the
verdict comes, and a verdict that VAD's next start made stale is dropped (its model run skipped
if it had not begun). What the strategy decides from a verdict is stock's.

The turn also waits for the STT's final transcript, and Pipecat's processors take every system
frame in their queue (the callee's audio frames are system frames) before any data frame (a
transcript is one). On a busy worker the user aggregator's queue always held some audio, so the
transcript waited until none was left: at 25 calls a process up to 0.4-1.2 s after the STT gave
it (bench/agent.py, docs/benchmarks.md). `TranscriptsInLine`, between the STT and the aggregator,
hands final transcripts on as system frames: the aggregator takes one after the audio that came
before it and before the audio that comes after, in arrival order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.frames.frames import Frame, SystemFrame, TranscriptionFrame, VADUserStoppedSpeakingFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop import TurnAnalyzerUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from openrevox.agent.audio_models import turn_analyzer


def user_turn_strategies() -> UserTurnStrategies:
    """A call's turn strategies: Pipecat's default starts, the turn model's stop."""
    return UserTurnStrategies(stop=[TurnStopInBackground(turn_analyzer=turn_analyzer())])


class TurnStopInBackground(TurnAnalyzerUserTurnStopStrategy):
    """`TurnAnalyzerUserTurnStopStrategy` with the verdict asked in a task (the module's docstring)."""

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self._verdict_task: asyncio.Task | None = None

    async def _handle_vad_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        # Stock's state changes, at once: the audio behind this frame is heard as silence.
        self._vad_user_speaking = False
        self._stop_secs = frame.stop_secs
        self._vad_stopped = True
        # The STT's safety net runs from when the callee actually stopped, as stock's does.
        stt_deadline = frame.timestamp - frame.stop_secs + self._stt_timeout
        await self._drop_verdict()
        self._verdict_task = self.task_manager.create_task(self._verdict(stt_deadline), f"{self}::verdict")

    async def _verdict(self, stt_deadline: float) -> None:
        state, prediction = await self._turn_analyzer.analyze_end_of_turn()
        self._verdict_task = None  # from here on a turn boundary must not cancel this task
        await self._handle_prediction_result(prediction)
        self._turn_complete = state == EndOfTurnState.COMPLETE
        timeout = max(0.0, stt_deadline - time.time())
        self._timeout_task = self.task_manager.create_task(self._timeout_handler(timeout), f"{self}::_timeout_handler")
        await self._maybe_trigger_user_turn_stopped()

    async def _discard_pending_end_of_turn(self) -> None:
        """Stock's, and the verdict still awaited goes with the rest (the callee spoke again, or
        the turn ended otherwise)."""
        await super()._discard_pending_end_of_turn()
        await self._drop_verdict()

    async def _drop_verdict(self) -> None:
        if self._verdict_task:
            task, self._verdict_task = self._verdict_task, None
            await self.task_manager.cancel_task(task)

    async def cleanup(self) -> None:
        await self._drop_verdict()
        await super().cleanup()


@dataclasses.dataclass
class TranscriptInLine(SystemFrame, TranscriptionFrame):
    """A final transcript that processors take in arrival order with the callee's audio."""


class TranscriptsInLine(FrameProcessor):
    """Between the STT and the user aggregator: final transcripts go on as `TranscriptInLine`
    (the module's docstring). It keeps no state, so it runs in the pushing task (Pipecat's
    direct mode): a queue of its own would hold transcripts behind audio, as the aggregator's did."""

    def __init__(self) -> None:
        super().__init__(enable_direct_mode=True)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if type(frame) is TranscriptionFrame:  # a subclass keeps its own type, and what it means
            frame = in_line(frame)
        await self.push_frame(frame, direction)


def in_line(transcript: TranscriptionFrame) -> TranscriptInLine:
    """`transcript` as a `TranscriptInLine`: every field kept but the frame's own id and name."""
    fields = dataclasses.fields(TranscriptionFrame)
    frame = TranscriptInLine(**{f.name: getattr(transcript, f.name) for f in fields if f.init})
    for f in fields:
        if not f.init and f.name not in ("id", "name"):
            setattr(frame, f.name, getattr(transcript, f.name))
    return frame
