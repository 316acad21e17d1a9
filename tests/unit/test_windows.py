"""Calling windows, time parsing and recipient zones (openrevox.scheduling.windows)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from openrevox.scheduling.windows import (
    DEFAULT_RETRY_CONFIG,
    CallingWindow,
    InvalidRetryConfig,
    RetryConfig,
    is_valid_timezone,
    next_moment_in_window,
    parse_window_time,
    recipient_timezones,
    window_at,
)


def local(zone: str, text: str, fold: int = 0) -> datetime:
    """'2026-01-17 10:00' on the wall clock of `zone`, as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config(*windows: tuple[str, str, int], retries: int = 3) -> RetryConfig:
    return RetryConfig.from_wire({
        "calling_windows": [
            {"calling_window_start_time": s, "calling_window_end_time": e, "retry_delay_seconds": d}
            for s, e, d in windows
        ],
        "max_retry_attempts": retries,
    })


def zones(*names: str) -> tuple[ZoneInfo, ...]:
    return tuple(ZoneInfo(n) for n in names)


@pytest.mark.parametrize(("text", "expected"), [
    ("09:00", time(9, 0)),     # 24-hour with a leading zero
    ("9:00", time(9, 0)),      # 24-hour without the leading zero
    ("17:30", time(17, 30)),   # afternoon in 24-hour form
    ("00:00", time(0, 0)),     # midnight in 24-hour form
    ("23:59", time(23, 59)),   # the last minute of the day
    ("9am", time(9, 0)),       # 12-hour, hour only
    ("6pm", time(18, 0)),      # the spec's own example
    ("6:30pm", time(18, 30)),  # 12-hour with minutes
    ("12pm", time(12, 0)),     # 12pm is noon
    ("12am", time(0, 0)),      # 12am is midnight
    ("12:30am", time(0, 30)),  # half past midnight
    ("10AM", time(10, 0)),     # am/pm is case-insensitive
    ("6:30 PM", time(18, 30)), # one space before the suffix is allowed
    (" 10:00 ", time(10, 0)),  # surrounding blanks are forgiven
])
def test_window_time_parses_both_spec_formats(text: str, expected: time) -> None:
    assert parse_window_time(text) == expected


@pytest.mark.parametrize("text", [
    "24:00",     # the day has no hour 24
    "25:00",     # out-of-range hour
    "10:60",     # out-of-range minute
    "10:5",      # minutes need two digits
    "1000",      # no separator
    "10",        # a bare hour is ambiguous
    "13pm",      # 12-hour clock stops at 12
    "0am",       # 12-hour clock starts at 1
    "6:30p",     # suffix must be am or pm
    "noon",      # words are not times
    "",          # empty
    "10:00:00",  # seconds are not part of either format
    "6  pm",     # at most one space before the suffix
    "-1:00",     # negative hour
    "٠٩:٠٠",     # non-ASCII digits
    None,        # JSON null where a time belongs
])
def test_window_time_rejects_anything_else_with_an_actionable_message(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time of day; use 'HH:mm' .* or 'H:mma'"):
        parse_window_time(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "end", "wall", "inside"), [
    ("10:00", "18:00", "10:00", True),   # start is inclusive
    ("10:00", "18:00", "17:59", True),   # a minute before the end
    ("10:00", "18:00", "18:00", False),  # end is exclusive
    ("10:00", "18:00", "09:59", False),  # a minute early
    ("22:00", "02:00", "23:30", True),   # spans midnight: late evening side
    ("22:00", "02:00", "01:59", True),   # spans midnight: early morning side
    ("22:00", "02:00", "02:00", False),  # spans midnight: end still exclusive
    ("22:00", "02:00", "12:00", False),  # spans midnight: midday is outside
    ("09:00", "09:00", "03:00", True),   # start == end means the whole day
])
def test_window_contains_local_time(start: str, end: str, wall: str, inside: bool) -> None:
    window = CallingWindow(parse_window_time(start), parse_window_time(end), 60)
    assert window.contains(time.fromisoformat(wall)) is inside


def test_missing_retry_config_gives_documented_defaults() -> None:
    assert RetryConfig.from_wire(None) == DEFAULT_RETRY_CONFIG == RetryConfig(
        (CallingWindow(time(10), time(18), 7200),), 3, None
    )


def test_retry_config_round_trips_through_the_wire_shape() -> None:
    wire = {
        "calling_windows": [
            {"calling_window_start_time": "9am", "calling_window_end_time": "12pm", "retry_delay_seconds": 1800},
            {"calling_window_start_time": "14:00", "calling_window_end_time": "5pm", "retry_delay_seconds": 3600},
        ],
        "max_retry_attempts": 2,
        "timezone": "America/New_York",
    }
    parsed = RetryConfig.from_wire(wire)
    assert parsed.calling_windows[1] == CallingWindow(time(14), time(17), 3600)
    assert RetryConfig.from_wire(parsed.to_wire()) == parsed
    assert parsed.to_wire()["calling_windows"][0]["calling_window_end_time"] == "12:00"


