"""Smart Turn's features computed with the padding's frames transformed once are Pipecat's, bit for bit."""

import numpy as np
import pytest
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

from openrevox.agent.speech import synthesize
from openrevox.agent.turn_features import SAMPLE_RATE, SAMPLES, smart_turn_features


def pipecats(speech: np.ndarray) -> np.ndarray:
    """Pipecat's features of `speech` as its Smart Turn v3 analyzer prepares it: the last 8 s,
    zero-padded in front."""
    speech = speech[-SAMPLES:]
    return compute_whisper_log_mel_features(np.pad(speech, (SAMPLES - len(speech), 0)), do_normalize=True)


# Around the edges: no padding, padding within half a frame (its reflection holds speech), one
# sample more, a hop's worth either side, and speech longer than the model hears.
LENGTHS = [0, 1, 399, 3_000, 32_000, 32_007, SAMPLES - 361, SAMPLES - 360, SAMPLES - 201, SAMPLES - 200,
           SAMPLES - 199, SAMPLES - 1, SAMPLES, SAMPLES + 4_321]


@pytest.mark.parametrize("length", LENGTHS)
def test_features_of_noise_are_pipecats(length):
    rng = np.random.default_rng(length)
    speech = (rng.standard_normal(length) * rng.uniform(0.001, 0.5)).astype(np.float32)

    assert np.array_equal(smart_turn_features(speech), pipecats(speech))


def test_features_of_speech_are_pipecats():
    pcm = synthesize("Could you call me back tomorrow morning?", sample_rate=SAMPLE_RATE)
    speech = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768

    features = smart_turn_features(speech)

    assert features.shape == (80, 800)
    assert np.array_equal(features, pipecats(speech))
    assert np.array_equal(smart_turn_features(speech[: SAMPLE_RATE // 2]), pipecats(speech[: SAMPLE_RATE // 2]))
