"""The voice agent end to end: the official SDK places sandbox calls on a live server whose LLM is
a scripted OpenAI-compatible server over real HTTP (streaming, tool calls); the transcript,
outcome, structured output and recording come back through the API.
"""

from __future__ import annotations

import io
import json
import time
import wave
from collections import deque

import httpx
import pytest
from conftest import BACKENDS, LiveServer, live_server
from revox import Revox
from scripted_llm import Reply, ScriptedLLM

SPEED = 10
HUMAN = "+12025550100"  # "Hello?" / "Yes, that works for me." / "Thank you, goodbye."
VOICEMAIL = "+12025550101"
IVR = "+12025550102"  # a menu; a person after key 1
ASKS_FOR_PERSON = "+12025550109"
SILENT = "+12025558888"  # answers and says nothing for 20 s (at speed 10)
PERSONAS = {SILENT: {"outcomes": ["human"], "ring_secs": 0.1, "talk_secs": 20}}
ONE_ATTEMPT = {
    "calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 1}],
    "max_retry_attempts": 0,
}  # fmt: skip


class Script:
    """The LLM's answers for the call under test, in order; an unexpected request fails loudly."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()

    def __call__(self, body: dict) -> Reply:
        if not self.replies:
            return Reply.error(500, "test script: no reply left")
        return self.replies.popleft()


@pytest.fixture(scope="module")
def llm():
    script = Script()
    with ScriptedLLM(responder=script) as server:
        server.script = script
        yield server


@pytest.fixture(scope="module", params=BACKENDS)
def agent_server(request, tmp_path_factory, llm) -> LiveServer:
    env = {
        "OPENREVOX_SANDBOX_SPEED": str(SPEED),
        "OPENREVOX_DISPATCH_INTERVAL": "0.05",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "sk-scripted",
    }
    with live_server(request.param, tmp_path_factory.mktemp(f"voice-agent-{request.param}"), env, PERSONAS) as live:
        yield live


@pytest.fixture
def revox(agent_server: LiveServer) -> Revox:
    return Revox(api_key=agent_server.api_key, base_url=agent_server.base_url)


def place(revox: Revox, llm: ScriptedLLM, number: str, replies: list[Reply], **assistant) -> dict:
    """Place one call with these scripted LLM replies; its final state, as GET /call returns it."""
    llm.script.replies = deque(replies)
    already = len(llm.requests)
    assistant = {"prompt": "You sell solar panels to {{name}}.", "call_retry_config": ONE_ATTEMPT, **assistant}
    created = revox.call.create(phone_number=number, assistant=assistant, prompt_variables={"name": "Ana"}, force_now=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        call = revox.call.retrieve(created.call.id).call.model_dump()
        if call["status"] in ("completed", "errored"):
            call["llm_requests"] = llm.requests[already:]
            return call
        time.sleep(0.1)
    raise AssertionError(f"call {created.call.id} did not finish: {call}")


def said(attempt: dict) -> list[tuple[str, str]]:
    return [(t["role"], t["tool_name"] or t["content"]) for t in attempt["transcript"]]


def test_three_turn_conversation_is_transcribed_in_order(revox, llm):
    call = place(
        revox,
        llm,
        HUMAN,
        [Reply.text("Great! Would Tuesday suit you?"), Reply.text("Perfect, see you Tuesday.")],
        first_sentence_mode="static",
        first_sentence="Hi {{name}}, this is Ada from Sunny.",
    )
    attempt = call["last_call_attempt"]
    assert said(attempt) == [
        ("user", "Hello?"),
        ("assistant", "Hi Ana, this is Ada from Sunny."),
        ("user", "Yes, that works for me."),
        ("assistant", "Great! Would Tuesday suit you?"),
        ("user", "Thank you, goodbye."),
        ("assistant", "Perfect, see you Tuesday."),
    ]
    assert (attempt["result"], attempt["ended_by"], attempt["end_reason"]) == ("human", "user", None)
    assert call["status"] == "completed"
    # The model was given the interpolated prompt, the tools, and the whole conversation so far.
    first, second = call["llm_requests"]
    assert first["stream"] is True
    assert "You sell solar panels to Ana." in first["messages"][0]["content"]
    assert [t["function"]["name"] for t in first["tools"]] == ["end_call"]
    assert [(m["role"], m["content"]) for m in second["messages"] if m["role"] != "system"] == [
        ("user", "Hello?"),
        ("assistant", "Hi Ana, this is Ada from Sunny."),
        ("user", "Yes, that works for me."),
        ("assistant", "Great! Would Tuesday suit you?"),
        ("user", "Thank you, goodbye."),
    ]


def test_end_call_tool_says_the_end_of_call_sentence_and_hangs_up(revox, llm):
    call = place(
        revox,
        llm,
        HUMAN,
        [Reply.text("Shall I book you in?"), Reply.tool_call("end_call", {"reason": "booked"})],
        first_sentence_mode="static",
        first_sentence="Hello!",
        end_of_call_sentence="Thanks {{name}}, goodbye!",
    )
    attempt = call["last_call_attempt"]
    assert said(attempt)[-3:] == [("user", "Thank you, goodbye."), ("tool", "end_call"), ("assistant", "Thanks Ana, goodbye!")]
    tool = attempt["transcript"][-2]
    assert tool["tool_arguments"] == {"reason": "booked"} and tool["tool_is_error"] is False
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "tool_end_call")


def test_voicemail_gets_the_voicemail_message_without_asking_the_model(revox, llm):
    call = place(revox, llm, VOICEMAIL, [], voicemail_message="Hi {{name}}, call us back at 555-0100.")
    attempt = call["last_call_attempt"]
    assert attempt["result"] == "voicemail"
    assert said(attempt) == [
        ("user", "Hi, you've reached Sam. Leave a message after the beep."),
        ("assistant", "Hi Ana, call us back at 555-0100."),
    ]
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "voicemail")
    assert call["llm_requests"] == []


def test_voicemail_without_a_message_hangs_up_at_once(revox, llm):
    attempt = place(revox, llm, VOICEMAIL, [])["last_call_attempt"]
    assert [role for role, _ in said(attempt)] == ["user"]
    assert (attempt["result"], attempt["ended_by"], attempt["end_reason"]) == ("voicemail", "agent", "voicemail")


def test_ivr_is_navigated_with_send_dtmf_then_the_person_is_talked_to(revox, llm):
    call = place(
        revox,
        llm,
        IVR,
        [
            Reply.tool_call("send_dtmf", {"digits": "1"}),
            Reply.text("Hi Alex, I'm calling about solar panels."),
            Reply.text("Great."),
            Reply.tool_call("end_call", {"reason": "done"}),
        ],
        ivr_navigation_enabled=True,
    )
    attempt = call["last_call_attempt"]
    assert attempt["result"] == "IVR"
    assert said(attempt)[:4] == [
        ("user", "Welcome. For sales press 1, for support press 2."),
        ("tool", "send_dtmf"),
        ("user", "Hello, this is Alex from sales."),
        ("assistant", "Hi Alex, I'm calling about solar panels."),
    ]
    assert attempt["transcript"][1]["tool_arguments"] == {"digits": "1"}
    assert {t["function"]["name"] for t in call["llm_requests"][0]["tools"]} == {"end_call", "send_dtmf", "skip_turn"}
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "tool_end_call")


def test_ivr_without_navigation_hangs_up(revox, llm):
    attempt = place(revox, llm, IVR, [])["last_call_attempt"]
    assert (attempt["result"], attempt["ended_by"], attempt["end_reason"]) == ("IVR", "agent", "ivr_no_navigate")


def test_a_person_asking_for_a_human_is_transferred(revox, llm):
    call = place(
        revox,
        llm,
        ASKS_FOR_PERSON,
        [Reply.text("Hi, I'm Ada from Sunny."), Reply.tool_call("transfer_call", {"reason": "asked for a person"})],
        transfer_phone_number="+12025550999",
    )
    attempt = call["last_call_attempt"]
    assert said(attempt)[-1] == ("tool", "transfer_call")
    assert (attempt["result"], attempt["ended_by"], attempt["end_reason"]) == ("human", "agent", "transfer")
    assert "transfer_call" in {t["function"]["name"] for t in call["llm_requests"][0]["tools"]}


def test_max_call_duration_ends_the_call_as_system(revox, llm):
    started = time.monotonic()
    call = place(revox, llm, SILENT, [Reply.text("Hello, anyone there?")], max_call_duration_secs=5)
    attempt = call["last_call_attempt"]
    assert (attempt["ended_by"], attempt["end_reason"]) == ("system", "max_duration")
    assert time.monotonic() - started < 1.5  # the silent callee would stay 2 s (at speed 10)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("static", [("assistant", "Hi, this is Ada.")]),
        ("generated", [("assistant", "Good morning, Ada from Sunny here.")]),
        ("none", []),
    ],
)
def test_first_sentence_modes(revox, llm, mode, expected):
    """A silent callee: only the agent's opening can be heard."""
    call = place(
        revox,
        llm,
        SILENT,
        [Reply.text("Good morning, Ada from Sunny here.")],
        first_sentence_mode=mode,
        first_sentence="Hi, this is Ada.",
        max_call_duration_secs=4,
    )
    assert said(call["last_call_attempt"]) == expected
    if mode == "generated":  # the first sentence is a hint to the model, not a script
        (request,) = call["llm_requests"]
        assert any("Hi, this is Ada." in m["content"] for m in request["messages"] if m["role"] == "system")
    else:
        assert call["llm_requests"] == []


def test_structured_output_and_recording_of_a_human_call(revox, llm, agent_server):
    extracted = {"wants_panels": True, "visit_date": "2026-12-01", "budget": "12000"}
    call = place(
        revox,
        llm,
        HUMAN,
        [Reply.text("Can we visit on December 1st?"), Reply.text("Noted, thanks!"), Reply.raw(json.dumps(extracted))],
        first_sentence_mode="static",
        first_sentence="Hi!",
        structured_output_config=[
            {"name": "wants_panels", "type": "boolean", "required": True},
            {"name": "visit_date", "type": "date", "required": True},
            {"name": "budget", "type": "number", "required": False},
        ],
    )
    attempt = call["last_call_attempt"]
    assert attempt["structured_output"] == {"wants_panels": True, "visit_date": "2026-12-01", "budget": 12000}
    extraction = call["llm_requests"][-1]
    assert extraction.get("stream") is not True and "response_format" in extraction
    assert "Can we visit on December 1st?" in json.dumps(extraction["messages"])

    audio = httpx.get(attempt["recording_url"], timeout=10)
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnchannels() == 2  # callee left, agent right
        assert wav.getnframes() / wav.getframerate() > 2  # six spoken lines
