"""The voice agent's pure rules: who answered, what the model is told, which tools it gets, the
offline responder's cues, and the office ambience."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from openrevox.agent import offline, prompts, tools
from openrevox.agent.answerer import classify_first_utterance
from openrevox.agent.background import background_mixer


@pytest.mark.parametrize(
    ("heard", "result"),
    [
        ("Hello?", "human"),
        ("Yeah, who's this?", "human"),
        ("Hi, you've reached Sam. Leave a message after the beep.", "voicemail"),
        ("The person you are calling is not available. Please record your message after the tone.", "voicemail"),
        ("You've reached Dr. Lee's office.", "voicemail"),  # a greeting, no menu
        ("Hi, you have reached Sam.", "voicemail"),  # the greeting cut at its first pause
        ("Sorry, I cannot take your call right now.", "voicemail"),
        ("Welcome. For sales press 1, for support press 2.", "IVR"),
        ("You've reached Acme. For billing, press 3.", "IVR"),  # a menu behind a greeting
        ("Please listen carefully as our menu options have changed.", "IVR"),
        ("Hi, if you record your name and reason for calling, I'll see if this person is available.", "ios-screening-filter"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_who_answered_is_read_from_the_first_utterance(heard, result):
    assert classify_first_utterance(heard) == result


def test_prompt_variables_are_interpolated_and_unknown_ones_left_visible():
    assert prompts.interpolate("Hi {{ name }}, about {{product}}", {"name": "Ana"}) == "Hi Ana, about {{product}}"
    assert prompts.interpolate(None, {"name": "Ana"}) is None


def test_system_prompt_carries_faq_and_tool_rules():
    assistant = {
        "prompt": "You call {{name}}.",
        "transfer_phone_number": "+12025550999",
        "ivr_navigation_enabled": True,
        "faq_items": [{"question": "Price?", "answer": "From 5,000 euros."}],
    }
    text = prompts.system_prompt(assistant, {"name": "Ana"})
    assert text.startswith("You call Ana.")
    assert "transfer_call" in text and "send_dtmf" in text
    assert "Q: Price?\nA: From 5,000 euros." in text


class Control:
    def __init__(self) -> None:
        self.done: list = []

    async def end_call(self, reason):  # noqa: ANN001, ANN201
        self.done.append(("end", reason))

    async def transfer_call(self):  # noqa: ANN201
        self.done.append(("transfer",))

    def tool_recorded(self):  # noqa: ANN201
        self.done.append(("tool_recorded",))

    async def send_dtmf(self, digits):  # noqa: ANN001, ANN201
        self.done.append(("dtmf", digits))

    async def skip_turn(self):  # noqa: ANN201
        self.done.append(("skip",))

    async def tool_called(self, name, arguments, result, is_error):  # noqa: ANN001, ANN201
        self.done.append(("recorded", name, result, is_error))


@pytest.mark.parametrize(
    ("assistant", "offered"),
    [
        ({}, ["end_call"]),
        ({"transfer_phone_number": "+12025550999"}, ["end_call", "transfer_call"]),
        ({"ivr_navigation_enabled": True}, ["end_call", "send_dtmf", "skip_turn"]),
    ],
)
def test_tools_follow_the_assistant(assistant, offered):
    assert [t.name for t in tools.tool_schemas(assistant, Control())] == offered


def test_bad_dtmf_digits_are_a_tool_error_the_model_sees():
    control = Control()
    (send_dtmf,) = [t for t in tools.tool_schemas({"ivr_navigation_enabled": True}, control) if t.name == "send_dtmf"]
    answers = []

    class Params:
        function_name = "send_dtmf"
        arguments = {"digits": "1a"}

        @staticmethod
        async def result_callback(result, properties=None):  # noqa: ANN001, ANN205
            answers.append((result, properties.run_llm))

    asyncio.run(send_dtmf.handler(Params()))
    assert control.done == [("recorded", "send_dtmf", "digits must be keys 0-9, * or #; got '1a'", True), ("tool_recorded",)]
    assert answers == [("digits must be keys 0-9, * or #; got '1a'", True)]  # the model tries again


@pytest.mark.parametrize(
    ("heard", "offered", "call"),
    [
        ("Thank you, goodbye.", {"end_call"}, ("end_call", {"reason": "the callee said goodbye"})),
        ("Can I speak to a real person?", {"end_call", "transfer_call"}, ("transfer_call", {"reason": "the callee asked for a person"})),
        ("Can I speak to a real person?", {"end_call"}, None),  # no transfer number: it just talks
        ("For sales press 1.", {"end_call", "send_dtmf", "skip_turn"}, ("send_dtmf", {"digits": "1"})),
        ("Yes, that works.", {"end_call"}, None),
    ],
)
def test_offline_responder_follows_obvious_cues(heard, offered, call):
    assert offline._tool_for(heard, offered) == call


def test_office_ambience_ships_and_fills_the_agents_silence():
    assert background_mixer(None) is None

    async def mixed_silence() -> np.ndarray:
        mixer = background_mixer("audio/office.ogg")
        await mixer.start(8000)
        return np.frombuffer(await mixer.mix(bytes(8000 * 2)), dtype="<i2")  # one second

    audio = asyncio.run(mixed_silence())
    rms = float(np.sqrt(np.mean(audio.astype(float) ** 2)))
    assert 50 < rms < 4000  # audible, and quiet next to speech (~3,000-10,000)
