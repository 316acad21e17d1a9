"""The callee's audio as the phone pipeline takes it (openrevox.agent.phone_call.PhoneAudioInput):
the carrier's 20 ms frames, two at a time, pushed on in order with nothing lost between them, and
one at a time while VAD is deciding a start or a stop of speech."""

from __future__ import annotations

import asyncio
import types

import pytest
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from openrevox.agent.audio_models import VAD_PARAMS, SharedSileroVADAnalyzer
from openrevox.agent.phone_call import CALLEE_FRAME_SECS, PhoneAudioInput, phone_transport
from openrevox.agent.speech import CALLEE_VOICE, synthesize

pytestmark = pytest.mark.usefixtures("silero_without_gathering")

RATE = 8000
CARRIER_FRAME = 2 * RATE // 50  # 20 ms of 16-bit audio


def carrier_frame(n: int) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=bytes([n]) * CARRIER_FRAME, sample_rate=RATE, num_channels=1)


def feed(frames: int, paused: bool = False, deciding_at=()) -> list:  # noqa: ANN001
    """What the phone transport's input pushes on when the carrier sends `frames` 20 ms frames,
    the VAD it follows deciding when the n-th frame arrives for n in `deciding_at`."""
    serializer = TwilioFrameSerializer("MZ0", "CA0", params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
    received = phone_transport(types.SimpleNamespace(), serializer).input()
    assert isinstance(received, PhoneAudioInput)
    received._paused = paused
    vad = types.SimpleNamespace(deciding=False)
    received.follow(vad)
    pushed = []

    async def push_frame(frame, direction=None):  # noqa: ANN001
        pushed.append(frame)

    async def send():
        received.push_frame = push_frame
        for n in range(frames):
            vad.deciding = n in deciding_at
            await received.push_audio_frame(carrier_frame(n))

    asyncio.run(send())
    return pushed


def test_carrier_frames_reach_the_pipeline_joined_in_order():
    pushed = feed(5)

    assert CALLEE_FRAME_SECS == 0.04  # two carrier frames each
    assert [frame.audio for frame in pushed] == [
        bytes([k]) * CARRIER_FRAME + bytes([k + 1]) * CARRIER_FRAME for k in (0, 2)
    ]  # the fifth waits for its partner
    assert all(isinstance(frame, InputAudioRawFrame) and frame.sample_rate == RATE for frame in pushed)
    assert [frame.num_frames for frame in pushed] == [320, 320]


def test_a_paused_input_drops_the_callee_audio():
    assert feed(4, paused=True) == []


def test_while_vad_decides_each_frame_goes_on_at_once_with_any_held_before_it():
    pushed = feed(8, deciding_at={3, 4, 5})

    assert [frame.audio[::CARRIER_FRAME] for frame in pushed] == [
        bytes([0, 1]),
        bytes([2, 3]),  # the held frame goes with the one that arrives while VAD decides
        bytes([4]),
        bytes([5]),
        bytes([6, 7]),  # pairs again once decided
    ]


class StopsNoted(SharedSileroVADAnalyzer):
    """The call's VAD, noting after how many samples each stop of speech was decided."""

    def __init__(self) -> None:
        super().__init__(sample_rate=RATE, params=VAD_PARAMS)
        self.set_sample_rate(RATE)  # what the pipeline does at start
        self.samples = 0
        self.stops: list[int] = []

    def _run_analyzer(self, buffer: bytes) -> VADState:
        before = self._vad_state
        state = super()._run_analyzer(buffer)
        self.samples += len(buffer) // 2
        if before != VADState.QUIET and state == VADState.QUIET:
            self.stops.append(self.samples)
        return state


def test_vad_decides_a_stop_on_the_frame_that_ends_it_not_the_one_after():
    """Real speech through the input and the shared Silero VAD: each end of speech is decided as
    the carrier frame holding its last window arrives, never held back for a partner."""
    second = bytes(2 * RATE)  # of line silence
    pcm = second
    for sentence in ("Hi, yes, this is Sam speaking.", "I would like to move my appointment.",
                     "Could you send me a text?", "Thank you, that is all."):  # fmt: skip
        pcm += synthesize(sentence, CALLEE_VOICE) + second
    serializer = TwilioFrameSerializer("MZ0", "CA0", params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
    received = phone_transport(types.SimpleNamespace(), serializer).input()
    vad = StopsNoted()
    received.follow(vad)
    decided_on: list[tuple[int, int]] = []  # (frame that held the stop's last window, frame just arrived)

    async def push_frame(frame, direction=None):  # noqa: ANN001
        stops = len(vad.stops)
        await vad.analyze_audio(frame.audio)
        decided_on.extend(((stop - 1) * 2 // CARRIER_FRAME, arrived) for stop in vad.stops[stops:])

    async def send():
        nonlocal arrived
        received.push_frame = push_frame
        for arrived, start in enumerate(range(0, len(pcm) - CARRIER_FRAME + 1, CARRIER_FRAME)):
            chunk = pcm[start : start + CARRIER_FRAME]
            await received.push_audio_frame(InputAudioRawFrame(audio=chunk, sample_rate=RATE, num_channels=1))

    arrived = 0
    asyncio.run(send())
    assert len(decided_on) >= 4  # every sentence's end heard
    assert all(holding == just_arrived for holding, just_arrived in decided_on), decided_on
