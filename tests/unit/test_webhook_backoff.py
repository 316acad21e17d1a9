"""Webhook retry policy (openrevox.postcall.policy): backoff, jitter, Retry-After, giving up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openrevox.postcall.policy import (
    MAX_DELAY_SECONDS,
    backoff_seconds,
    next_try_at,
    retry_after_seconds,
)

NOW = datetime(2026, 1, 16, 18, 0, tzinfo=UTC)
DAY = 86_400.0


def no_jitter() -> float:
    return 1.0  # the full delay


def least_jitter() -> float:
    return 0.0  # half the delay


@pytest.mark.parametrize(
    ("failed_tries", "random", "seconds"),
    [
        (1, no_jitter, 5),  # first failure: the base
        (2, no_jitter, 10),  # doubled per failure
        (5, no_jitter, 80),
        (1, least_jitter, 2.5),  # jitter takes off at most half
        (5, least_jitter, 40),
        (10, no_jitter, 2560),
        (11, no_jitter, MAX_DELAY_SECONDS),  # 5120 s, capped at an hour
        (40, no_jitter, MAX_DELAY_SECONDS),  # huge exponents stay capped
        (40, least_jitter, MAX_DELAY_SECONDS / 2),
    ],
)
def test_backoff_doubles_from_the_base_with_jitter_and_a_cap(failed_tries, random, seconds):
    assert backoff_seconds(failed_tries, 5.0, random) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),  # absent
        ("", None),
        ("120", 120.0),  # delay-seconds
        (" 7 ", 7.0),
        ("Fri, 16 Jan 2026 18:02:00 GMT", 120.0),  # an HTTP date
        ("Fri, 16 Jan 2026 17:00:00 GMT", 0.0),  # a date in the past: now
        ("999999999", DAY),  # a receiver may not push a try past a day
        ("soon", None),  # unreadable: ignored
        ("-5", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header, seconds):
    assert retry_after_seconds(header, NOW) == seconds


def schedule(**overrides):
    args = dict(
        failed_tries=1, retrying_since=NOW, now=NOW, base=5.0, retry_for=DAY, retry_after=None, random=no_jitter
    )
    return next_try_at(**{**args, **overrides})


def test_a_failure_is_tried_again_after_the_backoff():
    assert schedule() == NOW + timedelta(seconds=5)


def test_retry_after_longer_than_the_backoff_is_honoured():
    assert schedule(retry_after=600.0) == NOW + timedelta(seconds=600)


def test_retry_after_shorter_than_the_backoff_does_not_hurry_it():
    assert schedule(failed_tries=4, retry_after=1.0) == NOW + timedelta(seconds=40)


def test_retries_go_on_until_a_day_has_passed_then_stop():
    assert schedule(retrying_since=NOW - timedelta(hours=23, minutes=59)) is not None
    assert schedule(retrying_since=NOW - timedelta(hours=24)) is None


def test_a_day_of_failures_takes_at_least_24_hours_of_tries():
    """Every receiver failing: the tries span at least a day, and stop soon after."""
    now, tries = NOW, 0
    while True:
        tries += 1
        at = next_try_at(
            failed_tries=tries, retrying_since=NOW, now=now, base=5.0, retry_for=DAY, retry_after=None,
            random=least_jitter,
        )  # fmt: skip
        if at is None:
            break
        now = at
    assert now - NOW >= timedelta(hours=24)
    assert now - NOW < timedelta(hours=25)
    assert 20 < tries < 60
