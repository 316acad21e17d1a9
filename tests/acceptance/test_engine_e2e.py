"""The dispatch engine end to end: a live `openrevox serve` dials the sandbox carrier, retries,
cancels and pauses, on SQLite and on PostgreSQL, observed only through the HTTP API.

The server is this module's own (sandbox ten times faster than real time, dispatcher passes every
50 ms), so the whole file runs in well under a minute per backend.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import httpx
import pytest
from conftest import BACKENDS, LiveServer, live_server
from polling import wait_for

SPEED = 10  # sandbox times are divided by this
RETRY_DELAY = 1  # seconds, in every all-day window below
TERMINAL = ("completed", "cancelled", "errored")

# Numbers of this module's own, kept busy long enough to act on them while they are live.
LONG_HUMAN = "+12025559999"  # answers after 0.01 s, says hello, listens 30 s (at speed 10)
LONG_VOICEMAIL = "+13105550101"  # a 0101 voicemail whose greeting lasts 2 s (at speed 10)
PERSONAS = {
    LONG_HUMAN: {"outcomes": ["human"], "ring_secs": 0.1, "talk_secs": 300, "lines": ["Hello?"]},
    LONG_VOICEMAIL: {"outcomes": ["voicemail"], "ring_secs": 0.1, "talk_secs": 20},
}


@pytest.fixture(scope="module", params=BACKENDS)
def engine_server(request, tmp_path_factory) -> LiveServer:
    env = {"OPENREVOX_SANDBOX_SPEED": str(SPEED), "OPENREVOX_DISPATCH_INTERVAL": "0.05"}
    with live_server(request.param, tmp_path_factory.mktemp(f"engine-e2e-{request.param}"), env, PERSONAS) as live:
        yield live


@pytest.fixture
def client(engine_server: LiveServer):
    with engine_server.client() as http:
        yield http


# -- helpers --------------------------------------------------------------------------------


def all_day(max_retry_attempts: int, retry_delay_seconds: int = RETRY_DELAY) -> dict:
    """A retry config whose single window spans the whole day (start == end)."""
    return {
        "calling_windows": [
            {
                "calling_window_start_time": "00:00",
                "calling_window_end_time": "00:00",
                "retry_delay_seconds": retry_delay_seconds,
            }
        ],
        "max_retry_attempts": max_retry_attempts,
    }


def create(http: httpx.Client, number: str, retry_config: dict, **extra) -> dict:
    body = {"phone_number": number, "assistant": {"prompt": "Say hello", "call_retry_config": retry_config}, **extra}
    response = http.post("/call", json=body)
    assert response.status_code == 200, response.text
    return response.json()["call"]


def get(http: httpx.Client, call_id: str) -> dict:
    response = http.get(f"/call/{call_id}")
    assert response.status_code == 200, response.text
    return response.json()["call"]


def action(http: httpx.Client, call_id: str, name: str) -> None:
    response = http.post(f"/call/{call_id}/{name}")
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


def wait_terminal(http: httpx.Client, call_id: str, timeout: float) -> dict:
    return wait_for(
        lambda: (c := get(http, call_id))["status"] in TERMINAL and c,
        timeout,
        what=f"call {call_id} to end",
    )


def ts(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def oldest_first(call: dict) -> list[dict]:
    attempts = call["call_attempts"]
    # The API lists attempts most recent first: their start times say so.
    starts = [ts(a["started_at"]) for a in attempts]
    assert starts == sorted(starts, reverse=True), starts
    return list(reversed(attempts))


def assert_retries_waited(attempts: list[dict]) -> None:
    """Each retry starts no earlier than the previous attempt's end plus the retry delay."""
    for before, after in zip(attempts, attempts[1:], strict=False):
        gap = ts(after["started_at"]) - ts(before["ended_at"])
        assert gap >= timedelta(seconds=RETRY_DELAY) - timedelta(milliseconds=2), (before, after)


# -- retries and outcomes ---------------------------------------------------------------------


