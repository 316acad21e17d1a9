"""Reading recordings back in tests: a 16-bit stereo WAV's frames, and where each channel speaks."""

from __future__ import annotations

import io
import wave

import numpy as np


def read_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(sample rate, frames × 2 channels) of a 16-bit stereo WAV."""
    with wave.open(io.BytesIO(data)) as file:
        assert (file.getnchannels(), file.getsampwidth()) == (2, 2)
        frames = np.frombuffer(file.readframes(file.getnframes()), dtype="<i2").reshape(-1, 2)
        return file.getframerate(), frames


def loud_frames(channel: np.ndarray, rate: int, threshold: float = 300) -> np.ndarray:
    """Per 20 ms frame, whether it holds sound."""
    n = rate // 50
    levels = np.sqrt((channel[: len(channel) // n * n].astype(float).reshape(-1, n) ** 2).mean(axis=1))
    return levels > threshold


def spans(channel: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start, end) in seconds of each run of sound longer than 0.3 s, runs closer than 0.3 s joined."""
    step = 0.02
    runs: list[list[float]] = []
    for i, loud in enumerate(loud_frames(channel, rate)):
        if loud:
            t = i * step
            if runs and t - runs[-1][1] < 0.3:
                runs[-1][1] = t + step
            else:
                runs.append([t, t + step])
    return [(a, b) for a, b in runs if b - a > 0.3]