@pytest.mark.parametrize(("wire", "param"), [
    ({"calling_windows": []}, "calling_windows"),  # an empty list would mean "never call"
    ({"calling_windows": "10-18"}, "calling_windows"),  # not a list
    ({"calling_windows": [{"calling_window_start_time": "25:00"}]},
     "calling_windows[0].calling_window_start_time"),  # bad time, named by its path
    ({"calling_windows": [{"retry_delay_seconds": -1}]},
     "calling_windows[0].retry_delay_seconds"),  # negative delay
    ({"calling_windows": [{"retry_delay_seconds": True}]},
     "calling_windows[0].retry_delay_seconds"),  # a JSON boolean is not a count
    ({"max_retry_attempts": 1.5}, "max_retry_attempts"),  # fractional retries
    ({"timezone": "Mars/Olympus"}, "timezone"),  # not an IANA zone
    ({"calling_windows": ["10:00"]}, "calling_windows[0]"),  # a window must be an object
])
def test_invalid_retry_config_names_the_offending_field(wire: dict, param: str) -> None:
    with pytest.raises(InvalidRetryConfig) as caught:
        RetryConfig.from_wire(wire)
    assert caught.value.param == param


@pytest.mark.parametrize(("name", "valid"), [
    ("Europe/Paris", True),       # an ordinary IANA name
    ("UTC", True),                # the fallback zone
    ("America/Indiana/Knox", True),  # three-part names exist
    ("europe/paris", False),      # names are case-sensitive
    ("Europe/Paris ", False),     # no trailing blanks
    ("America", False),           # a folder of the tz database, not a zone
    ("../../etc/passwd", False),  # a path, never a zone
    ("", False),                  # empty
    ("+02:00", False),            # an offset is not a zone
])
def test_timezone_names_are_checked_against_the_tz_database(name: str, valid: bool) -> None:
    assert is_valid_timezone(name) is valid


@pytest.mark.parametrize(("number", "override", "expected"), [
    ("+33142685300", None, ("Europe/Paris",)),         # France has one zone
    ("+12125551234", None, ("America/New_York",)),     # +1 area code 212 maps to one zone
    ("+13105551234", None, ("America/Los_Angeles",)),  # +1 area code 310 maps to one zone
    ("+61291234567", None, ("Australia/Sydney",)),     # Australian landline area 2
    ("+61891234567", None, ("Australia/Adelaide", "Australia/Perth")),  # area 8 spans two zones
    ("+15551234567", None, ("UTC",)),                  # phonenumbers says Etc/Unknown: UTC
    ("not a number", None, ("UTC",)),                  # unparseable numbers fall back to UTC too
    ("+33142685300", "America/New_York", ("America/New_York",)),  # the override wins
])
def test_recipient_zones_come_from_the_number_unless_overridden(
    number: str, override: str | None, expected: tuple[str, ...]
) -> None:
    assert tuple(z.key for z in recipient_timezones(number, override)) == expected


def test_australian_mobile_numbers_get_every_australian_zone_in_phonenumbers_order() -> None:
    keys = [z.key for z in recipient_timezones("+61412345678", None)]
    assert keys[0] == "Australia/Adelaide" and {"Australia/Lord_Howe", "Indian/Christmas"} <= set(keys)


def test_invalid_override_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        recipient_timezones("+33142685300", "Paris")


NEW_YORK_TWO_WINDOWS = config(("9am", "12pm", 1800), ("2pm", "5pm", 3600))


@pytest.mark.parametrize(("names", "moment", "expected"), [
    (("America/New_York",), local("America/New_York", "2026-01-14 10:00"), 0),   # morning window
    (("America/New_York",), local("America/New_York", "2026-01-14 15:00"), 1),   # afternoon window
    (("America/New_York",), local("America/New_York", "2026-01-14 13:00"), None),  # lunch gap
    (("America/New_York", "America/Chicago"), local("America/New_York", "2026-01-14 09:30"), None),
    # ^ 08:30 in Chicago is too early there, so not inside for both
    (("America/New_York", "America/Chicago"), local("America/New_York", "2026-01-14 10:30"), 0),
    # ^ 10:30 / 09:30: inside the morning window in both zones
])
def test_window_at_requires_the_same_window_in_every_zone(
    names: tuple[str, ...], moment: datetime, expected: int | None
) -> None:
    found = window_at(NEW_YORK_TWO_WINDOWS, zones(*names), moment)
    assert found == (None if expected is None else NEW_YORK_TWO_WINDOWS.calling_windows[expected])


