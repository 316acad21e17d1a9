"""Make openrevox/agent/audio/office.ogg: a quiet office ambience, synthesized from noise so the
project owns it outright (no recording, no third-party sample). Rerun to regenerate:

    .venv/bin/python scripts/make_office_ambience.py

Room tone (brown noise), a distant murmur of voices (band-passed noise with a syllable-rate
envelope) and sparse keyboard clicks, 30 s, mono 8 kHz (the phone line's rate, which Pipecat's
SoundfileMixer needs the file to match), seamless when looped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

RATE = 8000
SECONDS = 30
OUT = Path(__file__).resolve().parent.parent / "openrevox" / "agent" / "audio" / "office.ogg"


def brown_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    walk = np.cumsum(rng.standard_normal(n))
    walk -= np.convolve(walk, np.ones(801) / 801, mode="same")  # remove the drift, keep the rumble
    return walk / np.abs(walk).max()


def murmur(rng: np.random.Generator, n: int) -> np.ndarray:
    noise = rng.standard_normal(n)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < 250) | (freqs > 1200)] = 0  # the speech band, muffled by distance
    voices = np.fft.irfft(spectrum, n)
    syllables = np.abs(np.sin(2 * np.pi * 3.5 * np.arange(n) / RATE + rng.uniform(0, 6)))
    phrases = np.repeat(rng.uniform(0.2, 1.0, n // RATE + 1), RATE)[:n]  # louder and softer talkers
    return voices * syllables * phrases / np.abs(voices).max()


def keyboard(rng: np.random.Generator, n: int) -> np.ndarray:
    clicks = np.zeros(n)
    click = rng.standard_normal(40) * np.exp(-np.arange(40) / 6)
    t = 0
    while t < n - 40:
        clicks[t : t + 40] += click * rng.uniform(0.3, 1.0)
        t += int(RATE * (rng.uniform(0.08, 0.25) if rng.random() < 0.85 else rng.uniform(1.0, 4.0)))
    return clicks


def main() -> None:
    rng = np.random.default_rng(20261125)
    n = RATE * SECONDS
    mix = 0.5 * brown_noise(rng, n) + 0.35 * murmur(rng, n) + 0.25 * keyboard(rng, n)
    fade = np.linspace(0, 1, RATE // 2)  # a crossfade of the ends makes the loop seamless
    mix[: len(fade)] = mix[: len(fade)] * fade + mix[-len(fade) :] * fade[::-1]
    mix = mix[: -len(fade)]
    mix = 0.25 * mix / np.abs(mix).max()  # quiet: a backdrop under the voice, not over it
    OUT.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(OUT, mix.astype(np.float32), RATE, format="OGG", subtype="VORBIS")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB, {len(mix) / RATE:.1f} s)")


if __name__ == "__main__":
    main()
