"""Calls through Twilio, end to end over real sockets: openrevox (in this process, on a real port,
with a stand-in voice agent) dials a fake Twilio REST API, which plays the callee: it calls our
signed status webhooks and opens our media websocket like Twilio does. Each test reads the result
through the API as a user would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from twilio.request_validator import RequestValidator

from conftest import database_url_for, drop_postgres_database
from fakes.echo_agent import SAMPLE_RATE
from fakes.stack import OUR_NUMBER, Stack, openrevox_with
from fakes.twilio_media import TwilioMediaClient
from fakes.twilio_rest import FakeTwilio

@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request, tmp_path) -> Iterator[Stack]:
    url = database_url_for(request.param, tmp_path)
    with FakeTwilio() as twilio:
        carrier_settings = {
            "twilio_account_sid": twilio.account_sid, "twilio_auth_token": twilio.auth_token, "twilio_api_url": twilio.url
        }  # fmt: skip
        with openrevox_with(twilio, carrier_settings, url, tmp_path) as stack:
            yield stack
    if request.param == "postgres":
        drop_postgres_database(url)


def test_an_outbound_call_through_twilio_fills_the_attempt(stack: Stack) -> None:
    call = stack.finished(stack.call("+12025550123"))
    assert call["status"] == "completed"
    (attempt,) = call["call_attempts"]
    assert attempt["status"] == "completed"
    assert attempt["result"] == "human"
    assert attempt["dial_error"] is None
    assert attempt["ended_by"] == "user"  # the callee hung up (Twilio said stop, then completed)
    assert attempt["phone_number"] == "+12025550123"
    assert attempt["started_at"] <= attempt["answered_at"] <= attempt["ended_at"]
    assert call["from_phone_number"] == OUR_NUMBER

    (twilio_call,) = stack.carrier.calls_to("+12025550123")
    stack.carrier.wait_done(twilio_call)
    assert stack.carrier.problems == []
    assert twilio_call.request["From"] == [OUR_NUMBER]
    assert twilio_call.request["TimeLimit"] == ["600"]  # the assistant's max_call_duration_secs
    assert twilio_call.stream_parameters["attempt_id"] == attempt["id"]
    assert [c["status"] for c in twilio_call.callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(c["status_code"] == 204 for c in twilio_call.callbacks)
    # Media both ways: the agent heard the callee's second of audio, the callee heard the answer.
    heard_secs = len(stack.agent.heard[attempt["id"]]) / 2 / SAMPLE_RATE
    assert 0.75 <= heard_secs <= 1.05  # the stream resampler keeps a little back
    assert stack.agent.digits[attempt["id"]] == "1"  # the callee's keypad, through the serializer
    media = twilio_call.media
    assert len(media.media()) >= 4000 * 0.9  # the 0.5 s clip, μ-law at 8 kHz
    assert all(m["streamSid"] == media.stream_sid for m in media.events("media"))
    assert media.events("clear")  # the agent's barge-in reached Twilio as a clear
    assert stack.agent.finished == [attempt["id"]]


def test_busy_and_no_answer_are_dial_errors_and_retried(stack: Stack) -> None:
    stack.carrier.scripts |= {"+12025550131": "busy", "+12025550132": "no-answer", "+12025550133": "failed"}
    busy, no_answer, failed = (stack.call(n, max_retry_attempts=1) for n in ("+12025550131", "+12025550132", "+12025550133"))
    busy, no_answer, failed = stack.finished(busy), stack.finished(no_answer), stack.finished(failed)
    assert [a["dial_error"] for a in busy["call_attempts"]] == ["busy", "busy"]
    assert [a["dial_error"] for a in no_answer["call_attempts"]] == ["no_answer", "no_answer"]
    assert [a["status"] for a in busy["call_attempts"]] == ["error", "error"]
    # SIP 404: the number does not exist; final, not retried.
    assert [a["dial_error"] for a in failed["call_attempts"]] == ["number_non_attributed"]
    assert failed["status"] == "errored"
    assert len(stack.carrier.calls_to("+12025550131")) == 2


def test_rest_failures_and_timeouts_are_attempt_errors_and_retried(stack: Stack) -> None:
    stack.carrier.scripts |= {"+12025550141": "error", "+12025550142": "slow", "+12025550143": "refuse"}
    stack.carrier.slow_secs = 2.0  # past the 1 s carrier timeout
    error, slow, refused = (stack.call(n, max_retry_attempts=1) for n in ("+12025550141", "+12025550142", "+12025550143"))
    error, slow, refused = stack.finished(error), stack.finished(slow, 30), stack.finished(refused)
    for call in (error, slow):
        assert [a["status"] for a in call["call_attempts"]] == ["error", "error"]
        assert [a["dial_error"] for a in call["call_attempts"]] == ["non_classified_error"] * 2
    # Twilio 21211 (invalid To): the number is not attributed; never retried.
    assert [a["dial_error"] for a in refused["call_attempts"]] == ["number_non_attributed"]
    assert refused["status"] == "errored"


def test_forged_status_callbacks_are_refused(stack: Stack) -> None:
    stack.carrier.scripts["+12025550151"] = "busy"
    call = stack.finished(stack.call("+12025550151"))
    (attempt,) = call["call_attempts"]
    url = f"{stack.server.url}/telephony/twilio/status?attempt_id={attempt['id']}"
    params = {"CallSid": "CA1", "AccountSid": stack.carrier.account_sid, "CallStatus": "in-progress"}
    forged = {"X-Twilio-Signature": RequestValidator("not-the-token").compute_signature(url, params)}
    with httpx.Client() as http:
        assert http.post(url, data=params).status_code == 403  # unsigned
        assert http.post(url, data=params, headers=forged).status_code == 403
        other_url = url.replace(attempt["id"], str(uuid.uuid4()))  # signed for another address
        assert http.post(other_url, data=params, headers=stack.carrier.signed(url, params)).status_code == 403
        tampered = {**params, "CallStatus": "completed"}
        assert http.post(url, data=tampered, headers=stack.carrier.signed(url, params)).status_code == 403
    assert stack.get(call["id"])["call_attempts"] == [attempt]


def test_replayed_and_out_of_order_callbacks_change_nothing(stack: Stack) -> None:
    stack.carrier.scripts["+12025550161"] = "late-answer"
    call = stack.finished(stack.call("+12025550161"))
    (attempt,) = call["call_attempts"]
    # `completed` (2 s long) came before `in-progress`: answered, then ended by the callee.
    assert attempt["status"] == "completed"
    assert attempt["answered_at"] is not None
    assert attempt["ended_by"] == "user"
    (twilio_call,) = stack.carrier.calls_to("+12025550161")
    stack.carrier.wait_done(twilio_call)
    for index in range(len(twilio_call.callbacks)):  # Twilio retries each one
        assert stack.carrier.server.call(stack.carrier.resend(twilio_call, index)) == 204
    assert stack.get(call["id"]) == call


def test_media_before_the_answered_callback_is_an_answered_call(stack: Stack) -> None:
    stack.carrier.scripts["+12025550162"] = "media-first"
    call = stack.finished(stack.call("+12025550162"))
    (attempt,) = call["call_attempts"]
    assert (attempt["status"], attempt["result"], attempt["ended_by"]) == ("completed", "human", "user")
    assert attempt["answered_at"] is not None
    (twilio_call,) = stack.carrier.calls_to("+12025550162")
    stack.carrier.wait_done(twilio_call)
    assert [c["status"] for c in twilio_call.callbacks][-2:] == ["in-progress", "completed"]
    assert stack.get(call["id"]) == call  # the late news changed nothing


def test_a_dropped_media_socket_ends_the_attempt_and_hangs_up(stack: Stack) -> None:
    stack.carrier.scripts["+12025550171"] = "drop"
    call = stack.finished(stack.call("+12025550171"))
    (attempt,) = call["call_attempts"]
    assert attempt["status"] == "completed"
    assert attempt["ended_by"] == "system"
    (twilio_call,) = stack.carrier.calls_to("+12025550171")
    assert twilio_call.updates == [{"Status": "completed"}]  # we hung the line up
    assert stack.agent.heard[attempt["id"]]  # what was heard before the drop is kept
    assert stack.agent.finished == [attempt["id"]]


def test_the_agent_ends_a_call_and_the_line_is_hung_up(stack: Stack) -> None:
    from openrevox.agent.session import Outcome

    stack.agent.outcome = Outcome(ended_by="agent", end_reason="tool_end_call")
    stack.carrier.scripts["+12025550191"] = "hold"  # the callee would stay on the line
    call = stack.finished(stack.call("+12025550191"))
    (attempt,) = call["call_attempts"]
    assert (attempt["status"], attempt["ended_by"], attempt["end_reason"]) == ("completed", "agent", "tool_end_call")
    (twilio_call,) = stack.carrier.calls_to("+12025550191")
    stack.carrier.wait_done(twilio_call)
    assert twilio_call.updates == [{"Status": "completed"}]
    assert stack.get(call["id"]) == call  # Twilio's own `completed` afterwards changed nothing


def test_cancelling_a_live_call_hangs_it_up(stack: Stack) -> None:
    stack.carrier.scripts["+12025550192"] = "hold"
    call_id = stack.call("+12025550192")
    stack.latest_attempt(call_id, ("ongoing",))
    with stack.http() as http:
        assert http.post(f"/call/{call_id}/cancel").json() == {"success": True}
    attempt = stack.latest_attempt(call_id, ("completed", "error"))
    assert (attempt["status"], attempt["ended_by"], attempt["end_reason"]) == ("completed", "system", "cancelled")
    assert stack.get(call_id)["status"] == "cancelled"
    (twilio_call,) = stack.carrier.calls_to("+12025550192")
    stack.carrier.wait_done(twilio_call)
    assert twilio_call.updates[0] == {"Status": "completed"}


def test_the_agent_transfers_a_call(stack: Stack) -> None:
    from openrevox.agent.session import Outcome

    stack.agent.outcome = Outcome(ended_by="agent", end_reason="transfer", transfer_to="+14155550199")
    stack.carrier.scripts["+12025550181"] = "hold"
    call = stack.finished(stack.call("+12025550181"))
    (attempt,) = call["call_attempts"]
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "transfer")
    (twilio_call,) = stack.carrier.calls_to("+12025550181")
    stack.carrier.wait_done(twilio_call)
    assert "<Dial>+14155550199</Dial>" in twilio_call.updates[0]["Twiml"]


def test_a_media_socket_without_our_token_is_closed(stack: Stack) -> None:
    async def connect() -> TwilioMediaClient:
        client = TwilioMediaClient(
            f"{stack.server.url}/telephony/twilio/media", {"attempt_id": str(uuid.uuid4()), "token": "guess"}, call_sid="CA1"
        )
        await client.connect()
        await asyncio.wait_for(client.closed.wait(), 5)
        return client

    client = stack.carrier.server.call(connect())
    assert client.received == []
    assert stack.agent.finished == []


def test_an_inbound_call_becomes_an_inbound_order(stack: Stack) -> None:
    stack.answer_our_number_with("Reception")
    voice_url = f"{stack.server.url}/telephony/twilio/voice"
    status, twiml, twilio_call = stack.carrier.server.call(stack.carrier.ring_us(voice_url, OUR_NUMBER, "+33612345678"))
    assert status == 200 and "<Stream" in twiml
    (order,) = stack.inbound_orders()
    order = stack.finished(order["id"])
    assert order["direction"] == "inbound"
    assert (order["from_phone_number"], order["to_phone_number"]) == ("+33612345678", OUR_NUMBER)
    assert order["assistant"]["name"] == "Reception"
    assert order["status"] == "completed"
    (attempt,) = order["call_attempts"]
    assert attempt["id"] == twilio_call.stream_parameters["attempt_id"]
    assert (attempt["status"], attempt["result"], attempt["ended_by"]) == ("completed", "human", "user")
    assert stack.agent.heard[attempt["id"]]
    # A number nobody answers is rejected; an unsigned ring is refused.
    status, twiml, _ = stack.carrier.server.call(stack.carrier.ring_us(voice_url, "+14155550111", "+33612345678"))
    assert status == 200 and "<Reject" in twiml
    status, _, _ = stack.carrier.server.call(stack.carrier.ring_us(voice_url, OUR_NUMBER, "+33612345678", signature="forged"))
    assert status == 403
    assert len(stack.inbound_orders()) == 1
