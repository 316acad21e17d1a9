"""What the phone agent says, as seen around TTS and the output transport
(openrevox.agent.phone_call): when a sentence given to `say` counts as spoken (the voicemail
message and the end-of-call sentence are followed by a hang-up, so too early cuts them off and too
late leaves dead air), and the text of the turn the agent started."""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from openrevox.agent.phone_call import SAID, AgentSpeech, SaidSentences

GOODBYE = "Thanks, goodbye."


def paced(frames: list) -> list:
    """Frames spaced as on a call (Pipecat lets a system frame, as the bot-speaking ones, pass
    queued data frames)."""
    return [paced for frame in frames for paced in (frame, SleepFrame(sleep=0.01))]


def spoken_after(played: list, given_up_on: int = 0) -> bool:
    """Whether GOODBYE, given to `say`, counts as spoken once the output transport has played
    `played` (the frames it passes on, in the order it plays them; SAID stands for GOODBYE's text
    type), after `say` gave up on as many sentences before it (their text never came out)."""

    async def story() -> bool:
        said = SaidSentences()
        for _ in range(given_up_on):
            said.say("Are you still there?")[1].cancel()  # as `say`'s timeout does
        frame, spoken = said.say(GOODBYE)
        assert frame.text == GOODBYE and frame.text_type.startswith(SAID)
        for played_frame in played:
            if getattr(played_frame, "text_type", None) == SAID:
                played_frame.text_type = frame.text_type
        await run_test(said, frames_to_send=paced(played))
        return spoken.done()

    return asyncio.run(story())


def reply_played(text: str, text_type: str = "sentence") -> list:
    """A TTS context as it leaves the output transport: its audio (not passed on), its text
    queued behind the audio, then the end of it."""
    return [BotStartedSpeakingFrame(), TTSStartedFrame(), TTSTextFrame(text, text_type=text_type), BotStoppedSpeakingFrame(), TTSStoppedFrame()]


def test_the_sentence_is_spoken_when_its_speech_ends():
    assert spoken_after(reply_played(GOODBYE, SAID)) is True
    assert spoken_after(reply_played(GOODBYE, SAID)[:3]) is False  # its text is out, its speech not over


def test_the_end_of_a_reply_still_playing_when_say_was_called_does_not_count():
    # The LLM's last words ("Great, talk soon.") still play when the end_call tool says goodbye:
    # their speech ends, on the line, before the goodbye's begins.
    assert spoken_after(reply_played("Great, talk soon.")) is False
    assert spoken_after(reply_played("Great, talk soon.") + reply_played(GOODBYE, SAID)) is True


def test_a_sentence_given_up_on_holds_up_no_later_one():
    assert spoken_after(reply_played(GOODBYE, SAID), given_up_on=2) is True


def test_another_sentence_of_the_same_words_does_not_count():
    # The LLM saying the same words is not the sentence `say` queued.
    assert spoken_after(reply_played(GOODBYE)) is False


def test_the_turn_text_is_what_went_to_tts():
    async def story() -> str:
        speech = AgentSpeech()
        frames = [LLMTextFrame("Sure,"), LLMTextFrame(" one moment."), TTSSpeakFrame(" Bye.")]
        await run_test(speech, frames_to_send=paced(frames))
        return speech.take()

    assert asyncio.run(story()) == "Sure, one moment. Bye."
