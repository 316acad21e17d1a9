"""The pure order policy: when the first attempt is due, and what follows each attempt.

Rules from decisions.md, "Call orders". Every function takes the clock as an argument and returns
a frozen value; nothing here reads the clock, the database or the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from openrevox.scheduling.windows import CallingWindow, RetryConfig, next_moment_in_window, window_at

AttemptStatus = Literal["completed", "error"]
DialError = Literal[
    "number_non_attributed",
    "too_many_calls",
    "busy",
    "temporarily_unavailable",
    "no_answer",
    "no_international_permission",
    "precondition_failed",
    "non_classified_error",
]
AttemptResult = Literal["IVR", "voicemail", "human", "unknown", "ios-screening-filter"]
FinalStatus = Literal["completed", "errored"]

# Dial errors that no retry can fix: the number or the route is wrong, not the moment.
FINAL_DIAL_ERRORS: frozenset[str] = frozenset(
    {"number_non_attributed", "no_international_permission", "precondition_failed"}
)


@dataclass(frozen=True)
class AttemptOutcome:
    """How one finished attempt ended, in the spec's words."""

    status: AttemptStatus
    dial_error: DialError | None
    result: AttemptResult | None
    ended_at: datetime

    def __post_init__(self) -> None:
        # A typo here would silently become "retry"; refuse it where it is made instead.
        for name, value, allowed in (
            ("status", self.status, get_args(AttemptStatus)),
            ("dial_error", self.dial_error, (None, *get_args(DialError))),
            ("result", self.result, (None, *get_args(AttemptResult))),
        ):
            if value not in allowed:
                raise ValueError(f"attempt {name} {value!r} is not one of {allowed}")
        if self.ended_at.tzinfo is None:
            raise ValueError("attempt ended_at must be an aware datetime")

    @property
    def is_system_fault(self) -> bool:
        """Our side failed: an unclassified dial error, or an error with no dial error at all."""
        return self.dial_error == "non_classified_error" or (
            self.status == "error" and self.dial_error is None
        )


@dataclass(frozen=True)
class Retry:
    """Dial again at `at` (aware, UTC)."""

    at: datetime


@dataclass(frozen=True)
class Finish:
    """The order is over with this order status."""

    status: FinalStatus


Decision = Retry | Finish


def first_attempt_at(
    config: RetryConfig,
    zones: tuple[ZoneInfo, ...],
    created_at: datetime,
    scheduled_at: datetime | None,
    force_now: bool,
    now: datetime,
) -> datetime:
    """When the first attempt is due: never before `now` or `scheduled_at`, and inside a window
    unless `force_now` (which skips only the window check, not `scheduled_at`)."""
    start = max(scheduled_at or created_at, now).astimezone(UTC)
    if force_now:
        return start
    return next_moment_in_window(config, zones, start)


def next_attempt(
    config: RetryConfig,
    zones: tuple[ZoneInfo, ...],
    attempts_made: int,
    last: AttemptOutcome,
) -> Decision:
    """What follows the attempt `last`, the `attempts_made`-th of the order (counting it)."""
    if attempts_made < 1:
        raise ValueError(f"attempts_made is {attempts_made}; it counts `last`, so it is at least 1")
    if last.result == "human":
        return Finish("completed")
    if last.dial_error in FINAL_DIAL_ERRORS:
        return Finish("errored")
    # max_retry_attempts counts retries, so the budget is the first attempt plus that many.
    if attempts_made >= 1 + config.max_retry_attempts:
        return Finish("errored" if last.is_system_fault else "completed")
    delay = timedelta(seconds=_window_ended_in(config, zones, last.ended_at).retry_delay_seconds)
    return Retry(next_moment_in_window(config, zones, last.ended_at + delay))


def _window_ended_in(config: RetryConfig, zones: tuple[ZoneInfo, ...], ended_at: datetime) -> CallingWindow:
    # The window the attempt ended in, judged like the dial itself was: in every zone, else in the
    # first zone alone (the fallback next_moment_in_window uses), else the first window.
    return (
        window_at(config, zones, ended_at)
        or window_at(config, zones[:1], ended_at)
        or config.calling_windows[0]
    )


def order_status_when_waiting(due_at: datetime, now: datetime) -> Literal["queued_for_calling", "scheduled"]:
    """A waiting order is queued once its next attempt is due, scheduled before that."""
    return "queued_for_calling" if due_at <= now else "scheduled"
