"""The voice catalogue.

With no TTS provider configured, openrevox offers sandbox voices: they are listed under the
provider names the API accepts (`cartesia`, `elevenlabs`) so that assistants using them stay
valid when a real key is added later, and the sandbox speaks them with eSpeak NG.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    description: str
    language: str
    provider: str

    def to_wire(self) -> dict:
        return asdict(self)


SANDBOX_NOTE = "Sandbox voice (eSpeak NG), used while no TTS provider key is configured."

SANDBOX_VOICES: tuple[Voice, ...] = (
    Voice("sandbox-en-amy", "Amy", f"English, warm. {SANDBOX_NOTE}", "en", "cartesia"),
    Voice("sandbox-en-ben", "Ben", f"English, calm. {SANDBOX_NOTE}", "en", "cartesia"),
    Voice("sandbox-fr-claire", "Claire", f"French, bright. {SANDBOX_NOTE}", "fr", "cartesia"),
    Voice("sandbox-es-diego", "Diego", f"Spanish, friendly. {SANDBOX_NOTE}", "es", "elevenlabs"),
    Voice("sandbox-de-erika", "Erika", f"German, clear. {SANDBOX_NOTE}", "de", "elevenlabs"),
    Voice("sandbox-en-frank", "Frank", f"English, deep. {SANDBOX_NOTE}", "en", "elevenlabs"),
)


def list_voices() -> list[Voice]:
    return list(SANDBOX_VOICES)


def find_voice(voice_id: str, provider: str) -> Voice | None:
    return next((v for v in list_voices() if v.id == voice_id and v.provider == provider), None)
