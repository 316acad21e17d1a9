"""Calls through Telnyx Call Control, end to end over real sockets: openrevox (in this process, on a
real port, with a stand-in voice agent) dials a fake Telnyx API, which plays the callee: it sends
our webhook ed25519-signed call events and streams media into our websocket like Telnyx does."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import database_url_for, drop_postgres_database
from fakes.echo_agent import SAMPLE_RATE
from fakes.stack import OUR_NUMBER, Stack, openrevox_with
from fakes.telnyx_media import TelnyxMediaClient
from fakes.telnyx_rest import FakeTelnyx


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def stack(request, tmp_path) -> Iterator[Stack]:
    yield from telnyx_stack(request.param, tmp_path)


@pytest.fixture(params=BACKENDS)
def one_call_stack(request, tmp_path) -> Iterator[Stack]:
    """A server that holds one live call at most (`OPENREVOX_MAX_LIVE_CALLS=1`)."""
    yield from telnyx_stack(request.param, tmp_path, max_live_calls=1)


def telnyx_settings(telnyx: FakeTelnyx, **settings) -> dict:
    return {
        "telnyx_api_key": telnyx.api_key, "telnyx_connection_id": telnyx.connection_id,
        "telnyx_public_key": telnyx.public_key, "telnyx_api_url": telnyx.url, **settings,
    }  # fmt: skip


def telnyx_stack(backend: str, tmp_path, **settings) -> Iterator[Stack]:  # noqa: ANN001
    url = database_url_for(backend, tmp_path)
    with FakeTelnyx() as telnyx:
        with openrevox_with(telnyx, telnyx_settings(telnyx, **settings), url, tmp_path) as stack:
            telnyx.webhook_url = f"{stack.server.url}/telephony/telnyx/webhook"  # the connection's, in the portal
            yield stack
    if backend == "postgres":
        drop_postgres_database(url)


def test_a_worker_with_a_port_runs_the_calls_of_an_api_process_capped_at_zero(tmp_path) -> None:
    url = database_url_for("sqlite", tmp_path)
    with FakeTelnyx() as telnyx:
        with openrevox_with(telnyx, telnyx_settings(telnyx, max_live_calls=0), url, tmp_path / "api") as api:
            telnyx.webhook_url = f"{api.server.url}/telephony/telnyx/webhook"
            worker_settings = telnyx_settings(telnyx, max_live_calls=1)
            with openrevox_with(telnyx, worker_settings, url, tmp_path / "worker", api.server.url, worker=True) as worker:
                call = api.finished(api.call("+12025550123"))
                (attempt,) = call["call_attempts"]
                assert (call["status"], attempt["result"], attempt["ended_by"]) == ("completed", "human", "user")
                (telnyx_call,) = telnyx.calls_to("+12025550123")
                telnyx.wait_done(telnyx_call)
                worker_media = "ws" + worker.server.url.removeprefix("http") + "/telephony/telnyx/media?"
                assert telnyx_call.stream_url.startswith(worker_media)
                assert (worker.agent.finished, api.agent.finished) == ([attempt["id"]], [])
                assert telnyx.problems == []


def test_an_outbound_call_through_telnyx_fills_the_attempt(stack: Stack) -> None:
    call = stack.finished(stack.call("+12025550123"))
    assert call["status"] == "completed"
    (attempt,) = call["call_attempts"]
    assert (attempt["status"], attempt["result"], attempt["dial_error"]) == ("completed", "human", None)
    assert attempt["ended_by"] == "user"
    assert attempt["started_at"] <= attempt["answered_at"] <= attempt["ended_at"]
    (telnyx_call,) = stack.carrier.calls_to("+12025550123")
    stack.carrier.wait_done(telnyx_call)
    assert stack.carrier.problems == []
    assert telnyx_call.request["from"] == OUR_NUMBER
    assert telnyx_call.request["time_limit_secs"] == 600
    assert f"attempt_id={attempt['id']}" in telnyx_call.stream_url
    assert [c["status"] for c in telnyx_call.callbacks] == ["initiated", "answered", "completed"]
    assert all(c["status_code"] == 204 for c in telnyx_call.callbacks)
    heard_secs = len(stack.agent.heard[attempt["id"]]) / 2 / SAMPLE_RATE
    assert 0.75 <= heard_secs <= 1.05  # the stream resampler keeps a little back
    assert stack.agent.digits[attempt["id"]] == "1"  # the callee's keypad, through the serializer
    assert len(telnyx_call.media.media()) >= 4000 * 0.9  # the 0.5 s clip, μ-law at 8 kHz
    assert telnyx_call.media.events("clear")


def test_hangup_causes_are_dial_errors_and_rest_faults_are_retried(stack: Stack) -> None:
    stack.carrier.scripts |= {
        "+12025550131": "busy", "+12025550132": "no-answer", "+12025550133": "failed",
        "+12025550141": "error", "+12025550142": "slow", "+12025550143": "refuse",
    }  # fmt: skip
    stack.carrier.slow_secs = 2.0  # past the 1 s carrier timeout
    ids = {n: stack.call(n, max_retry_attempts=1) for n in stack.carrier.scripts}
    errors = {n: [a["dial_error"] for a in stack.finished(i, 30)["call_attempts"]] for n, i in ids.items()}
    assert errors == {
        "+12025550131": ["busy", "busy"],
        "+12025550132": ["no_answer", "no_answer"],
        "+12025550133": ["number_non_attributed"],  # final: not retried
        "+12025550141": ["non_classified_error", "non_classified_error"],
        "+12025550142": ["non_classified_error", "non_classified_error"],
        "+12025550143": ["number_non_attributed"],  # Telnyx refused the `to` number
    }


def test_forged_and_stale_webhooks_are_refused(stack: Stack) -> None:
    stack.carrier.scripts["+12025550151"] = "busy"
    call = stack.finished(stack.call("+12025550151"))
    (telnyx_call,) = stack.carrier.calls_to("+12025550151")
    body = json.dumps(stack.carrier.event(telnyx_call, "answered")).encode()
    url = f"{stack.server.url}/telephony/telnyx/webhook"
    other_key = Ed25519PrivateKey.generate()
    now = int(time.time())
    forged = {"telnyx-signature-ed25519": base64.b64encode(other_key.sign(f"{now}|".encode() + body)).decode(),
              "telnyx-timestamp": str(now)}  # fmt: skip
    with httpx.Client() as http:
        assert http.post(url, content=body).status_code == 403  # unsigned
        assert http.post(url, content=body, headers=forged).status_code == 403
        assert http.post(url, content=body + b" ", headers=stack.carrier.signed(body)).status_code == 403  # tampered
        assert http.post(url, content=body, headers=stack.carrier.signed(body, now - 600)).status_code == 403  # stale
    assert stack.get(call["id"]) == call


def test_replayed_and_out_of_order_webhooks_change_nothing(stack: Stack) -> None:
    stack.carrier.scripts["+12025550161"] = "late-answer"
    call = stack.finished(stack.call("+12025550161"))
    (attempt,) = call["call_attempts"]
    assert (attempt["status"], attempt["ended_by"]) == ("completed", "user")  # the hangup came before the answer
    (telnyx_call,) = stack.carrier.calls_to("+12025550161")
    stack.carrier.wait_done(telnyx_call)
    for index in range(len(telnyx_call.callbacks)):
        assert stack.carrier.server.call(stack.carrier.resend(telnyx_call, index)) == 204
    assert stack.get(call["id"]) == call


def test_a_dropped_media_socket_ends_the_attempt_and_hangs_up(stack: Stack) -> None:
    stack.carrier.scripts["+12025550171"] = "drop"
    call = stack.finished(stack.call("+12025550171"))
    (attempt,) = call["call_attempts"]
    assert (attempt["status"], attempt["ended_by"]) == ("completed", "system")
    (telnyx_call,) = stack.carrier.calls_to("+12025550171")
    assert [u["action"] for u in telnyx_call.updates] == ["hangup"]
    assert stack.agent.heard[attempt["id"]]


def test_the_agent_transfers_a_call(stack: Stack) -> None:
    from openrevox.agent.session import Outcome

    stack.agent.outcome = Outcome(ended_by="agent", end_reason="transfer", transfer_to="+14155550199")
    stack.carrier.scripts["+12025550181"] = "hold"
    call = stack.finished(stack.call("+12025550181"))
    (attempt,) = call["call_attempts"]
    assert (attempt["ended_by"], attempt["end_reason"]) == ("agent", "transfer")
    (telnyx_call,) = stack.carrier.calls_to("+12025550181")
    stack.carrier.wait_done(telnyx_call)
    assert telnyx_call.updates[0] == {"action": "transfer", "to": "+14155550199"}


def test_a_media_socket_without_our_token_is_closed(stack: Stack) -> None:
    async def connect() -> TelnyxMediaClient:
        url = f"{stack.server.url}/telephony/telnyx/media?attempt_id={uuid.uuid4()}&token=guess"
        client = TelnyxMediaClient(url, call_control_id="v3:x")
        await client.connect()
        await asyncio.wait_for(client.closed.wait(), 5)
        return client

    assert stack.carrier.server.call(connect()).received == []
    assert stack.agent.finished == []


def test_an_inbound_call_becomes_an_inbound_order(stack: Stack) -> None:
    stack.answer_our_number_with("Reception")
    telnyx_call = stack.carrier.server.call(stack.carrier.ring_us(OUR_NUMBER, "+33612345678"))
    assert telnyx_call.updates[0]["action"] == "answer"
    (order,) = stack.inbound_orders()
    order = stack.finished(order["id"])
    assert (order["direction"], order["status"]) == ("inbound", "completed")
    assert (order["from_phone_number"], order["to_phone_number"]) == ("+33612345678", OUR_NUMBER)
    assert order["assistant"]["name"] == "Reception"
    (attempt,) = order["call_attempts"]
    assert (attempt["status"], attempt["ended_by"]) == ("completed", "user")
    assert stack.agent.heard[attempt["id"]]
    # Telnyx delivers call.initiated again: still one order.
    assert stack.carrier.server.call(stack.carrier.resend(telnyx_call, 0)) == 204
    assert [o["id"] for o in stack.inbound_orders()] == [order["id"]]
    # A number nobody answers is rejected.
    rejected = stack.carrier.server.call(stack.carrier.ring_us("+14155550111", "+33612345678"))
    assert rejected.updates == [{"action": "reject", "cause": "CALL_REJECTED"}]


def test_an_inbound_call_to_a_full_server_is_refused_busy_and_recorded(one_call_stack: Stack) -> None:
    stack = one_call_stack
    stack.answer_our_number_with("Reception")
    stack.carrier.scripts["+12025550183"] = "hold"
    outbound = stack.call("+12025550183")
    stack.latest_attempt(outbound, ("ongoing",))  # the server's one place is taken
    refused = stack.carrier.server.call(stack.carrier.ring_us(OUR_NUMBER, "+33612345678"))
    assert refused.updates == [{"action": "reject", "cause": "USER_BUSY"}]
    (order,) = stack.inbound_orders()
    (attempt,) = stack.finished(order["id"])["call_attempts"]
    assert (attempt["status"], attempt["dial_error"], attempt["ended_by"]) == ("error", "too_many_calls", "system")
    assert stack.carrier.problems == []
