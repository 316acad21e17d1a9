"""When a call's page keeps polling: while the call runs, and a minute more for a late recording."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openrevox.web.calls import following

NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
ENDED = "2026-01-05T11:59:30.000Z"  # 30 s ago
LONG_AGO = "2026-01-05T11:50:00.000Z"


def call(status: str, answered: bool = True, ended_at: str | None = ENDED, recording: str | None = None) -> dict:
    attempt = {"answered_at": ENDED if answered else None, "ended_at": ended_at, "recording_url": recording}
    return {"status": status, "last_call_attempt": attempt}


@pytest.mark.parametrize(
    ("the_call", "polls"),
    [
        ({"status": "queued_for_calling", "last_call_attempt": None}, True),  # not dialed yet
        (call("calling", ended_at=None), True),  # on the line
        (call("completed", recording="/recordings/a.wav?expires=1&signature=s"), False),  # all there
        (call("completed"), True),  # answered, ended 30 s ago, recording not stored yet
        (call("completed", ended_at=LONG_AGO), False),  # a recording that never came
        (call("errored", answered=False), False),  # never answered: no recording to wait for
        ({"status": "cancelled", "last_call_attempt": None}, False),
    ],
)
def test_a_call_page_polls_while_something_may_still_change(the_call: dict, polls: bool) -> None:
    assert following(the_call, NOW) is polls