def test_0108_is_completed_by_a_human_on_the_third_attempt(client):
    call = create(client, "+12025550108", all_day(max_retry_attempts=3), force_now=True)
    final = wait_terminal(client, call["id"], 20)

    assert final["status"] == "completed"
    assert final["is_completed"] is True
    assert final["calls_count"] == 3
    assert len(final["call_attempts"]) == 3
    assert final["last_call_attempt"] == final["call_attempts"][0]
    attempts = oldest_first(final)
    assert [a["result"] for a in attempts] == ["voicemail", "voicemail", "human"]
    for attempt in attempts:
        assert attempt["status"] == "completed"
        assert attempt["dial_error"] is None
        assert attempt["phone_number"] == "+12025550108"
        started, answered, ended = ts(attempt["started_at"]), ts(attempt["answered_at"]), ts(attempt["ended_at"])
        assert started <= answered <= ended, attempt
        assert attempt["handled_by_ai"] is True
    # How each call ends: the agent leaves voicemails, and (with no LLM configured, the offline
    # responder) ends the conversation when the person says goodbye.
    assert [(a["ended_by"], a["end_reason"]) for a in attempts] == [
        ("agent", "voicemail"),
        ("agent", "voicemail"),
        ("agent", "tool_end_call"),
    ]
    # A human talks 3 s: at speed 10 the call lasts about 0.3 s after the answer.
    human = attempts[-1]
    assert ts(human["ended_at"]) - ts(human["answered_at"]) >= timedelta(seconds=3 / SPEED) - timedelta(milliseconds=50)
    assert_retries_waited(attempts)


def test_0103_busy_makes_one_attempt_plus_each_retry_then_completes(client):
    call = create(client, "+12025550103", all_day(max_retry_attempts=2), force_now=True)
    final = wait_terminal(client, call["id"], 20)

    assert final["status"] == "completed"
    assert final["calls_count"] == 3
    attempts = oldest_first(final)
    assert len(attempts) == 3
    for attempt in attempts:
        assert attempt["status"] == "error"
        assert attempt["dial_error"] == "busy"
        assert attempt["answered_at"] is None
        assert attempt["result"] is None
        assert ts(attempt["started_at"]) <= ts(attempt["ended_at"])
    assert final["last_call_attempt"] == final["call_attempts"][0]
    assert_retries_waited(attempts)
    # Retries are spent: nothing more is ever dialed.
    time.sleep(RETRY_DELAY + 0.3)
    assert len(get(client, call["id"])["call_attempts"]) == 3


def test_0105_not_attributed_is_errored_without_retry(client):
    call = create(client, "+12025550105", all_day(max_retry_attempts=3), force_now=True)
    final = wait_terminal(client, call["id"], 10)

    assert final["status"] == "errored"
    assert final["is_completed"] is False
    assert final["calls_count"] == 1
    (attempt,) = final["call_attempts"]
    assert attempt["status"] == "error"
    assert attempt["dial_error"] == "number_non_attributed"
    assert attempt["answered_at"] is None
    assert attempt["started_at"] is not None and attempt["ended_at"] is not None
    time.sleep(RETRY_DELAY + 0.3)
    assert len(get(client, call["id"])["call_attempts"]) == 1


# -- calling windows ------------------------------------------------------------------------


def zone_where_it_is_night(now: datetime) -> str:
    """An IANA zone where the local time is now between 02:00 and 05:00, far from 10:00-18:00."""
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "posix/", "right/")):
            continue
        local = now.astimezone(ZoneInfo(name))
        if 2 <= local.hour < 5:
            return name
    pytest.fail(f"no time zone has 02:00-05:00 at {now.isoformat()}")


