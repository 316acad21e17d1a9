"""The Voices resource."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from openrevox.api.deps import CurrentPrincipal
from openrevox.errors import NotFound
from openrevox.voices.catalog import find_voice, list_voices

router = APIRouter(tags=["voices"])


@router.get("/voices", summary="List voices")
async def get_voices(_: CurrentPrincipal) -> dict:
    return {"voices": [v.to_wire() for v in list_voices()]}


@router.get("/voices/{voice_id}", summary="Retrieve a voice")
async def get_voice(
    voice_id: str, provider: Annotated[Literal["cartesia", "elevenlabs"], Query()], _: CurrentPrincipal
) -> dict:
    voice = find_voice(voice_id, provider)
    if voice is None:
        raise NotFound(f"No {provider} voice with id '{voice_id}'", param="id")
    return {"voice": {"id": voice.id, "name": voice.name, "description": voice.description}}
