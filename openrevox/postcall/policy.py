"""When to try a failed webhook again: pure, the clock and the randomness passed in.

Exponential backoff from `base` seconds, doubled per failed try and capped at an hour, with jitter
(each delay drawn between half and all of it, so receivers that come back are not stampeded);
a receiver's `Retry-After` (seconds or an HTTP date) is honoured when it asks for longer. Retries
go on until `retry_for` (a day by default) has passed since the window started, then stop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_DELAY_SECONDS = 3600.0
MAX_RETRY_AFTER_SECONDS = 86_400.0  # a receiver may not push a try further than a day


def backoff_seconds(failed_tries: int, base: float, random: Callable[[], float]) -> float:
    """Delay after the `failed_tries`-th failure (1 for the first): base × 2^(n-1), capped, jittered."""
    full = min(base * 2 ** max(failed_tries - 1, 0), MAX_DELAY_SECONDS)
    return full * (0.5 + 0.5 * random())


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """The wait a `Retry-After` header asks for, or None when absent or unreadable."""
    if not header:
        return None
    value = header.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_SECONDS)


def next_try_at(
    *,
    failed_tries: int,
    retrying_since: datetime,
    now: datetime,
    base: float,
    retry_for: float,
    retry_after: float | None,
    random: Callable[[], float],
) -> datetime | None:
    """When to try again after a failure, or None: the retry window is over, give up."""
    if now - retrying_since >= timedelta(seconds=retry_for):
        return None
    delay = backoff_seconds(failed_tries, base, random)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)
