"""The agent's ears and voice on a phone line: STT and TTS services from the assistant's `voice`
and the operator's keys, each through Pipecat's service for it.

- STT: Deepgram with DEEPGRAM_API_KEY; without it there is no transcription (the agent can still
  speak its fixed sentences, and barge-in still works from voice activity), which is logged.
- TTS by `voice.provider`: Cartesia (CARTESIA_API_KEY) or ElevenLabs (ELEVENLABS_API_KEY) with
  `voice.id` and `voice.speed`; without the provider's key, eSpeak NG speaks offline.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator

from pipecat.frames.frames import Frame
from pipecat.services.tts_service import TTSService
from pipecat.services.settings import TTSSettings

from openrevox.agent import speech

log = logging.getLogger("openrevox.agent")


def stt_service():
    key = os.environ.get("DEEPGRAM_API_KEY")
    if not key:
        log.warning("DEEPGRAM_API_KEY is not set: phone calls are not transcribed")
        return None
    from pipecat.services.deepgram.stt import DeepgramSTTService

    return DeepgramSTTService(api_key=key, sample_rate=8000)


def tts_service(voice: dict | None) -> TTSService:
    voice = voice or {}
    provider, voice_id, speed = voice.get("provider"), voice.get("id"), voice.get("speed")
    if provider == "cartesia" and (key := os.environ.get("CARTESIA_API_KEY")):
        from pipecat.services.cartesia.tts import CartesiaTTSService, GenerationConfig

        config = GenerationConfig(speed=speed) if speed else None
        return CartesiaTTSService(
            api_key=key, settings=CartesiaTTSService.Settings(voice=voice_id, generation_config=config)
        )
    if provider == "elevenlabs" and (key := os.environ.get("ELEVENLABS_API_KEY")):
        from pipecat.services.elevenlabs.tts import ElevenLabsTTSService

        return ElevenLabsTTSService(api_key=key, settings=ElevenLabsTTSService.Settings(voice=voice_id, speed=speed))
    return ESpeakTTSService()


class ESpeakTTSService(TTSService):
    """Offline speech with eSpeak NG (the wheel's library): the voice of sandbox recordings and of
    phone calls whose TTS provider has no key."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model="espeak-ng", voice=speech.AGENT_VOICE, language=None),
            **kwargs,
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        pcm = await asyncio.to_thread(speech.synthesize, text, speech.AGENT_VOICE, sample_rate=self.sample_rate)

        async def chunks():
            yield pcm

        async for frame in self._stream_audio_frames_from_iterator(
            chunks(), in_sample_rate=self.sample_rate, context_id=context_id
        ):
            yield frame
