"""The agent's Calendly tools against a fake Calendly API over a real socket: what is asked (token,
event type, UTC range), what the LLM is told (a few slots in the callee's zone, each bookable),
what is booked, and every failure as a tool error the LLM sees."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fakes.calendly import FakeCalendly
from openrevox.agent import tools
from openrevox.agent.host import person_on_the_line
from openrevox.agent.calendly import (
    CalendlyClient,
    CalendlyError,
    CalendlyTools,
    calendly_tools,
    event_type_uri,
    invitee_location,
    search_range,
)
from openrevox.config import Settings

NEW_YORK = ZoneInfo("America/New_York")
CALLEE = "+12025550123"
EVENT = str(uuid.uuid4())
EVENT_URI = f"https://api.calendly.com/event_types/{EVENT}"


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
def calendly():
    with FakeCalendly() as fake:
        yield fake


@pytest.fixture
def days(calendly):
    """Tomorrow and the day after (the callee's days), with free times; fresh state per test."""
    tomorrow = datetime.now(NEW_YORK).date() + timedelta(days=1)
    after = tomorrow + timedelta(days=1)
    calendly.event_types.clear()
    calendly.event_types[EVENT] = [local(tomorrow, h, m) for h, m in [(10, 0), (10, 30), (11, 0), (14, 0), (15, 30)]] + [
        local(after, 9, 0)
    ]
    calendly.locations[EVENT] = [{"kind": "outbound_call"}]  # "host calls invitee"
    calendly.bookings.clear()
    calendly.requests.clear()
    calendly.outage, calendly.delay_secs = None, 0.0
    return tomorrow, after


def tools_for(calendly: FakeCalendly, *, token: str | None = None, event_type_id: str = EVENT_URI, timeout: float = 5) -> CalendlyTools:
    client = CalendlyClient(token or calendly.token, calendly.url, timeout=timeout)
    return CalendlyTools(client, event_type_id, NEW_YORK, CALLEE)


def spoken(day: date) -> str:
    return f"{day:%A, %B} {day.day}"


def test_availability_gives_a_few_slots_per_day_in_the_callees_zone(calendly, days):
    tomorrow, after = days
    said = asyncio.run(tools_for(calendly).availability({}))
    assert said == (
        "Free times (America/New_York): "
        f"{spoken(tomorrow)}: 10 AM [{tomorrow}T10:00], 10:30 AM [{tomorrow}T10:30], 11 AM [{tomorrow}T11:00]; "
        f"{spoken(after)}: 9 AM [{after}T09:00]. (2 more times free in that range) "
        "Say them in words; to book one, call calendly_book with its bracketed value as start_time."
    )
    ((method, path, query, _),) = calendly.requests
    assert (method, path, query["event_type"]) == ("GET", "/event_type_available_times", EVENT_URI)
    start, end = datetime.fromisoformat(query["start_time"]), datetime.fromisoformat(query["end_time"])
    assert query["start_time"].endswith("Z") and timedelta(0) < start - datetime.now(UTC) < timedelta(minutes=2)
    assert end - start <= timedelta(days=7)


def test_availability_for_one_day_asks_for_that_day_only(calendly, days):
    _, after = days
    said = asyncio.run(tools_for(calendly, event_type_id=EVENT).availability({"start_date": after.isoformat()}))
    assert said.startswith(f"Free times (America/New_York): {spoken(after)}: 9 AM [{after}T09:00].")
    query = calendly.requests[-1][2]
    assert query["event_type"] == EVENT_URI  # a bare uuid is the canonical URI
    assert datetime.fromisoformat(query["start_time"]) == local(after, 0)
    assert datetime.fromisoformat(query["end_time"]) == local(after + timedelta(days=1), 0)


def test_no_free_time_is_said_so(calendly, days):
    later = days[1] + timedelta(days=3)
    said = asyncio.run(tools_for(calendly).availability({"start_date": later.isoformat(), "end_date": (later + timedelta(days=1)).isoformat()}))
    assert said == f"No free times from {spoken(later)} to {spoken(later + timedelta(days=1))} (America/New_York)."


def test_booking_creates_the_invitee_at_the_chosen_local_time(calendly, days):
    tomorrow, _ = days
    said = asyncio.run(
        tools_for(calendly).book({"start_time": f"{tomorrow}T10:30", "name": "Ana Lima", "email": "ana@example.com"})
    )
    (booking,) = calendly.bookings
    assert booking["start_time"] == local(tomorrow, 10, 30)
    assert booking["event_type"] == EVENT_URI
    assert (booking["name"], booking["email"], booking["timezone"]) == ("Ana Lima", "ana@example.com", "America/New_York")
    assert booking["location"] == {"kind": "outbound_call", "location": CALLEE}  # the host calls back this line
    assert said == (
        f"Booked for Ana Lima on {spoken(tomorrow)} at 10:30 AM (America/New_York); "
        f"Calendly emails the confirmation to ana@example.com. Event: {booking['event']}"
    )
    assert [(m, p) for m, p, _, _ in calendly.requests] == [("GET", f"/event_types/{EVENT}"), ("POST", "/invitees")]
    assert calendly.requests[-1][3]["start_time"].endswith("Z")
    assert local(tomorrow, 10, 30) not in calendly.event_types[EVENT]  # taken

    # The same slot again: Calendly's refusal, naming the parameter, is what the LLM hears.
    with pytest.raises(CalendlyError, match=r"HTTP 400\): Invalid Argument .*\(start_time The selected time is not available\)"):
        asyncio.run(tools_for(calendly).book({"start_time": f"{tomorrow}T10:30", "name": "Bo", "email": "bo@example.com"}))


def test_a_start_time_with_an_offset_is_taken_as_given(calendly, days):
    tomorrow, _ = days
    utc = local(tomorrow, 14)
    asyncio.run(tools_for(calendly).book({"start_time": utc.isoformat(), "name": "Ana", "email": "ana@example.com"}))
    assert calendly.bookings[-1]["start_time"] == utc


def test_an_event_type_without_locations_is_booked_without_one(calendly, days):
    calendly.locations[EVENT] = []
    asyncio.run(tools_for(calendly).book({"start_time": f"{days[0]}T11:00", "name": "Ana", "email": "ana@example.com"}))
    assert calendly.bookings[-1]["location"] is None


def test_an_event_type_that_asks_where_to_meet_is_not_booked(calendly, days):
    calendly.locations[EVENT] = [{"kind": "ask_invitee"}]
    with pytest.raises(CalendlyError, match="asks the invitee where to meet"):
        asyncio.run(tools_for(calendly).book({"start_time": f"{days[0]}T11:00", "name": "Ana", "email": "ana@example.com"}))
    assert [p for _, p, _, _ in calendly.requests] == [f"/event_types/{EVENT}"] and calendly.bookings == []


@pytest.mark.parametrize(
    ("locations", "chosen"),
    [
        ([], None),
        ([{"kind": "zoom_conference"}], {"kind": "zoom_conference"}),
        ([{"kind": "ask_invitee"}, {"kind": "physical", "location": "1 Main St"}], {"kind": "physical", "location": "1 Main St"}),
        ([{"kind": "outbound_call"}, {"kind": "google_conference"}], {"kind": "outbound_call", "location": CALLEE}),
        ([{"kind": "inbound_call", "location": "+12025550999"}], {"kind": "inbound_call", "location": "+12025550999"}),
    ],
)
def test_the_booking_names_the_first_location_the_agent_can_fill_in(locations, chosen):
    assert invitee_location(locations, CALLEE) == chosen


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start_time": "2099-01-01T10:00", "name": "Ana", "email": "ana at example"}, "not an email address"),
        ({"start_time": "2099-01-01T10:00", "name": " ", "email": "ana@example.com"}, "name is required"),
        ({"start_time": "Tuesday at ten", "name": "Ana", "email": "ana@example.com"}, "start_time must be one of"),
        ({"start_time": "2020-01-01T10:00", "name": "Ana", "email": "ana@example.com"}, "in the past"),
    ],
)
def test_bad_booking_arguments_are_refused_before_asking_calendly(calendly, days, arguments, message):
    with pytest.raises(CalendlyError, match=message):
        asyncio.run(tools_for(calendly).book(arguments))
    assert calendly.requests == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start_date": "next tuesday"}, "start_date must be a date like"),
        ({"start_date": "2020-01-01"}, "is already over for the callee"),
        ({"start_date": "2099-01-05", "end_date": "2099-01-01"}, "end_date 2099-01-01 is before start_date"),
    ],
)
def test_bad_availability_arguments_are_refused_before_asking_calendly(calendly, days, arguments, message):
    with pytest.raises(CalendlyError, match=message):
        asyncio.run(tools_for(calendly).availability(arguments))
    assert calendly.requests == []


