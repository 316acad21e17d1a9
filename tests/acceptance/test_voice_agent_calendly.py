"""Booking over the phone with Calendly, end to end: the official SDK places a sandbox call on a
live server whose LLM is the scripted OpenAI-compatible server and whose Calendly is the fake
Calendly API, both over real HTTP; the agent looks up free times, fails to book one that is
taken, books the one the callee chose, and the transcript shows every tool call with its
arguments and result."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from acceptance.test_voice_agent import SPEED, Script, place, said
from conftest import LiveServer, database_url_for, start_server, stop_server
from revox import Revox
from scripted_llm import Reply, ScriptedLLM

from fakes.calendly import FakeCalendly

BOOKER = "+12025557777"  # Washington DC: the callee's zone is America/New_York
PERSONAS = {
    BOOKER: {
        "outcomes": ["human"],
        "ring_secs": 0.1,
        "talk_secs": 1,
        "lines": ["Hello?", "Sure, when are you free?", "Tomorrow at 10:30 works. I'm Ana Lima, ana@example.com.", "Great, bye!"],
    }
}
NEW_YORK = ZoneInfo("America/New_York")
EVENT = str(uuid.uuid4())
EVENT_URI = f"https://api.calendly.com/event_types/{EVENT}"


@pytest.fixture(scope="module")
def llm():
    script = Script()
    with ScriptedLLM(responder=script) as server:
        server.script = script
        yield server


@pytest.fixture(scope="module")
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture(scope="module")
def calendly_server(tmp_path_factory, llm, calendly) -> LiveServer:
    data_dir = tmp_path_factory.mktemp("voice-agent-calendly")
    personas = data_dir / "personas.json"
    personas.write_text(json.dumps(PERSONAS))
    live = start_server(
        database_url_for("sqlite", data_dir),
        data_dir,
        extra_env={
            "OPENREVOX_SANDBOX_SPEED": str(SPEED),
            "OPENREVOX_DISPATCH_INTERVAL": "0.05",
            "OPENREVOX_SANDBOX_PERSONAS": str(personas),
            "OPENAI_BASE_URL": llm.base_url,
            "OPENAI_API_KEY": "sk-scripted",
            "OPENREVOX_CALENDLY_TOKEN": calendly.token,
            "OPENREVOX_CALENDLY_BASE_URL": calendly.url,
        },
    )
    try:
        yield live
    finally:
        stop_server(live)


def test_the_agent_finds_a_free_time_and_books_it(calendly_server, llm, calendly):
    tomorrow = datetime.now(NEW_YORK).date() + timedelta(days=1)
    slots = [datetime.combine(tomorrow, time(h, m), NEW_YORK) for h, m in [(10, 0), (10, 30), (11, 0)]]
    calendly.event_types[EVENT] = list(slots)
    calendly.locations[EVENT] = [{"kind": "outbound_call"}]  # "host calls invitee"
    booking = {"start_time": f"{tomorrow}T10:30", "name": "Ana Lima", "email": "ana@example.com"}
    taken = {**booking, "start_time": f"{tomorrow}T10:15"}  # not a free time: Calendly refuses it

    revox = Revox(api_key=calendly_server.api_key, base_url=calendly_server.base_url)
    call = place(
        revox,
        llm,
        BOOKER,
        [
            Reply.tool_call("calendly_availability", {}),
            Reply.text("Tomorrow I have 10, 10:30 or 11 in the morning."),
            Reply.tool_call("calendly_book", taken),
            Reply.tool_call("calendly_book", booking),
            Reply.text("You're booked for tomorrow at 10:30, Ana."),
            Reply.tool_call("end_call", {"reason": "booked"}),
        ],
        first_sentence_mode="static",
        first_sentence="Hi {{name}}, it's Ada from Sunny. Shall we book your visit?",
        calendly={"connection_id": "conn_sunny", "event_type_id": EVENT_URI},
    )
    attempt = call["last_call_attempt"]
    assert said(attempt) == [
        ("user", "Hello?"),
        ("assistant", "Hi Ana, it's Ada from Sunny. Shall we book your visit?"),
        ("user", "Sure, when are you free?"),
        ("tool", "calendly_availability"),
        ("assistant", "Tomorrow I have 10, 10:30 or 11 in the morning."),
        ("user", "Tomorrow at 10:30 works. I'm Ana Lima, ana@example.com."),
        ("tool", "calendly_book"),
        ("tool", "calendly_book"),
        ("assistant", "You're booked for tomorrow at 10:30, Ana."),
        ("user", "Great, bye!"),
        ("tool", "end_call"),
    ]
    availability, refused, booked = (t for t in attempt["transcript"] if t["tool_name"] in ("calendly_availability", "calendly_book"))
    day = f"{tomorrow:%A, %B} {tomorrow.day}"
    assert availability["tool_arguments"] == {} and availability["tool_is_error"] is False
    assert availability["content"].startswith(
        f"Free times (America/New_York): {day}: 10 AM [{tomorrow}T10:00], 10:30 AM [{tomorrow}T10:30], 11 AM [{tomorrow}T11:00]."
    )
    assert refused["tool_arguments"] == taken and refused["tool_is_error"] is True
    assert "The selected time is not available" in refused["content"]
    assert booked["tool_arguments"] == booking and booked["tool_is_error"] is False
    assert booked["content"].startswith(f"Booked for Ana Lima on {day} at 10:30 AM (America/New_York)")
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "tool_end_call")

    # Calendly holds exactly the chosen booking, for the callee, in the callee's zone.
    (made,) = calendly.bookings
    assert (made["start_time"], made["event_type"]) == (slots[1], EVENT_URI)
    assert (made["name"], made["email"], made["timezone"]) == ("Ana Lima", "ana@example.com", "America/New_York")
    assert made["location"] == {"kind": "outbound_call", "location": BOOKER}
    assert made["event"] in booked["content"]
    assert all(r[0] == "GET" or r[3]["event_type"] == EVENT_URI for r in calendly.requests)

    # The model was offered the tools, and heard each result before speaking again.
    requests = call["llm_requests"]
    assert {"calendly_availability", "calendly_book"} <= {t["function"]["name"] for t in requests[0]["tools"]}
    heard = [[json.loads(m["content"]) for m in r["messages"] if m["role"] == "tool"] for r in requests]
    assert heard[1] == [availability["content"]]
    assert heard[3][-1] == refused["content"] and heard[4][-1] == booked["content"]
