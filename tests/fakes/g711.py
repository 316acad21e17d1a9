"""G.711 μ-law, as carriers send telephone audio: 8 kHz, one byte a sample (numpy, no audioop)."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

BIAS, CLIP = 0x84, 32635
FRAME_BYTES = 160  # 20 ms at 8 kHz


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), CLIP) + BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_to_pcm16(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + BIAS) << ((u & 0x70) >> 4)
    samples = np.where(u & 0x80, BIAS - magnitude, magnitude - BIAS)
    return samples.astype("<i2").tobytes()


def tone(freq: float, secs: float, rate: int = 8000, amplitude: float = 0.4) -> bytes:
    """PCM16 mono sine: speech-like energy for a voice activity detector, easy to recognise."""
    t = np.arange(int(rate * secs)) / rate
    return (np.sin(2 * math.pi * freq * t) * amplitude * 32767).astype("<i2").tobytes()


def read_wav_8k(path: Path) -> bytes:
    """PCM16 mono 8 kHz samples of a WAV file of that format."""
    with wave.open(str(path)) as wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, 8000):
            raise ValueError(f"{path}: need mono 16-bit 8 kHz")
        return wav.readframes(wav.getnframes())


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
