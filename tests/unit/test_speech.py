"""Offline synthesis: eSpeak NG speaks the text, for about as long as a person would, in two voices
that can be told apart."""

from __future__ import annotations

import time

import numpy as np
import pytest

from openrevox.agent.speech import AGENT_VOICE, CALLEE_VOICE, synthesize

SENTENCE = "Hello, this is Ada from the dental office, calling to remind you of your appointment tomorrow."
WORDS = len(SENTENCE.split())  # 16


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def frame_levels(x: np.ndarray, rate: int, ms: int = 20) -> np.ndarray:
    n = rate * ms // 1000
    frames = x[: len(x) // n * n].reshape(-1, n)
    return np.sqrt((frames**2).mean(axis=1))


def median_pitch(pcm: bytes, rate: int) -> float:
    """The median fundamental frequency over voiced 40 ms frames (autocorrelation)."""
    x, n = samples(pcm), rate * 40 // 1000
    pitches = []
    for frame in x[: len(x) // n * n].reshape(-1, n):
        frame = frame - frame.mean()
        if np.sqrt((frame**2).mean()) < 500:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        low, high = rate // 400, rate // 60
        lag = low + int(np.argmax(ac[low:high]))
        if ac[lag] > 0.3 * ac[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_sentence_lasts_as_long_as_spoken_at_the_asked_rate(rate):
    pcm = synthesize(SENTENCE, sample_rate=rate)
    seconds = len(pcm) / 2 / rate
    expected = WORDS / (175 / 60)  # 175 words per minute
    assert 0.6 * expected < seconds < 1.6 * expected


def test_faster_rate_is_shorter():
    normal = len(synthesize(SENTENCE, rate=175))
    fast = len(synthesize(SENTENCE, rate=350))
    assert 0.35 < fast / normal < 0.7


def test_audio_is_speech_like_loud_words_with_pauses_between():
    x = samples(synthesize(SENTENCE))
    levels = frame_levels(x, 8000)
    loud = levels > 0.1 * levels.max()
    assert 0.4 < loud.mean() < 0.97  # mostly talking, not a constant tone
    assert (np.diff(loud.astype(int)) == 1).sum() >= 5  # several bursts: words and phrases
    assert np.abs(x).max() > 3000  # audible, not near-silence
    # Speech energy lies in the voice band, not in rumble.
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    assert spectrum[(freqs > 80) & (freqs < 3800)].sum() > 0.9 * spectrum.sum()


def test_agent_and_callee_voices_differ_in_pitch():
    agent = median_pitch(synthesize(SENTENCE, AGENT_VOICE), 8000)
    callee = median_pitch(synthesize(SENTENCE, CALLEE_VOICE), 8000)
    assert agent > 1.4 * callee
    assert 150 < agent < 300 and 70 < callee < 150


def test_nothing_to_say_is_no_audio():
    assert synthesize("") == b""
    assert synthesize("  \n ") == b""


def test_unknown_voice_and_rate_out_of_range_are_refused():
    with pytest.raises(ValueError, match="no voice 'xx-nope'"):
        synthesize("Hello", "xx-nope")
    with pytest.raises(ValueError, match="rate must be"):
        synthesize("Hello", rate=5)


def test_synthesis_is_much_faster_than_real_time():
    synthesize("Warm up.")
    started = time.perf_counter()
    pcm = synthesize(SENTENCE)
    took = time.perf_counter() - started
    assert took < (len(pcm) / 2 / 8000) / 10