def test_order_outside_its_calling_window_waits_scheduled(client):
    zone = zone_where_it_is_night(datetime.now(UTC))
    config = {
        "calling_windows": [
            {"calling_window_start_time": "10:00", "calling_window_end_time": "18:00", "retry_delay_seconds": 7200}
        ],
        "max_retry_attempts": 3,
        "timezone": zone,
    }
    call = create(client, "+12025550100", config)
    assert call["status"] == "scheduled", (zone, call)
    assert call["call_attempts"] == []
    assert call["calls_count"] == 0
    # Twenty dispatcher passes later, still nobody was called at night.
    time.sleep(1.0)
    later = get(client, call["id"])
    assert later["status"] == "scheduled"
    assert later["call_attempts"] == [] and later["last_call_attempt"] is None
    action(client, call["id"], "cancel")
    assert get(client, call["id"])["status"] == "cancelled"


# -- cancel and pause -----------------------------------------------------------------------


def live_attempt(http: httpx.Client, call_id: str, status: str = "ongoing") -> dict | None:
    call = get(http, call_id)
    last = call["last_call_attempt"]
    return call if last and last["status"] == status else None


def test_cancel_hangs_up_a_live_call(client):
    call = create(client, LONG_HUMAN, all_day(max_retry_attempts=3), force_now=True)
    # Live, and the agent has recognised a person: cancel hangs up a conversation, not a ringing line.
    wait_for(
        lambda: (c := live_attempt(client, call["id"])) and c["last_call_attempt"]["result"] == "human",
        10,
        what="a person to answer",
    )
    assert get(client, call["id"])["status"] == "calling"

    cancelled_at = time.monotonic()
    action(client, call["id"], "cancel")
    hung_up = wait_for(
        lambda: (c := get(client, call["id"]))["last_call_attempt"]["status"] != "ongoing" and c,
        5,
        interval=0.02,
        what="the live call to be hung up",
    )
    elapsed = time.monotonic() - cancelled_at
    assert elapsed < 2.0, f"hung up {elapsed:.2f} s after cancel"

    assert hung_up["status"] == "cancelled"
    assert hung_up["is_cancelled"] is True
    (attempt,) = hung_up["call_attempts"]
    assert attempt["status"] == "completed"
    assert attempt["result"] == "human"
    assert attempt["ended_by"] == "system"
    assert attempt["end_reason"] == "cancelled"
    assert ts(attempt["answered_at"]) <= ts(attempt["ended_at"])

    # No retry of a cancelled order, even once the retry delay has passed.
    time.sleep(RETRY_DELAY + 0.5)
    after = get(client, call["id"])
    assert after["status"] == "cancelled"
    assert len(after["call_attempts"]) == 1 and after["calls_count"] == 1


def test_pause_lets_the_live_call_finish_and_holds_retries_until_resume(client):
    call = create(client, LONG_VOICEMAIL, all_day(max_retry_attempts=1), force_now=True)
    wait_for(lambda: live_attempt(client, call["id"]), 10, what="the voicemail to answer")

    action(client, call["id"], "pause")
    # The live attempt is not hung up: it plays to its end (2 s at speed 10).
    first_done = wait_for(
        lambda: (c := get(client, call["id"]))["last_call_attempt"]["status"] == "completed" and c,
        8,
        what="the live voicemail attempt to end",
    )
    (first,) = first_done["call_attempts"]
    assert first["result"] == "voicemail"
    assert (first["ended_by"], first["end_reason"]) == ("agent", "voicemail")
    assert first_done["status"] == "paused"

    # Longer than the retry delay: still no new attempt while paused.
    time.sleep(RETRY_DELAY + 1.5)
    held = get(client, call["id"])
    assert held["status"] == "paused"
    assert len(held["call_attempts"]) == 1 and held["calls_count"] == 1

    resumed_at = datetime.now(UTC)
    action(client, call["id"], "resume")
    second = wait_for(
        lambda: len((c := get(client, call["id"]))["call_attempts"]) == 2 and c["call_attempts"][0]["started_at"] and c,
        5,
        what="the retry after resume to be dialed",
    )
    assert ts(second["call_attempts"][0]["started_at"]) >= resumed_at - timedelta(milliseconds=50)
    # One retry allowed, a voicemail again: retries run out and the order completes.
    final = wait_terminal(client, call["id"], 10)
    assert final["status"] == "completed"
    assert [a["result"] for a in oldest_first(final)] == ["voicemail", "voicemail"]
