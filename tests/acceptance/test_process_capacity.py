"""Two openrevox processes on one database behind one public address, through a fake Twilio over
real sockets: each holds no more live calls than its `OPENREVOX_MAX_LIVE_CALLS`, and with a media
address of its own (`OPENREVOX_MEDIA_URL`) each call's audio comes to the process that dialed it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from conftest import database_url_for, drop_postgres_database
from fakes.stack import Stack, openrevox_with
from fakes.twilio_rest import FakeTwilio


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_processes(request, tmp_path) -> Iterator[tuple[Stack, Stack]]:
    url = database_url_for(request.param, tmp_path)
    with FakeTwilio() as twilio:
        capped = {"twilio_account_sid": twilio.account_sid, "twilio_auth_token": twilio.auth_token,
                  "twilio_api_url": twilio.url, "max_live_calls": 1}  # fmt: skip
        with openrevox_with(twilio, capped, url, tmp_path / "first") as first:
            with openrevox_with(twilio, capped, url, tmp_path / "second", behind=first.server.url) as second:
                yield first, second
    if request.param == "postgres":
        drop_postgres_database(url)


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
