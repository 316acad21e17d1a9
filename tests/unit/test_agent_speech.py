"""AgentSpeech (openrevox.agent.phone_call): when a sentence given to `say` counts as spoken —
the voicemail message and the end-of-call sentence are followed by a hang-up, so too early cuts
them off and too late leaves dead air."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame, LLMTextFrame, TTSSpeakFrame
from pipecat.tests.utils import SleepFrame, run_test

from openrevox.agent.phone_call import AgentSpeech

GOODBYE = "Thanks, goodbye."


def spoken_after(frames: list) -> tuple[bool, str]:
    """Whether GOODBYE counts as spoken once `frames` went through, and the turn's text. Frames
    are spaced as on a call (Pipecat lets a system frame, as the bot-speaking ones, pass queued
    data frames)."""
    frames = [paced for frame in frames for paced in (frame, SleepFrame(sleep=0.01))]

    async def story() -> tuple[bool, str]:
        speech = AgentSpeech()
        done = speech.spoken(GOODBYE)
        await run_test(speech, frames_to_send=frames)
        return done.done(), speech.take()

    return asyncio.run(story())


def test_the_end_of_speech_before_the_sentence_went_by_does_not_count():
    # The agent's previous reply ends before the sentence reaches TTS.
    assert spoken_after([BotStartedSpeakingFrame(), BotStoppedSpeakingFrame()])[0] is False


def test_the_sentence_is_spoken_when_its_speech_ends():
    assert spoken_after([TTSSpeakFrame(GOODBYE), BotStartedSpeakingFrame()])[0] is False  # still speaking
    said, text = spoken_after([TTSSpeakFrame(GOODBYE), BotStartedSpeakingFrame(), BotStoppedSpeakingFrame()])
    assert said is True and text == GOODBYE


def test_another_sentence_spoken_meanwhile_does_not_count():
    frames = [TTSSpeakFrame("Hold on."), BotStartedSpeakingFrame(), BotStoppedSpeakingFrame(), LLMTextFrame("Sure")]
    assert spoken_after(frames)[0] is False