def test_calendlys_failures_are_errors_in_words(calendly, days):
    with pytest.raises(CalendlyError, match=r"HTTP 401\): Unauthenticated The access token is invalid"):
        asyncio.run(tools_for(calendly, token="wrong").availability({}))
    assert calendly.requests[-1][2]["event_type"] == EVENT_URI  # it did reach Calendly
    with pytest.raises(CalendlyError, match=r"HTTP 404\): Resource Not Found"):
        asyncio.run(tools_for(calendly, event_type_id=str(uuid.uuid4())).availability({}))
    calendly.outage = 503
    with pytest.raises(CalendlyError, match=r"Calendly is unavailable right now \(HTTP 503\)"):
        asyncio.run(tools_for(calendly).availability({}))
    calendly.outage, calendly.delay_secs = None, 1.0
    with pytest.raises(CalendlyError, match="did not answer within 0.3 seconds"):
        asyncio.run(tools_for(calendly, timeout=0.3).availability({}))


def test_unreachable_calendly_is_an_error_too():
    client = CalendlyClient("token", "http://127.0.0.1:9", timeout=1)  # the discard port: nothing listens
    with pytest.raises(CalendlyError, match="Calendly could not be reached"):
        asyncio.run(CalendlyTools(client, EVENT, NEW_YORK, CALLEE).availability({}))


