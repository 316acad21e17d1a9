"""Two openrevox processes on one database behind one public address, through a fake Twilio over
real sockets: each holds no more live calls than its `OPENREVOX_MAX_LIVE_CALLS`, and with a media
address of its own (`OPENREVOX_MEDIA_URL`) each call's audio comes to the process that dialed it,
or, for an inbound call, to the process with room it was placed on; the second process may be an
`openrevox worker --port` beside an API process that runs no calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from conftest import database_url_for, drop_postgres_database
from fakes.stack import OUR_NUMBER, Stack, openrevox_with
from fakes.twilio_rest import FakeTwilio
from openrevox.scheduling import hosts


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def twilio_processes(backend: str, tmp_path, caps: tuple[int, int], worker: bool) -> Iterator[tuple[Stack, Stack]]:
    """Two processes on one database with the fake Twilio, capped at `caps`: a `serve`, and behind
    it a second `serve`, or with `worker` an `openrevox worker --port`."""
    url = database_url_for(backend, tmp_path)
    with FakeTwilio() as twilio:
        carrier = {"twilio_account_sid": twilio.account_sid, "twilio_auth_token": twilio.auth_token,
                   "twilio_api_url": twilio.url}  # fmt: skip
        first_settings, second_settings = ({**carrier, "max_live_calls": cap} for cap in caps)
        with openrevox_with(twilio, first_settings, url, tmp_path / "first") as first:
            behind = first.server.url
            with openrevox_with(twilio, second_settings, url, tmp_path / "second", behind, worker) as second:
                yield first, second
    if backend == "postgres":
        drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def two_processes(request, tmp_path) -> Iterator[tuple[Stack, Stack]]:
    yield from twilio_processes(request.param, tmp_path, (1, 1), worker=False)


@pytest.fixture(params=BACKENDS)
def api_and_worker(request, tmp_path) -> Iterator[tuple[Stack, Stack]]:
    """An API process that runs no calls (`OPENREVOX_MAX_LIVE_CALLS=0`) and a worker that runs them."""
    yield from twilio_processes(request.param, tmp_path, (0, 2), worker=True)


def test_each_process_runs_one_call_at_a_time_and_hears_the_calls_it_dialed(two_processes) -> None:
    first, second = two_processes
    numbers = [f"+1202555{n:04d}" for n in range(141, 145)]
    calls = [first.call(number) for number in numbers]
    finished = [first.finished(call, timeout=40) for call in calls]
    assert [call["status"] for call in finished] == ["completed"] * 4
    assert [call["call_attempts"][0]["result"] for call in finished] == ["human"] * 4

    twilio = first.carrier
    streamed_to = {
        twilio_call.stream_parameters["attempt_id"]: urlsplit(twilio_call.stream_url).port
        for number in numbers for twilio_call in twilio.calls_to(number)
    }  # fmt: skip
    for process in (first, second):
        port = urlsplit(process.server.url).port
        mine = {attempt for attempt, to_port in streamed_to.items() if to_port == port}
        assert mine, "each process dialed some of the calls"  # neither held them all
        assert set(process.agent.finished) == mine  # the audio came to the process that dialed
        assert process.agent.most_at_once == 1
    assert twilio.problems == []


def test_inbound_calls_go_to_a_process_with_room_and_are_refused_busy_when_none_has_any(two_processes) -> None:
    first, second = two_processes
    first.answer_our_number_with("Reception")
    wait_until_both_take_calls(first)
    twilio = first.carrier
    voice_url = f"{first.server.url}/telephony/twilio/voice"  # every webhook reaches the first process

    async def three_rings() -> list[tuple[int, str, object]]:
        return await asyncio.gather(*(twilio.ring_us(voice_url, OUR_NUMBER, f"+3361234567{n}") for n in range(3)))

    answers = twilio.server.call(three_rings(), timeout=60)
    assert [status for status, _, _ in answers] == [200] * 3
    streamed = {urlsplit(call.stream_url).port: call.stream_parameters["attempt_id"] for _, _, call in answers if call.stream_url}
    ports = {urlsplit(process.server.url).port: process for process in (first, second)}
    assert set(streamed) == set(ports)  # one call on each process, each held to one
    for port, attempt_id in streamed.items():
        assert ports[port].agent.finished == [attempt_id]  # the audio came to the process it was placed on
    (refused,) = [twiml for _, twiml, call in answers if not call.stream_url]
    assert '<Reject reason="busy"' in refused
    orders = [first.finished(order["id"]) for order in first.inbound_orders()]
    assert sorted(order["call_attempts"][0]["dial_error"] or "" for order in orders) == ["", "", "too_many_calls"]
    assert twilio.problems == []


def test_a_worker_with_a_port_runs_the_calls_and_an_api_process_capped_at_zero_none(api_and_worker) -> None:
    api, worker = api_and_worker
    numbers = [f"+1202555{n:04d}" for n in range(151, 154)]
    finished = [api.finished(call, timeout=40) for call in [api.call(number) for number in numbers]]
    assert [call["status"] for call in finished] == ["completed"] * 3
    assert [call["call_attempts"][0]["result"] for call in finished] == ["human"] * 3
    twilio, worker_port = api.carrier, urlsplit(worker.server.url).port
    assert {urlsplit(call.stream_url).port for number in numbers for call in twilio.calls_to(number)} == {worker_port}
    assert sorted(worker.agent.finished) == sorted(call["call_attempts"][0]["id"] for call in finished)
    assert worker.agent.most_at_once <= 2
    assert api.agent.finished == []

    # A call to our number: its webhook reaches the API process, which places it on the worker.
    api.answer_our_number_with("Reception")
    wait_until_both_take_calls(api)
    voice_url = f"{api.server.url}/telephony/twilio/voice"
    status, _, call = twilio.server.call(twilio.ring_us(voice_url, OUR_NUMBER, "+33612345670"), timeout=30)
    assert status == 200 and urlsplit(call.stream_url).port == worker_port
    assert worker.agent.finished[-1] == call.stream_parameters["attempt_id"]
    assert api.agent.finished == []
    assert twilio.problems == []


def wait_until_both_take_calls(stack: Stack, timeout: float = 10) -> None:
    """Both processes registered where inbound calls look for room (each does as it starts)."""
    engine = stack.server.app.state.engine

    async def registered() -> int:
        async with engine.connect() as conn:
            return len(await hosts.live_hosts(conn, datetime.now(UTC)))

    deadline = time.monotonic() + timeout
    while stack.server.call(registered()) < 2:
        assert time.monotonic() < deadline, "the processes did not register"
        time.sleep(0.05)
