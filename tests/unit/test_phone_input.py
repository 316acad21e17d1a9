"""The callee's audio as the phone pipeline takes it (openrevox.agent.phone_call.PhoneAudioInput):
the carrier's 20 ms frames, two at a time, pushed on in order with nothing lost between them, and
one at a time while VAD is deciding a start or a stop of speech."""

from __future__ import annotations

import asyncio
import types

from pipecat.frames.frames import InputAudioRawFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from openrevox.agent.phone_call import CALLEE_FRAME_SECS, PhoneAudioInput, phone_transport

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
