"""Calls through Twilio, end to end over real sockets: openrevox (in this process, on a real port,
with a stand-in voice agent) dials a fake Twilio REST API, which plays the callee: it calls our
signed status webhooks and opens our media websocket like Twilio does. Each test reads the result
through the API as a user would."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from revox import Revox
from twilio.request_validator import RequestValidator

from conftest import database_url_for, drop_postgres_database, free_port
from fakes.echo_agent import SAMPLE_RATE, EchoAgent
from fakes.servers import ThreadedServer
from fakes.twilio_media import TwilioMediaClient
from fakes.twilio_rest import FakeTwilio
from openrevox.app import create_app
from openrevox.config import Settings
from openrevox.phone_numbers import service as phone_numbers

OUR_NUMBER = "+14155550100"
ALL_DAY_RETRY = {
    "calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 0}],
}
TERMINAL = ("completed", "cancelled", "errored")


@dataclass
class Stack:
    twilio: FakeTwilio
    server: ThreadedServer
    agent: EchoAgent
    api_key: str

    @property
    def revox(self) -> Revox:
        return Revox(api_key=self.api_key, base_url=self.server.url)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30)

    def call(self, to: str, max_retry_attempts: int = 0, **assistant: object) -> str:
        retry = {**ALL_DAY_RETRY, "max_retry_attempts": max_retry_attempts}
        created = self.revox.call.create(
            phone_number=to, assistant={"prompt": "Say hello", "call_retry_config": retry, **assistant}
        )
        return created.call.id

    def finished(self, call_id: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        with self.http() as http:
            while time.monotonic() < deadline:
                call = http.get(f"/call/{call_id}").json()["call"]
                if call["status"] in TERMINAL:
                    return call
                time.sleep(0.1)
        raise AssertionError(f"call {call_id} still {call['status']}: {call}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request, tmp_path):
    url = database_url_for(request.param, tmp_path)
    port, api_key = free_port(), f"sk_test_{uuid.uuid4().hex}"
    with FakeTwilio() as twilio:
        settings = Settings(
            data_dir=tmp_path, database_url=url, api_key=api_key, public_url=f"http://127.0.0.1:{port}",
            twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token, twilio_api_url=twilio.url,
            carrier_timeout_seconds=1.0, dispatch_interval=0.05, lease_seconds=5,
        )  # fmt: skip
        app = create_app(settings)
        with ThreadedServer(app, "openrevox", port) as server:
            agent = app.state.services.agent = EchoAgent()

            async def add_number() -> None:
                async with app.state.engine.begin() as conn:
                    org_id = await _default_org(conn)
                    await phone_numbers.add(conn, org_id, OUR_NUMBER, "twilio")

            server.call(add_number())
            yield Stack(twilio, server, agent, api_key)
    if request.param == "postgres":
        drop_postgres_database(url)


async def _default_org(conn) -> str:  # noqa: ANN001
    from openrevox.orgs.service import ensure_organization

    return await ensure_organization(conn, "default")


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

    (twilio_call,) = stack.twilio.calls_to("+12025550123")
    stack.twilio.wait_done(twilio_call)
    assert stack.twilio.problems == []
    assert twilio_call.request["From"] == [OUR_NUMBER]
    assert twilio_call.request["TimeLimit"] == ["600"]  # the assistant's max_call_duration_secs
    assert twilio_call.stream_parameters["attempt_id"] == attempt["id"]
    assert [c["status"] for c in twilio_call.callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(c["status_code"] == 204 for c in twilio_call.callbacks)
    # Media both ways: the agent heard the callee's second of audio, the callee heard the answer.
    heard_secs = len(stack.agent.heard[attempt["id"]]) / 2 / SAMPLE_RATE
    assert 0.9 <= heard_secs <= 1.05
    media = twilio_call.media
    assert len(media.media()) >= 4000 * 0.9  # the 0.5 s clip, μ-law at 8 kHz
    assert all(m["streamSid"] == media.stream_sid for m in media.events("media"))
    assert media.events("clear")  # the agent's barge-in reached Twilio as a clear
    assert stack.agent.finished == [attempt["id"]]


def test_busy_and_no_answer_are_dial_errors_and_retried(stack: Stack) -> None:
    stack.twilio.scripts |= {"+12025550131": "busy", "+12025550132": "no-answer", "+12025550133": "failed"}
    busy, no_answer, failed = (stack.call(n, max_retry_attempts=1) for n in ("+12025550131", "+12025550132", "+12025550133"))
    busy, no_answer, failed = stack.finished(busy), stack.finished(no_answer), stack.finished(failed)
    assert [a["dial_error"] for a in busy["call_attempts"]] == ["busy", "busy"]
    assert [a["dial_error"] for a in no_answer["call_attempts"]] == ["no_answer", "no_answer"]
    assert [a["status"] for a in busy["call_attempts"]] == ["error", "error"]
    # SIP 404: the number does not exist; final, not retried.
    assert [a["dial_error"] for a in failed["call_attempts"]] == ["number_non_attributed"]
    assert failed["status"] == "errored"
    assert len(stack.twilio.calls_to("+12025550131")) == 2


def test_rest_failures_and_timeouts_are_attempt_errors_and_retried(stack: Stack) -> None:
    stack.twilio.scripts |= {"+12025550141": "error", "+12025550142": "slow", "+12025550143": "refuse"}
    stack.twilio.slow_secs = 2.0  # past the 1 s carrier timeout
    error, slow, refused = (stack.call(n, max_retry_attempts=1) for n in ("+12025550141", "+12025550142", "+12025550143"))
    error, slow, refused = stack.finished(error), stack.finished(slow, 30), stack.finished(refused)
    for call in (error, slow):
        assert [a["status"] for a in call["call_attempts"]] == ["error", "error"]
        assert [a["dial_error"] for a in call["call_attempts"]] == ["non_classified_error"] * 2
    # Twilio 21211 (invalid To): the number is not attributed; never retried.
    assert [a["dial_error"] for a in refused["call_attempts"]] == ["number_non_attributed"]
    assert refused["status"] == "errored"


def test_forged_status_callbacks_are_refused(stack: Stack) -> None:
    stack.twilio.scripts["+12025550151"] = "busy"
    call = stack.finished(stack.call("+12025550151"))
    (attempt,) = call["call_attempts"]
    url = f"{stack.server.url}/telephony/twilio/status?attempt_id={attempt['id']}"
    params = {"CallSid": "CA1", "AccountSid": stack.twilio.account_sid, "CallStatus": "in-progress"}
    forged = {"X-Twilio-Signature": RequestValidator("not-the-token").compute_signature(url, params)}
    with httpx.Client() as http:
        assert http.post(url, data=params).status_code == 403  # unsigned
        assert http.post(url, data=params, headers=forged).status_code == 403
        other_url = url.replace(attempt["id"], str(uuid.uuid4()))  # signed for another address
        assert http.post(other_url, data=params, headers=stack.twilio.signed(url, params)).status_code == 403
        tampered = {**params, "CallStatus": "completed"}
        assert http.post(url, data=tampered, headers=stack.twilio.signed(url, params)).status_code == 403
    with stack.http() as http:
        assert http.get(f"/call/{call['id']}").json()["call"]["call_attempts"] == [attempt]


def test_replayed_and_out_of_order_callbacks_change_nothing(stack: Stack) -> None:
    stack.twilio.scripts["+12025550161"] = "late-answer"
    call = stack.finished(stack.call("+12025550161"))
    (attempt,) = call["call_attempts"]
    # `completed` (2 s long) came before `in-progress`: answered, then ended by the callee.
    assert attempt["status"] == "completed"
    assert attempt["answered_at"] is not None
    assert attempt["ended_by"] == "user"
    (twilio_call,) = stack.twilio.calls_to("+12025550161")
    stack.twilio.wait_done(twilio_call)
    for index in range(len(twilio_call.callbacks)):  # Twilio retries each one
        assert stack.twilio.server.call(stack.twilio.resend(twilio_call, index)) == 204
    with stack.http() as http:
        assert http.get(f"/call/{call['id']}").json()["call"] == call


def test_a_dropped_media_socket_ends_the_attempt_and_hangs_up(stack: Stack) -> None:
    stack.twilio.scripts["+12025550171"] = "drop"
    call = stack.finished(stack.call("+12025550171"))
    (attempt,) = call["call_attempts"]
    assert attempt["status"] == "completed"
    assert attempt["ended_by"] == "system"
    (twilio_call,) = stack.twilio.calls_to("+12025550171")
    assert twilio_call.updates == [{"Status": "completed"}]  # we hung the line up
    assert stack.agent.heard[attempt["id"]]  # what was heard before the drop is kept
    assert stack.agent.finished == [attempt["id"]]


def test_the_agent_transfers_a_call(stack: Stack) -> None:
    from openrevox.agent.session import Outcome

    stack.agent.outcome = Outcome(ended_by="agent", end_reason="transfer", transfer_to="+14155550199")
    stack.twilio.scripts["+12025550181"] = "hold"
    call = stack.finished(stack.call("+12025550181"))
    (attempt,) = call["call_attempts"]
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "transfer")
    (twilio_call,) = stack.twilio.calls_to("+12025550181")
    stack.twilio.wait_done(twilio_call)
    assert "<Dial>+14155550199</Dial>" in twilio_call.updates[0]["Twiml"]


def test_a_media_socket_without_our_token_is_closed(stack: Stack) -> None:
    async def connect() -> TwilioMediaClient:
        client = TwilioMediaClient(
            f"{stack.server.url}/telephony/twilio/media", {"attempt_id": str(uuid.uuid4()), "token": "guess"}, call_sid="CA1"
        )
        await client.connect()
        await asyncio.wait_for(client.closed.wait(), 5)
        return client

    client = stack.twilio.server.call(connect())
    assert client.received == []
    assert stack.agent.finished == []


def test_an_inbound_call_becomes_an_inbound_order(stack: Stack) -> None:
    with stack.http() as http:
        assistant = http.post("/assistants", json={"name": "Reception", "prompt": "Answer"}).json()["assistant"]
        (number,) = http.get("/phone-numbers").json()["phone_numbers"]
        http.patch(f"/phone-numbers/{number['id']}", json={"inbound_assistant_id": assistant["id"]})
    voice_url = f"{stack.server.url}/telephony/twilio/voice"
    status, twiml, twilio_call = stack.twilio.server.call(stack.twilio.ring_us(voice_url, OUR_NUMBER, "+33612345678"))
    assert status == 200 and "<Stream" in twiml
    attempt_id = twilio_call.stream_parameters["attempt_id"]
    with stack.http() as http:
        deadline = time.monotonic() + 10
        while True:
            (attempt,) = [a for a in http.get("/call", params={"page": 0, "page_size": 10}).json()["calls"] if a["id"] == attempt_id]
            if attempt["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        found = http.post("/call/search", json={
            "assignee_ids": [], "assistant_ids": [], "campaign_ids": [], "directions": ["inbound"], "from_phone_numbers": [],
            "outcomes": [], "results": [], "statuses": [], "page": 0, "page_size": 10}).json()["calls"]  # fmt: skip
    (order,) = found
    assert order["direction"] == "inbound"
    assert (order["from_phone_number"], order["to_phone_number"]) == ("+33612345678", OUR_NUMBER)
    assert order["assistant"]["name"] == "Reception"
    assert order["status"] == "completed"
    assert order["call_attempts"][0]["id"] == attempt_id
    assert attempt["ended_by"] == "user"
    assert stack.agent.heard[attempt_id]
    # A number nobody answers is rejected; an unsigned ring is refused.
    status, twiml, _ = stack.twilio.server.call(stack.twilio.ring_us(voice_url, "+14155550111", "+33612345678"))
    assert status == 200 and "<Reject" in twiml
    status, _, _ = stack.twilio.server.call(stack.twilio.ring_us(voice_url, OUR_NUMBER, "+33612345678", signature="forged"))
    assert status == 403
