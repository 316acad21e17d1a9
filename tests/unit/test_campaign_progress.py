"""A campaign's rows by status over time, rebuilt from its attempts (the dashboard's chart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openrevox.web.progress import series, stacked_bars, status_at

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def attempt(start: float, end: float | None, result: str | None, order_id: str = "o1") -> dict:
    return {"order_id": order_id, "started_at": at(start), "ended_at": None if end is None else at(end), "result": result}


VOICEMAIL_THEN_HUMAN = [attempt(1, 2, "voicemail"), attempt(10, 12, "human")]


@pytest.mark.parametrize(
    ("status", "attempts", "minute", "expected"),
    [
        ("scheduled", [], 5, "pending"),  # never dialed
        ("completed", VOICEMAIL_THEN_HUMAN, 0, "pending"),  # before its first dial
        ("completed", VOICEMAIL_THEN_HUMAN, 1.5, "calling"),  # first attempt ringing or talking
        ("completed", VOICEMAIL_THEN_HUMAN, 5, "retry"),  # voicemail, waiting for its retry
        ("completed", VOICEMAIL_THEN_HUMAN, 11, "calling"),  # the retry runs
        ("completed", VOICEMAIL_THEN_HUMAN, 13, "completed"),  # a human answered
        ("calling", [attempt(1, None, None)], 30, "calling"),  # still live
        ("errored", [attempt(1, 2, None)], 3, "failed"),  # its last attempt ended, the order errored
        ("scheduled", [attempt(1, 2, "voicemail")], 3, "retry"),  # not over: a retry will come
    ],
)
def test_status_of_a_row_at_a_moment(status: str, attempts: list, minute: float, expected: str) -> None:
    assert status_at({"status": status}, attempts, at(minute), last_point=False) == expected


def test_a_row_cancelled_before_any_dial_counts_as_failed_only_at_the_last_point() -> None:
    order = {"status": "cancelled"}
    assert status_at(order, [], at(5), last_point=False) == "pending"
    assert status_at(order, [], at(5), last_point=True) == "failed"


def test_series_counts_every_row_at_every_point_and_ends_at_the_end() -> None:
    orders = [{"id": "o1", "status": "completed"}, {"id": "o2", "status": "scheduled"}]
    points = series(orders, VOICEMAIL_THEN_HUMAN, T0, at(20), points=5)
    assert [moment for moment, _ in points] == [at(0), at(5), at(10), at(15), at(20)]
    assert all(sum(counts.values()) == 2 for _, counts in points)
    assert points[1][1]["retry"] == 1 and points[-1][1]["completed"] == 1 and points[-1][1]["pending"] == 1


def test_bars_stack_to_the_full_height_when_every_row_is_counted() -> None:
    points = [(at(0), {"completed": 1, "failed": 0, "retry": 0, "calling": 1, "pending": 2})]
    bars = stacked_bars(points, total=4, width=100, height=200)
    assert [(b.status, b.height) for b in bars] == [("completed", 50), ("calling", 50), ("pending", 100)]
    assert bars[0].y == 150 and bars[-1].y == 0  # completed at the bottom, pending on top
    assert stacked_bars(points, total=0, width=100, height=200) == []
