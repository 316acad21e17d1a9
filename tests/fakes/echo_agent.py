"""A stand-in for the voice agent (`services.agent`) in carrier tests: it reads the media socket
through the carrier's Pipecat serializer, records what it hears (audio and DTMF), answers the first
audio with a clip, then a barge-in `clear`, until the socket closes. By default it returns no
outcome, so the endpoint decides how the attempt ended (stop: the user; a dropped socket: the
system); given an `outcome`, it ends the conversation itself once it has answered, with that."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame
from starlette.websockets import WebSocketDisconnect

from fakes.g711 import tone

SAMPLE_RATE = 16000


class EchoAgent:
    def __init__(self, reply_pcm: bytes = tone(660, 0.5, SAMPLE_RATE)) -> None:
        self.reply_pcm = reply_pcm
        self.heard: dict[str, bytearray] = defaultdict(bytearray)  # PCM16 at SAMPLE_RATE per attempt
        self.digits: dict[str, str] = defaultdict(str)
        self.finished: list[str] = []
        self.outcome = None  # what converse_over_media returns (None: no word on how it ended)
        self.talking = self.most_at_once = 0  # conversations now, and at most at one time

    async def converse_over_media(self, attempt_id: str, websocket, serializer):  # noqa: ANN001, ANN201
        await serializer.setup(SimpleNamespace(audio_in_sample_rate=SAMPLE_RATE))
        replied = False
        self.talking += 1
        self.most_at_once = max(self.most_at_once, self.talking)
        try:
            while True:
                frame = await serializer.deserialize(await websocket.receive_text())
                if isinstance(frame, InputAudioRawFrame):
                    self.heard[attempt_id] += frame.audio
                    if not replied:
                        replied = True
                        await websocket.send_text(await serializer.serialize(OutputAudioRawFrame(self.reply_pcm, SAMPLE_RATE, 1)))
                        await websocket.send_text(await serializer.serialize(InterruptionFrame()))
                        if self.outcome is not None:
                            break
                elif isinstance(frame, InputDTMFFrame):
                    self.digits[attempt_id] += frame.button.value
        except (WebSocketDisconnect, RuntimeError):  # closed by the carrier, or dropped
            pass
        self.talking -= 1
        self.finished.append(attempt_id)
        return self.outcome
