"""`background_sound`: a quiet office ambience under the agent's voice on a phone line.

The sound ships with the package (openrevox/agent/audio/office.ogg, made by
scripts/make_office_ambience.py from synthesized noise, so it is ours to ship) and is mixed into
everything the agent sends, silence included, by Pipecat's SoundfileMixer.
"""

from __future__ import annotations

from importlib import resources

from pipecat.audio.mixers.soundfile_mixer import SoundfileMixer

SOUNDS = {"audio/office.ogg": "office.ogg"}  # the spec's values → files in openrevox/agent/audio
VOLUME = 0.5  # the file itself is quiet; this keeps it well under speech


def background_mixer(background_sound: str | None) -> SoundfileMixer | None:
    if background_sound not in SOUNDS:
        return None
    path = resources.files("openrevox.agent") / "audio" / SOUNDS[background_sound]
    return SoundfileMixer(sound_files={"background": str(path)}, default_sound="background", volume=VOLUME)
