"""Calling windows and recipient time zones, as pure functions of their arguments.

A calling window is a range of local times of day. A moment is *inside* when one window contains
its wall-clock time in every candidate zone of the recipient, so that nobody is called too early
or too late (decisions.md, "Call orders"). Nothing here reads the clock or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones

# How far ahead next_moment_in_window looks before deciding the zones never agree.
SEARCH_HORIZON = timedelta(days=8)
_FIRST_LOOK = timedelta(days=1)
# Offset changes are found by sampling at this step, then bisecting to the second.
_OFFSET_SAMPLE_STEP = 6 * 3600
_UNKNOWN_ZONE = "Etc/Unknown"

_HH_MM = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_H_MMA = re.compile(r"([0-9]{1,2})(?::([0-9]{2}))? ?([ap]m)", re.IGNORECASE)


def parse_window_time(text: str) -> time:
    """Parse 'HH:mm' (24-hour, '09:00', '9:00') or 'H:mma' (12-hour, '9am', '6:30 PM')."""
    if isinstance(text, str):
        stripped = text.strip()
        if match := _HH_MM.fullmatch(stripped):
            hour, minute = int(match[1]), int(match[2])
            if hour <= 23 and minute <= 59:
                return time(hour, minute)
        elif match := _H_MMA.fullmatch(stripped):
            hour, minute = int(match[1]), int(match[2] or 0)
            if 1 <= hour <= 12 and minute <= 59:
                # 12am is midnight and 12pm is noon: the hour 12 counts as 0 before adding pm.
                return time(hour % 12 + (12 if match[3].lower() == "pm" else 0), minute)
    raise ValueError(
        f"{text!r} is not a time of day; use 'HH:mm' (24-hour, e.g. '17:00') "
        "or 'H:mma' (12-hour, e.g. '6pm')"
    )


class InvalidRetryConfig(ValueError):
    """A call_retry_config that cannot be used; `param` is the path of the offending field."""

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}")
        self.param = param


@dataclass(frozen=True)
class CallingWindow:
    """Local times of day [start, end); end before start spans midnight, end == start is all day."""

    start: time
    end: time
    retry_delay_seconds: int

    def contains(self, local_time: time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local_time < self.end
        return local_time >= self.start or local_time < self.end


@dataclass(frozen=True)
class RetryConfig:
    """The spec's CallRetryConfig, parsed: windows in order, retries after the first attempt."""

    calling_windows: tuple[CallingWindow, ...]
    max_retry_attempts: int
    timezone: str | None

    def __post_init__(self) -> None:
        # Every search below assumes at least one window; an empty list would mean "never call".
        if not self.calling_windows:
            raise InvalidRetryConfig("calling_windows", "give at least one calling window")
        if self.max_retry_attempts < 0:
            raise InvalidRetryConfig("max_retry_attempts", "must be 0 or more")
        for i, window in enumerate(self.calling_windows):
            if window.retry_delay_seconds < 0:
                raise InvalidRetryConfig(f"calling_windows[{i}].retry_delay_seconds", "must be 0 or more")
        if self.timezone is not None and not is_valid_timezone(self.timezone):
            raise InvalidRetryConfig("timezone", _bad_zone_reason(self.timezone))

    @classmethod
    def from_wire(cls, data: Mapping[str, Any] | None) -> RetryConfig:
        """Parse the JSON shape; a missing field takes the documented default, None gives all defaults."""
        if data is None:
            return DEFAULT_RETRY_CONFIG
        raw_windows = data.get("calling_windows")
        if raw_windows is None:
            windows = DEFAULT_RETRY_CONFIG.calling_windows
        elif isinstance(raw_windows, list):
            windows = tuple(_window_from_wire(w, f"calling_windows[{i}]") for i, w in enumerate(raw_windows))
        else:
            raise InvalidRetryConfig("calling_windows", "must be a list of calling windows")
        retries = data.get("max_retry_attempts")
        zone = data.get("timezone")
        if zone is not None and not isinstance(zone, str):
            raise InvalidRetryConfig("timezone", _bad_zone_reason(zone))
        return cls(
            calling_windows=windows,
            max_retry_attempts=3 if retries is None else _whole_number(retries, "max_retry_attempts"),
            timezone=zone,
        )

    def to_wire(self) -> dict[str, Any]:
        """The JSON shape, times written as 'HH:mm'."""
        return {
            "calling_windows": [
                {
                    "calling_window_start_time": w.start.strftime("%H:%M"),
                    "calling_window_end_time": w.end.strftime("%H:%M"),
                    "retry_delay_seconds": w.retry_delay_seconds,
                }
                for w in self.calling_windows
            ],
            "max_retry_attempts": self.max_retry_attempts,
            "timezone": self.timezone,
        }


def _window_from_wire(data: object, param: str) -> CallingWindow:
    if not isinstance(data, Mapping):
        raise InvalidRetryConfig(param, "must be an object with calling_window_start_time, "
                                 "calling_window_end_time and retry_delay_seconds")
    times = []
    for key, default in (("calling_window_start_time", time(10)), ("calling_window_end_time", time(18))):
        text = data.get(key)
        try:
            times.append(default if text is None else parse_window_time(text))
        except ValueError as exc:
            raise InvalidRetryConfig(f"{param}.{key}", str(exc)) from None
    delay = data.get("retry_delay_seconds")
    return CallingWindow(times[0], times[1], 7200 if delay is None else
                         _whole_number(delay, f"{param}.retry_delay_seconds"))


