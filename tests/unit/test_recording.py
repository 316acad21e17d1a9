"""Recordings: callee on the left, agent on the right, each chunk at its time in the call; a sandbox
call's transcript becomes that same stereo WAV of synthesized speech."""

from __future__ import annotations

import asyncio

import numpy as np
from wav_checks import read_wav, spans

from openrevox.agent.recording import AGENT, CALLEE, SAMPLE_RATE, SpokenLine, StereoRecorder, sandbox_recording, save_recording
from openrevox.storage import LocalDiskStorage


def tone(seconds: float, level: int, rate: int = SAMPLE_RATE) -> bytes:
    return np.full(int(seconds * rate), level, dtype="<i2").tobytes()


def test_chunks_land_at_their_time_on_their_side():
    recorder = StereoRecorder()
    recorder.add(AGENT, tone(1.0, 1000), at=0.5)
    recorder.add(CALLEE, tone(0.5, 2000), at=2.0)
    rate, frames = read_wav(recorder.wav())
    assert rate == 8000
    assert len(frames) == 2.5 * 8000  # as long as the last sound
    left, right = frames[:, 0], frames[:, 1]
    assert (right[:4000] == 0).all() and (right[4000:12000] == 1000).all() and (right[12000:] == 0).all()
    assert (left[:16000] == 0).all() and (left[16000:] == 2000).all()


def test_streamed_chunks_follow_on_despite_jitter_and_a_real_pause_stays_silent():
    recorder = StereoRecorder()
    for i in range(50):  # 50 chunks of 20 ms, with timestamps that jitter a few ms either way
        recorder.add(CALLEE, tone(0.02, 500 + i), at=i * 0.02 + (0.004 if i % 2 else -0.004))
    recorder.add(CALLEE, tone(0.02, 9000), at=1.5)
    _, frames = read_wav(recorder.wav())
    left = frames[:, 0]
    # Nothing lost, nothing overlapped, no gap: each chunk's 160 samples right after the last.
    assert (left[:8000] == np.repeat(np.arange(500, 550), 160)).all()
    assert (left[8000:12000] == 0).all() and (left[12000:] == 9000).all()


def test_an_earlier_timestamp_never_overlaps_a_side_with_itself():
    recorder = StereoRecorder()
    recorder.add(AGENT, tone(1.0, 1000), at=0.0)
    recorder.add(AGENT, tone(1.0, 3000), at=0.5)  # says more before its last sentence ended
    _, frames = read_wav(recorder.wav())
    right = frames[:, 1]
    assert len(right) == 16000 and (right[:8000] == 1000).all() and (right[8000:] == 3000).all()


def test_sandbox_transcript_becomes_both_sides_in_order():
    lines = [
        SpokenLine("assistant", "Hello, this is Ada from the dental office.", 0.0),
        SpokenLine("user", "Hello? Yes, speaking.", 3.5),
        SpokenLine("tool", "end_call", 5.0),  # silent
        SpokenLine("assistant", "Your appointment is tomorrow at ten.", 6.0),
        SpokenLine("user", "Thank you, goodbye.", 9.5),
    ]
    rate, frames = read_wav(sandbox_recording(lines))
    assert rate == 8000
    callee, agent = spans(frames[:, 0], rate), spans(frames[:, 1], rate)
    assert len(agent) == 2 and len(callee) == 2
    # Each line starts at its time (within the voice's own lead-in) on its own side only.
    for (start, _), at in zip(agent + callee, [0.0, 6.0, 3.5, 9.5], strict=True):
        assert at <= start < at + 0.3
    assert agent[0][1] < callee[0][0] < callee[0][1] < agent[1][0] < agent[1][1] < callee[1][0]
    assert callee[1][1] <= len(frames) / rate < callee[1][1] + 0.5  # ends with the last line


def test_saved_recording_is_stored_under_its_attempt(tmp_path):
    storage = LocalDiskStorage(tmp_path / "recordings")
    wav = sandbox_recording([SpokenLine("user", "Hello?", 0.0)])
    ref = asyncio.run(save_recording(storage, "3f0c9d7e-attempt", wav))
    assert (tmp_path / "recordings" / ref).read_bytes() == wav
    stored = asyncio.run(storage.head(ref))
    assert stored.content_type == "audio/wav" and stored.size == len(wav)
