"""Order policy stories (openrevox.orders.policy): when to dial first, and what follows an attempt.

The clock is fixed: Friday 16 January 2026, 19:00 in Paris (18:00Z), unless a row says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from openrevox.orders.policy import (
    AttemptOutcome,
    Decision,
    Finish,
    Retry,
    first_attempt_at,
    next_attempt,
    order_status_when_waiting,
)
from openrevox.scheduling.windows import DEFAULT_RETRY_CONFIG, RetryConfig, recipient_timezones


def local(zone: str, text: str) -> datetime:
    """'2026-01-17 10:00' on the wall clock of `zone`, as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def paris(text: str) -> datetime:
    return local("Europe/Paris", text)


def new_york(text: str) -> datetime:
    return local("America/New_York", text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config(*windows: tuple[str, str, int], retries: int = 3, timezone: str | None = None) -> RetryConfig:
    return RetryConfig.from_wire({
        "calling_windows": [
            {"calling_window_start_time": s, "calling_window_end_time": e, "retry_delay_seconds": d}
            for s, e, d in windows
        ],
        "max_retry_attempts": retries,
        "timezone": timezone,
    })


def ended(at: datetime, result: str | None = None, dial_error: str | None = None,
          status: str | None = None) -> AttemptOutcome:
    """An attempt that ended at `at`; a dial error implies status 'error' unless told otherwise."""
    return AttemptOutcome(status or ("error" if dial_error else "completed"), dial_error, result, at)


NOW = paris("2026-01-16 19:00")  # a Friday evening
DEFAULT = DEFAULT_RETRY_CONFIG
PARIS_NUMBER = "+33142685300"
NEW_YORK_NUMBER = "+12125551234"
PERTH_NUMBER = "+61891234567"  # area 8: Adelaide and Perth
AUSTRALIAN_MOBILE = "+61412345678"  # every Australian zone, from Lord Howe to Christmas Island
NEW_YORK_TWO_WINDOWS = config(("9am", "12pm", 1800), ("2pm", "5pm", 3600))
LATE_NIGHT = config(("22:00", "02:00", 3600))
TWO_HOURS_AT_TEN = config(("10am", "12pm", 60), ("2pm", "4pm", 600))


@pytest.mark.parametrize(("cfg", "number", "created_at", "scheduled_at", "force_now", "now", "expected"), [
    (DEFAULT, PARIS_NUMBER, NOW, None, False, NOW, paris("2026-01-17 10:00")),
    # ^ created Friday 19:00: 0.1.1 has no allowed_days, so Saturday 10:00 is the next window
    (DEFAULT, PARIS_NUMBER, paris("2026-01-16 11:00"), None, False, paris("2026-01-16 11:00"),
     paris("2026-01-16 11:00")),  # created inside the window: due at once
    (DEFAULT, PARIS_NUMBER, paris("2026-01-16 07:30"), None, False, paris("2026-01-16 07:30"),
     paris("2026-01-16 10:00")),  # created before the window opens: at its start, same day
    (DEFAULT, PARIS_NUMBER, NOW, None, True, NOW, NOW),
    # ^ force_now dials outside the window
    (DEFAULT, PARIS_NUMBER, NOW, paris("2026-01-17 22:00"), True, NOW, paris("2026-01-17 22:00")),
    # ^ force_now ignores the window but still waits for scheduled_at
    (DEFAULT, PARIS_NUMBER, paris("2026-01-16 11:00"), paris("2026-01-15 12:00"), False,
     paris("2026-01-16 11:00"), paris("2026-01-16 11:00")),  # scheduled_at in the past, now inside: now
    (DEFAULT, PARIS_NUMBER, NOW, paris("2026-01-15 12:00"), False, NOW, paris("2026-01-17 10:00")),
    # ^ scheduled_at in the past, now outside: the next window, never the past
    (DEFAULT, PARIS_NUMBER, NOW, paris("2026-01-18 20:00"), False, NOW, paris("2026-01-19 10:00")),
    # ^ scheduled_at Sunday 20:00, outside the window: Monday 10:00
    (DEFAULT, PARIS_NUMBER, NOW, paris("2026-01-17 15:00"), False, NOW, paris("2026-01-17 15:00")),
    # ^ scheduled_at inside the window: exactly then
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, new_york("2026-01-16 13:00"), None, False,
     new_york("2026-01-16 13:00"), new_york("2026-01-16 14:00")),  # lunch gap: the afternoon window
    (DEFAULT, PERTH_NUMBER, utc("2026-06-15 00:00"), None, False, utc("2026-06-15 00:00"),
     local("Australia/Perth", "2026-06-15 10:00")),
    # ^ 08:00 Perth / 09:30 Adelaide: wait until 10:00 in Perth, the later of the two zones
    (TWO_HOURS_AT_TEN, AUSTRALIAN_MOBILE, utc("2026-06-15 00:00"), None, False, utc("2026-06-15 00:00"),
     local("Australia/Adelaide", "2026-06-15 10:00")),
    # ^ 2h windows never open in all of 8 zones 3.5h apart: use the first zone, Adelaide
    (config(("10:00", "18:00", 7200), timezone="America/New_York"), PARIS_NUMBER, NOW, None, False, NOW, NOW),
    # ^ override: a Paris number called on New York time, where it is 13:00
    (DEFAULT, "+15551234567", utc("2026-01-16 08:00"), None, False, utc("2026-01-16 08:00"),
     utc("2026-01-16 10:00")),  # unknown zone: the window is in UTC
    (LATE_NIGHT, PARIS_NUMBER, paris("2026-01-16 12:00"), None, False, paris("2026-01-16 12:00"),
     paris("2026-01-16 22:00")),  # a window across midnight opens in the evening
    (DEFAULT, PARIS_NUMBER, paris("2026-03-28 19:00"), None, False, paris("2026-03-28 19:00"),
     utc("2026-03-29 08:00")),  # clocks spring forward overnight: 10:00 Paris is now 08:00Z
])
def test_first_attempt_time(
    cfg: RetryConfig, number: str, created_at: datetime, scheduled_at: datetime | None,
    force_now: bool, now: datetime, expected: datetime,
) -> None:
    zones = recipient_timezones(number, cfg.timezone)
    assert first_attempt_at(cfg, zones, created_at, scheduled_at, force_now, now) == expected