def _whole_number(value: object, param: str) -> int:
    # bool is an int in Python, but `true` is not a count in JSON.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRetryConfig(param, f"{value!r} is not a whole number of 0 or more")
    return value


DEFAULT_RETRY_CONFIG = RetryConfig(
    calling_windows=(CallingWindow(time(10), time(18), 7200),),
    max_retry_attempts=3,
    timezone=None,
)


def is_valid_timezone(name: object) -> bool:
    """True for an IANA zone name this machine's tz database knows, e.g. 'Europe/Paris'."""
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # ValueError: a path such as '../x'
        return False
    return True


def _bad_zone_reason(name: object) -> str:
    return f"{name!r} is not an IANA time zone name, e.g. 'Europe/Paris' or 'America/New_York'"


def recipient_timezones(e164: str, override: str | None) -> tuple[ZoneInfo, ...]:
    """The override if given, else the zones phonenumbers gives for the number, else UTC."""
    if override is not None:
        if not is_valid_timezone(override):
            raise ValueError(_bad_zone_reason(override))
        return (ZoneInfo(override),)
    try:
        names = phone_timezones.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        names = ()
    # dict.fromkeys keeps phonenumbers' order (the first zone is the fallback) and drops repeats.
    zones = tuple(ZoneInfo(n) for n in dict.fromkeys(names) if n != _UNKNOWN_ZONE and is_valid_timezone(n))
    return zones or (ZoneInfo("UTC"),)


def window_at(config: RetryConfig, zones: tuple[ZoneInfo, ...], moment: datetime) -> CallingWindow | None:
    """The first window (in config order) containing `moment` in every zone, else None."""
    walls = [_as_utc(moment).astimezone(zone).time() for zone in _require(zones)]
    for window in config.calling_windows:
        if all(window.contains(wall) for wall in walls):
            return window
    return None


def next_moment_in_window(config: RetryConfig, zones: tuple[ZoneInfo, ...], earliest: datetime) -> datetime:
    """The first moment >= `earliest` inside a window in every zone; the first zone alone if they never agree."""
    start = _as_utc(earliest)
    found = _first_inside(config, _require(zones), start)
    if found is None and len(zones) > 1:
        found = _first_inside(config, zones[:1], start)
    if found is None:  # unreachable with one real zone and a non-empty window; kept loud
        raise RuntimeError(f"no calling-window moment within {SEARCH_HORIZON} of {start.isoformat()}")
    return found


def _first_inside(config: RetryConfig, zones: tuple[ZoneInfo, ...], start: datetime) -> datetime | None:
    # The inside set is a union of [a, b) intervals, and each `a` is where some zone's wall clock
    # reaches a window start (either fold) or jumps at an offset change. So the answer is `start`
    # itself or the earliest such candidate after it that window_at accepts. Most answers lie
    # within a day: candidates up to then are tried before the whole horizon's (the earliest
    # accepted one in a shorter range is the earliest of all, as every candidate in it is tried).
    if window_at(config, zones, start) is not None:
        return start
    tried_until = start
    for horizon in (_FIRST_LOOK, SEARCH_HORIZON):
        end = start + horizon
        candidates: set[datetime] = set()
        for zone in zones:
            candidates.update(_window_starts(config, zone, tried_until, end))
            candidates.update(_offset_changes(zone, tried_until, end))
        for candidate in sorted(c for c in candidates if tried_until < c <= end):
            if window_at(config, zones, candidate) is not None:
                return candidate
        tried_until = end
    return None


def _window_starts(config: RetryConfig, zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    # A window opened the day before may still be open at `start`; `start` is a candidate for that.
    day: date = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for window in config.calling_windows:
            for fold in (0, 1):  # both readings of an ambiguous wall time; the check keeps the right one
                local = datetime.combine(day, window.start, zone).replace(fold=fold)
                yield local.astimezone(UTC)
        day += timedelta(days=1)


def _offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    # Wall-clock jumps (DST, zone changes) are where a window start in a gap actually begins and
    # where falling back re-enters a window. Transitions sit on whole seconds, so bisect on those.
    low, stop = int(start.timestamp()), int(end.timestamp()) + 1
    before = _offset(zone, low)
    while low < stop:
        high = min(low + _OFFSET_SAMPLE_STEP, stop)
        after = _offset(zone, high)
        if after != before:
            a, b = low, high
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(zone, mid) == before:
                    a = mid
                else:
                    b = mid
            yield datetime.fromtimestamp(b, UTC)
        low, before = high, after


def _offset(zone: ZoneInfo, epoch_seconds: int) -> timedelta | None:
    return datetime.fromtimestamp(epoch_seconds, zone).utcoffset()


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _require(zones: tuple[ZoneInfo, ...]) -> tuple[ZoneInfo, ...]:
    if not zones:
        raise ValueError("no time zone given; use recipient_timezones() to get at least one")
    return zones
