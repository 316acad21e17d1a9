"""The recording of an attempt: both sides in one stereo WAV, callee left, agent right.

A real call (`phone_call.CallTracks` adds each side's audio where its trip through the pipeline
ends, at SAMPLE_RATE):

    recorder = StereoRecorder()
    recorder.add(CALLEE, pcm, at=seconds_since_answer)      # or AGENT; 16-bit mono PCM
    ref = await save_recording(storage, attempt_id, recorder.wav())
    await orders_store.set_recording_ref(conn, attempt_id, ref)

A sandbox call, from its transcript lines as spoken (synthesized with eSpeak NG):

    wav = await asyncio.to_thread(sandbox_recording, [SpokenLine("assistant", "Hi!", 0.0), ...])

The API serves the stored WAV at the attempt's `recording_url` (openrevox/api/recordings.py).
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterable
from typing import Literal, NamedTuple

import numpy as np

from openrevox.agent import speech
from openrevox.storage import Storage

SAMPLE_RATE = 8000  # a phone line's: more would add size, not anything the line carried
JITTER_SECONDS = 0.2  # a gap shorter than this is timestamp jitter, not silence (as Pipecat's buffer)
CALLEE, AGENT = "callee", "agent"
Track = Literal["callee", "agent"]
_CHANNEL = {CALLEE: 0, AGENT: 1}  # left, right
_VOICE = {"user": speech.CALLEE_VOICE, "assistant": speech.AGENT_VOICE}  # transcript role -> voice
_TRACK = {"user": CALLEE, "assistant": AGENT}


class StereoRecorder:
    """Two tracks of 16-bit PCM that chunks land on by their time in the call.

    A chunk starts at its timestamp, or right where its track's audio so far ends when that is
    later (a side never overlaps itself, nothing is dropped) or less than JITTER_SECONDS earlier
    (no crackle of tiny gaps between a stream's chunks). Longer silences are kept."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self._tracks: dict[str, bytearray] = {CALLEE: bytearray(), AGENT: bytearray()}

    def add(self, track: Track, pcm: bytes, at: float) -> None:
        """`pcm` (16-bit mono, little-endian, at `sample_rate`) heard `at` seconds into the call."""
        if len(pcm) % 2:
            raise ValueError("16-bit PCM has an even number of bytes")
        audio = self._tracks[track]
        gap = 2 * round(at * self.sample_rate) - len(audio)
        if gap >= 2 * JITTER_SECONDS * self.sample_rate:
            audio.extend(bytes(gap))
        audio.extend(pcm)

    def wav(self) -> bytes:
        length = max(len(a) for a in self._tracks.values()) // 2
        frames = np.zeros((length, 2), dtype="<i2")
        for track, audio in self._tracks.items():
            samples = np.frombuffer(audio, dtype="<i2")
            frames[: len(samples), _CHANNEL[track]] = samples
        out = io.BytesIO()
        with wave.open(out, "wb") as file:
            file.setnchannels(2)
            file.setsampwidth(2)
            file.setframerate(self.sample_rate)
            file.writeframes(frames.tobytes())
        return out.getvalue()


class SpokenLine(NamedTuple):
    role: str  # the transcript's: "user" (the callee) or "assistant"; "tool" lines are silent
    text: str
    start: float  # seconds into the call


def sandbox_recording(lines: Iterable[SpokenLine], sample_rate: int = SAMPLE_RATE) -> bytes:
    """The WAV of a sandbox call: each line synthesized in its side's voice, from its start.
    CPU-bound (eSpeak NG, about 10 ms a sentence): call through `asyncio.to_thread`."""
    recorder = StereoRecorder(sample_rate)
    for line in lines:
        if line.role in _VOICE:
            pcm = speech.synthesize(line.text, _VOICE[line.role], sample_rate=sample_rate)
            recorder.add(_TRACK[line.role], pcm, line.start)
    return recorder.wav()


async def save_recording(storage: Storage, attempt_id: str, wav: bytes) -> str:
    """Stores the attempt's WAV; returns the reference to keep in call_attempts.recording_ref
    (with orders.store.set_recording_ref, once this returned: the file exists before the row
    points to it)."""
    key = f"{attempt_id}.wav"
    await storage.put(key, wav, "audio/wav")
    return key
