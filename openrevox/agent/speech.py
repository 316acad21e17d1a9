"""Offline speech synthesis for the sandbox: eSpeak NG, from the `espeakng-loader` wheel.

    pcm = synthesize("Hello?", CALLEE_VOICE)        # 16-bit mono PCM bytes at 8 kHz

The wheel ships libespeak-ng and its data; we drive the library through ctypes (no system
package). Synthesis is CPU-bound (about 15-20 ms for a ten-second sentence here) and eSpeak NG
keeps one global state, so calls are serialized by a lock: from the event loop, call it through
`asyncio.to_thread`. Nothing is cached: every call synthesizes.
"""

from __future__ import annotations

import ctypes
import threading

import espeakng_loader
import numpy as np
import soxr

# eSpeak NG voices with a variant after "+" (espeak-ng-data/voices/!v): the two sides of a
# sandbox call must be told apart by ear, and by their pitch in tests.
AGENT_VOICE = "en-us+f3"
CALLEE_VOICE = "en+m3"
DEFAULT_RATE = 175  # words per minute, eSpeak NG's own default
DEFAULT_SAMPLE_RATE = 8000  # a phone line's

# From speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report data errors instead of calling exit()
_ESPEAK_RATE = 1
_CHARS_UTF8 = 1
_POS_CHARACTER = 1

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Engine:
    """The library, initialized once; `lock` guards its global state and `chunks`."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if self.sample_rate <= 0:
            raise RuntimeError(f"eSpeak NG did not start (data in {data.decode()})")
        self.chunks: list[bytes] = []
        self.callback = _SynthCallback(self._collect)  # kept referenced: the library calls it
        self.lib = lib
        self.lock = threading.Lock()

    def _collect(self, wav, count: int, _events) -> int:
        if wav and count > 0:
            self.chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # go on

    def speak(self, text: bytes, voice: str, rate: int) -> bytes:
        with self.lock:
            # Set on every call: the library is one per process, and other code may load it too.
            self.lib.espeak_SetSynthCallback(self.callback)
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"eSpeak NG has no voice '{voice}'")
            self.lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
            self.chunks.clear()
            status = self.lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise RuntimeError(f"eSpeak NG failed to synthesize (status {status})")
            return b"".join(self.chunks)


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


def synthesize(
    text: str, voice: str = AGENT_VOICE, rate: int = DEFAULT_RATE, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> bytes:
    """`text` spoken by the eSpeak NG `voice` at `rate` words per minute, as 16-bit mono PCM
    (little-endian) at `sample_rate`; b"" for text with nothing to say."""
    if not 80 <= rate <= 450:
        raise ValueError(f"rate must be 80 to 450 words per minute, not {rate}")
    if not text.strip():
        return b""
    engine = _get_engine()
    pcm = engine.speak(text.replace("\x00", " ").encode(), voice, rate)
    if sample_rate == engine.sample_rate:
        return pcm
    samples = soxr.resample(np.frombuffer(pcm, dtype=np.int16), engine.sample_rate, sample_rate)
    return samples.astype("<i2").tobytes()
