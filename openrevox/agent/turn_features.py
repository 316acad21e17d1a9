"""Smart Turn v3's input features, the same numbers as Pipecat's for a fraction of the work.

The model hears the last 8 s at 16 kHz, zero-padded in front, as Whisper log-mel frames (Pipecat's
`compute_whisper_log_mel_features`, vendored from transformers). A turn is mostly 1-4 s of
speech, so most of the 801 spectrogram frames see only the padding, which after the waveform's
normalization is one constant value: those frames are all the same frame. Here it is transformed
once and repeated, and every other step is Pipecat's own, in its order and precision, so the
features are bit-identical (tests/unit/test_turn_features.py); for 2 s of speech they cost ~1.9 ms
instead of ~6.4 (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pipecat.audio.turn.smart_turn import _whisper_features as whisper

SAMPLE_RATE = 16000
SAMPLES = 8 * SAMPLE_RATE
_HALF_FRAME = whisper._N_FFT // 2  # the spectrogram is centred: reflect-padded by half a frame


def smart_turn_features(speech: np.ndarray) -> np.ndarray:
    """The (80, 800) features of `speech` (float32 at 16 kHz, its last 8 s kept), as
    `compute_whisper_log_mel_features(speech zero-padded in front to 8 s, do_normalize=True)`."""
    speech = speech[-SAMPLES:]
    padding = SAMPLES - len(speech)
    x = np.pad(np.asarray(speech, dtype=np.float32), (padding, 0))
    x = (x - x.mean()) / np.sqrt(x.var() + whisper._NORM_VARIANCE_EPS)
    frames = sliding_window_view(np.pad(x.astype(np.float64), _HALF_FRAME, mode="reflect"), whisper._N_FFT)
    frames = frames[:: whisper._HOP_LENGTH]
    repeats = _padding_frames(padding) - 1  # all but one of them: that one is transformed
    power = np.abs(np.fft.rfft(frames[max(repeats, 0) :] * whisper._HANN_WINDOW, axis=-1)) ** 2
    if repeats > 0:
        power = np.concatenate([np.broadcast_to(power[0], (repeats, power.shape[1])), power])
    mel = np.maximum(whisper._MEL_FLOOR, whisper._MEL_FILTERS.T @ power.T)
    log_mel = np.log10(mel)[:, :-1]
    log_mel = np.maximum(log_mel, log_mel.max() - 8.0)
    return ((log_mel + 4.0) / 4.0).astype(np.float32)


def _padding_frames(padding: int) -> int:
    """How many frames, from the first, see only the constant front: the padding and its
    reflection (which mirrors the padding itself only when it is longer than half a frame)."""
    if padding <= _HALF_FRAME:
        return 0
    constant = _HALF_FRAME + padding  # samples of the reflect-padded waveform
    return (constant - whisper._N_FFT) // whisper._HOP_LENGTH + 1