DEFAULT = DEFAULT_RETRY_CONFIG
PARIS = zones("Europe/Paris")


@pytest.mark.parametrize(("cfg", "names", "earliest", "expected"), [
    (DEFAULT, ("Europe/Paris",), local("Europe/Paris", "2026-01-14 11:00"),
     local("Europe/Paris", "2026-01-14 11:00")),  # already inside: unchanged
    (DEFAULT, ("Europe/Paris",), utc("2026-01-14 06:00"), utc("2026-01-14 09:00")),
    # ^ winter: 10:00 Paris is exactly 09:00Z
    (DEFAULT, ("Europe/Paris",), utc("2026-07-14 06:00"), utc("2026-07-14 08:00")),
    # ^ summer: 10:00 Paris is exactly 08:00Z
    (DEFAULT, ("Europe/Paris",), local("Europe/Paris", "2026-01-14 18:00"),
     local("Europe/Paris", "2026-01-15 10:00")),  # at the exclusive end: next day's start
    (DEFAULT, ("Europe/Paris",), local("Europe/Paris", "2026-03-28 19:00"),
     local("Europe/Paris", "2026-03-29 10:00")),  # across spring-forward night: 08:00Z, not 09:00Z
    (config(("02:30", "05:00", 60)), ("Europe/Paris",), utc("2026-03-29 00:00"), utc("2026-03-29 01:00")),
    # ^ 02:30 does not exist on 29 March: the window opens at 03:00 CEST, the first valid instant
    (config(("02:30", "06:00", 60)), ("Europe/Paris",), utc("2026-10-24 22:00"), utc("2026-10-25 00:30")),
    # ^ 02:30 happens twice on 25 October: the window opens at the first (CEST) one
    (config(("01:00", "02:30", 60)), ("Europe/Paris",), utc("2026-10-25 00:45"), utc("2026-10-25 01:00")),
    # ^ 02:45 CEST is outside, but at 01:00Z clocks fall back to 02:00 CET, inside again
    (config(("22:00", "02:00", 60)), ("Europe/Paris",), local("Europe/Paris", "2026-01-14 12:00"),
     local("Europe/Paris", "2026-01-14 22:00")),  # window across midnight opens in the evening
    (config(("22:00", "02:00", 60)), ("Europe/Paris",), local("Europe/Paris", "2026-01-15 01:00"),
     local("Europe/Paris", "2026-01-15 01:00")),  # still open after midnight
    (DEFAULT, ("Australia/Adelaide", "Australia/Perth"), utc("2026-06-15 00:00"), utc("2026-06-15 02:00")),
    # ^ 10:00 Perth = 11:30 Adelaide: the later zone opens the window for both
    (DEFAULT, ("Australia/Adelaide", "Australia/Perth"), utc("2026-06-15 08:30"), utc("2026-06-16 02:00")),
    # ^ 18:00 Adelaide = 16:30 Perth: the earlier zone closes it, so tomorrow
    (config(("10am", "12pm", 60)), ("Australia/Adelaide", "Indian/Christmas"), utc("2026-06-15 00:00"),
     utc("2026-06-15 00:30")),  # 2h window, 2.5h apart: never both inside, so 10:00 in Adelaide alone
    (config(("9am", "12pm", 1800), ("2pm", "5pm", 3600)), ("America/New_York",),
     local("America/New_York", "2026-01-14 12:15"), local("America/New_York", "2026-01-14 14:00")),
    # ^ between two windows: the next one's start
    (config(("00:00", "00:00", 60)), ("Pacific/Kiritimati",), utc("2026-01-14 03:17:42.5"),
     utc("2026-01-14 03:17:42.5")),  # an all-day window never moves a moment, not even its seconds
])
def test_next_moment_in_window(cfg: RetryConfig, names: tuple[str, ...], earliest: datetime, expected: datetime) -> None:
    found = next_moment_in_window(cfg, zones(*names), earliest)
    assert found == expected and found.tzinfo == UTC


def test_toll_free_number_whose_zones_never_agree_uses_the_first_zone() -> None:
    # +1 800 maps to 42 zones from Guam to Newfoundland, which never share a business hour.
    many = recipient_timezones("+18005551234", None)
    assert len(many) > 40
    found = next_moment_in_window(DEFAULT, many, utc("2026-01-14 00:00"))
    assert window_at(DEFAULT, many[:1], found) is not None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        next_moment_in_window(DEFAULT, PARIS, datetime(2026, 1, 14, 9))
