"""Who answered: the first thing heard on the line decides, before the agent says a word.

Transcript-based like Pipecat's VoicemailDetector, with a phrase classifier instead of an extra
LLM round trip: it is deterministic, costs nothing, and the agent's first sentence is held only
until the callee's first utterance is heard.
"""

from __future__ import annotations

import re

VOICEMAIL = re.compile(
    r"leave (me |us )?(a |your )?(message|name and number)|after the (beep|tone)|voice ?mail|"
    r"record your message",
    re.IGNORECASE,
)
# Greetings that also open phone menus ("You've reached Acme, press 1..."): voicemail only when
# no menu follows.
MAYBE_VOICEMAIL = re.compile(
    r"(can'?t|cannot|can not) (take|come to) (your|the) (call|phone)|not available|unavailable right now|"
    r"you'?ve reached|you have reached",
    re.IGNORECASE,
)
IOS_SCREENING = re.compile(
    r"record your name and reason for calling|if you record your name|"
    r"the person you'?re calling is using a screening service|see if this person is available",
    re.IGNORECASE,
)
IVR = re.compile(
    r"\bpress\s+(\d|one|two|three|four|five|six|seven|eight|nine|zero|star|pound)\b|"
    r"for \w+(\s\w+)?,? press|main menu|please listen carefully|menu options have changed",
    re.IGNORECASE,
)


def classify_first_utterance(text: str | None) -> str:
    """The spec's `result` for the first utterance: ios-screening-filter, voicemail, IVR, human,
    or unknown when nothing was said (or heard without a transcription)."""
    if not text or not text.strip():
        return "unknown"
    if IOS_SCREENING.search(text):
        return "ios-screening-filter"
    if VOICEMAIL.search(text):
        return "voicemail"
    if IVR.search(text):
        return "IVR"
    if MAYBE_VOICEMAIL.search(text):
        return "voicemail"
    return "human"