def test_a_failure_reaches_the_llm_as_a_tool_error_and_the_call_goes_on(calendly, days):
    """Through the tool handler the session uses: recorded with tool_is_error, and the LLM runs
    again to tell the callee; a success runs it again too (the callee must hear the times)."""
    recorded, answers = [], []

    class Control:
        async def tool_called(self, name, arguments, result, is_error):  # noqa: ANN001, ANN201
            recorded.append((name, arguments, result, is_error))

        def tool_recorded(self):  # noqa: ANN201
            pass

    def invoke(schema, arguments):  # noqa: ANN001, ANN202
        class Params:
            function_name = schema.name

            @staticmethod
            async def result_callback(result, properties=None):  # noqa: ANN001, ANN205
                answers.append((result, properties.run_llm))

        Params.arguments = arguments
        asyncio.run(schema.handler(Params))

    offered = {s.name: s for s in tools.tool_schemas({}, Control(), tools_for(calendly))}
    assert list(offered) == ["end_call", "calendly_availability", "calendly_book"]
    assert datetime.now(NEW_YORK).strftime("%Y-%m-%d") in offered["calendly_availability"].description

    calendly.outage = 500
    invoke(offered["calendly_availability"], {})
    assert recorded[-1] == ("calendly_availability", {}, "Calendly is unavailable right now (HTTP 500)", True)
    assert answers[-1] == ("Calendly is unavailable right now (HTTP 500)", True)

    calendly.outage = None
    invoke(offered["calendly_availability"], {"start_date": days[1].isoformat()})
    assert recorded[-1][3] is False and answers[-1][1] is True
    assert "9 AM" in recorded[-1][2]


def test_tools_are_offered_only_with_calendly_configured():
    assistant = {"calendly": {"connection_id": "conn_1", "event_type_id": EVENT_URI}}
    configured = Settings(calendly_token="cal_token", calendly_base_url="http://calendly.test")
    made = calendly_tools(assistant, CALLEE, NEW_YORK, configured)
    assert (made.client.token, made.client.base_url, made.zone, made.phone_number) == (
        "cal_token", "http://calendly.test", NEW_YORK, CALLEE
    )  # fmt: skip
    assert calendly_tools(assistant, CALLEE, NEW_YORK, Settings()) is None  # no token: no tools
    assert calendly_tools({}, CALLEE, NEW_YORK, configured) is None


def test_event_type_id_is_a_uri_or_a_bare_uuid():
    assert event_type_uri(EVENT) == event_type_uri(EVENT_URI) == event_type_uri(EVENT_URI + "/") == EVENT_URI
    with pytest.raises(CalendlyError, match="not a Calendly event type"):
        event_type_uri(f"https://evil.example/event_types/{EVENT}")


def test_search_range_is_the_callees_days_within_a_week_from_now():
    now = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Saturday 10:00 in New York; DST starts Sunday
    # Today and the six days after it, to the callee's midnight (daylight time by then).
    assert search_range(NEW_YORK, now, None, None) == (now + timedelta(minutes=1), datetime(2026, 3, 14, 4, tzinfo=UTC))
    start, end = search_range(NEW_YORK, now, date(2026, 3, 8), None)  # the DST day lasts 23 hours
    assert (start, end) == (datetime(2026, 3, 8, 5, tzinfo=UTC), datetime(2026, 3, 9, 4, tzinfo=UTC))
    start, end = search_range(NEW_YORK, now, date(2026, 3, 7), date(2026, 3, 30))  # today, capped to a week
    assert (start, end - start) == (now + timedelta(minutes=1), timedelta(days=7))


@pytest.mark.parametrize(
    ("order", "person"),
    [
        ({"direction": "outbound", "to_phone_number": "+12025550123", "from_phone_number": "+33612345678"}, ("+12025550123", "America/New_York")),
        ({"direction": "inbound", "to_phone_number": "+12025550123", "from_phone_number": "+33612345678"}, ("+33612345678", "Europe/Paris")),
        ({"direction": "outbound", "to_phone_number": "+12025550123", "from_phone_number": "+33612345678",
          "call_retry_config": {"timezone": "Asia/Tokyo"}}, ("+12025550123", "Asia/Tokyo")),
    ],
)  # fmt: skip
def test_times_are_for_the_person_on_the_line(order, person):
    """The callee of an outbound call, the caller of an inbound one; the order's timezone wins."""
    number, zone = person_on_the_line({"call_retry_config": None} | order)
    assert (number, zone.key) == person