FRIDAY_11 = paris("2026-01-16 11:00")
FRIDAY_13 = paris("2026-01-16 13:00")


@pytest.mark.parametrize(("cfg", "number", "attempts_made", "last", "expected"), [
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, "human"), Finish("completed")),
    # ^ a human on the first attempt completes the order
    (DEFAULT, PARIS_NUMBER, 4, ended(FRIDAY_11, "human"), Finish("completed")),
    # ^ a human on the last allowed attempt completes it too
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="number_non_attributed"), Finish("errored")),
    # ^ a number nobody owns will not start existing
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="no_international_permission"), Finish("errored")),
    # ^ the route forbids the destination: final
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="precondition_failed"), Finish("errored")),
    # ^ the carrier refused the request itself: final
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, "voicemail"), Retry(FRIDAY_13)),
    # ^ voicemail at 11:00 is retried after the 2h delay, still inside the window
    (DEFAULT, PARIS_NUMBER, 1, ended(paris("2026-01-16 17:00"), "voicemail"), Retry(paris("2026-01-17 10:00"))),
    # ^ the delay pushes past 18:00: next day's window start
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="no_answer"), Retry(FRIDAY_13)),
    # ^ no answer is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="busy"), Retry(FRIDAY_13)),
    # ^ busy is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="temporarily_unavailable"), Retry(FRIDAY_13)),
    # ^ temporarily unavailable is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, dial_error="too_many_calls"), Retry(FRIDAY_13)),
    # ^ carrier congestion is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, "IVR"), Retry(FRIDAY_13)),
    # ^ an IVR the agent could not navigate is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, "unknown"), Retry(FRIDAY_13)),
    # ^ an unclassified answer is retried
    (DEFAULT, PARIS_NUMBER, 1, ended(FRIDAY_11, "ios-screening-filter"), Retry(FRIDAY_13)),
    # ^ iOS call screening is retried
    (DEFAULT, PARIS_NUMBER, 2, ended(FRIDAY_11, dial_error="non_classified_error"), Retry(FRIDAY_13)),
    # ^ a system fault with budget left is retried
    (DEFAULT, PARIS_NUMBER, 3, ended(FRIDAY_11, "voicemail"), Retry(FRIDAY_13)),
    # ^ third of four attempts: one retry left
    (DEFAULT, PARIS_NUMBER, 4, ended(FRIDAY_11, "voicemail"), Finish("completed")),
    # ^ 1 + 3 retries made without a human: retries ran out, completed
    (DEFAULT, PARIS_NUMBER, 4, ended(FRIDAY_11, dial_error="no_answer"), Finish("completed")),
    # ^ the last attempt unanswered: still completed, the number was fine
    (DEFAULT, PARIS_NUMBER, 4, ended(FRIDAY_11, dial_error="non_classified_error"), Finish("errored")),
    # ^ a system fault after the retry budget is errored
    (DEFAULT, PARIS_NUMBER, 4, ended(FRIDAY_11, status="error"), Finish("errored")),
    # ^ an attempt in error with no dial error is a system fault too
    (config(("10:00", "18:00", 7200), retries=0), PARIS_NUMBER, 1, ended(FRIDAY_11, "voicemail"),
     Finish("completed")),  # max_retry_attempts 0: one attempt only
    (config(("10:00", "18:00", 0)), PARIS_NUMBER, 1, ended(FRIDAY_11, "voicemail"), Retry(FRIDAY_11)),
    # ^ a zero delay retries as soon as the window allows: right away
    (config(("10:00", "18:00", 86400)), PARIS_NUMBER, 1, ended(FRIDAY_11, "voicemail"),
     Retry(paris("2026-01-17 11:00"))),  # a one-day delay lands at the same time tomorrow
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, 1, ended(new_york("2026-01-16 10:00"), "voicemail"),
     Retry(new_york("2026-01-16 10:30"))),  # morning window: its own 30 min delay
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, 1, ended(new_york("2026-01-16 11:45"), "voicemail"),
     Retry(new_york("2026-01-16 14:00"))),  # 12:15 falls in the lunch gap: the afternoon start
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, 1, ended(new_york("2026-01-16 12:30"), "voicemail"),
     Retry(new_york("2026-01-16 14:00"))),  # ended outside all windows: first window's 30 min, then 14:00
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, 1, ended(new_york("2026-01-16 15:00"), "voicemail"),
     Retry(new_york("2026-01-16 16:00"))),  # afternoon window: its own 1h delay
    (NEW_YORK_TWO_WINDOWS, NEW_YORK_NUMBER, 1, ended(new_york("2026-01-16 16:30"), "voicemail"),
     Retry(new_york("2026-01-17 09:00"))),  # 17:30 is after the last window: tomorrow 9am
    (LATE_NIGHT, PARIS_NUMBER, 1, ended(paris("2026-01-16 23:30"), "voicemail"),
     Retry(paris("2026-01-17 00:30"))),  # window across midnight: the retry crosses midnight inside it
    (LATE_NIGHT, PARIS_NUMBER, 1, ended(paris("2026-01-17 01:30"), "voicemail"),
     Retry(paris("2026-01-17 22:00"))),  # 02:30 is past its end: the same evening's start
    (DEFAULT, PARIS_NUMBER, 1, ended(paris("2026-03-28 17:30"), "voicemail"), Retry(utc("2026-03-29 08:00"))),
    # ^ spring forward in Paris overnight: Sunday 10:00 CEST is 08:00Z, an hour earlier in UTC
    (DEFAULT, PERTH_NUMBER, 1, ended(utc("2026-06-15 08:00"), "voicemail"), Retry(utc("2026-06-16 02:00"))),
    # ^ 16:00 Perth + 2h is past 18:00 in Adelaide: tomorrow 10:00 Perth
    (DEFAULT, PERTH_NUMBER, 1, ended(utc("2026-06-15 04:00"), "voicemail"), Retry(utc("2026-06-15 06:00"))),
    # ^ 12:00 Perth + 2h = 14:00 Perth / 15:30 Adelaide: inside in both
    (config(("10:00", "18:00", 7200), timezone="America/New_York"), PARIS_NUMBER, 1,
     ended(new_york("2026-01-16 17:00"), "voicemail"), Retry(new_york("2026-01-17 10:00"))),
    # ^ override: the window is New York's, though the number is French
    (TWO_HOURS_AT_TEN, AUSTRALIAN_MOBILE, 1, ended(local("Australia/Adelaide", "2026-06-15 14:30"), "voicemail"),
     Retry(local("Australia/Adelaide", "2026-06-15 14:40"))),
    # ^ zones never agree: the window it ended in is judged in Adelaide, so the 10 min afternoon delay
])
def test_next_attempt(
    cfg: RetryConfig, number: str, attempts_made: int, last: AttemptOutcome, expected: Decision
) -> None:
    zones = recipient_timezones(number, cfg.timezone)
    assert next_attempt(cfg, zones, attempts_made, last) == expected


@pytest.mark.parametrize(("due_at", "expected"), [
    (NOW, "queued_for_calling"),                    # due this very instant
    (paris("2026-01-16 18:59"), "queued_for_calling"),  # overdue: waiting for a dial slot
    (paris("2026-01-17 10:00"), "scheduled"),        # due tomorrow
])
def test_waiting_order_status(due_at: datetime, expected: str) -> None:
    assert order_status_when_waiting(due_at, NOW) == expected


@pytest.mark.parametrize("fields", [
    {"status": "failed", "dial_error": None, "result": None},      # not an attempt status
    {"status": "error", "dial_error": "timeout", "result": None},   # not a dial error
    {"status": "completed", "dial_error": None, "result": "Human"},  # results are case-sensitive
])
def test_outcomes_outside_the_spec_vocabulary_are_refused(fields: dict) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        AttemptOutcome(ended_at=NOW, **fields)


def test_attempts_made_counts_the_attempt_just_finished() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next_attempt(DEFAULT, recipient_timezones(PARIS_NUMBER, None), 0, ended(FRIDAY_11, "voicemail"))
