"""A stand-in for a cloud STT (Deepgram's shape) in tests that run the real phone pipeline: when
VAD says the callee stopped, it asks to finalize and, `latency` later, hears the next scripted
text."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import TranscriptionFrame, VADUserStoppedSpeakingFrame
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601


class ScriptedSTT(STTService):
    def __init__(self, texts: list[str], latency: float = 0.1) -> None:
        super().__init__(ttfs_p99_latency=0.5, settings=STTSettings(model=None, language=None))
        self.texts = list(texts)
        self.latency = latency

    async def run_stt(self, audio: bytes):
        yield None

    async def process_frame(self, frame, direction):  # noqa: ANN001
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame) and self.texts:
            self.request_finalize()
            self.create_task(self._finalize(self.texts.pop(0)))

    async def _finalize(self, text: str) -> None:
        await asyncio.sleep(self.latency)
        self.confirm_finalize()
        await self.push_frame(TranscriptionFrame(text, "callee", time_now_iso8601()))
