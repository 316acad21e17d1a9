"""Calendly for the voice agent: the free times of the assistant's event type, and booking one.

Through Calendly's API v2 (https://developer.calendly.com):

- `GET /event_type_available_times?event_type=<uri>&start_time=&end_time=`: the event type's
  open start times (UTC; the range must lie in the future; we ask for 7 days at most, a span
  Calendly has always accepted);
- `GET /event_types/<uuid>`: its `locations`, since a booking must name one of them;
- `POST /invitees`, the Scheduling API's "Create Event Invitee": `event_type`, `start_time` (UTC),
  `invitee` {`name`, `email`, `timezone`} and `location` {`kind`, `location`}. Calendly books the
  meeting as if the person had used the booking page (confirmation email, calendar invite,
  reschedule and cancel links). It needs a paid Calendly plan; elsewhere Calendly answers 403 and
  the agent hears that booking failed. The location is the event type's first one the agent can
  fill in: "host calls invitee" (`outbound_call`) gets the number of the person on the line; one
  that asks the invitee where to meet (`ask_invitee`) is not chosen.

One token per installation (OPENREVOX_CALENDLY_TOKEN: a personal access token, as Calendly's guide
for AI agents advises). The assistant's `calendly.connection_id` names an organization's
connection in Revox; here every assistant books with that one token, so it is not used.

What the LLM gets back is short and speakable: a few slots, in the time zone of the person on the
line (the order's `timezone`, else their number's first zone), each with the exact value to book
it by. Every failure (Calendly's 4xx/5xx, a timeout, an argument that makes no sense) is a
`CalendlyError`, a tool error the LLM sees.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from openrevox.config import Settings

log = logging.getLogger("openrevox.agent")

CANONICAL_EVENT_TYPES = "https://api.calendly.com/event_types/"
TIMEOUT_SECONDS = 5.0  # the callee is waiting on the line
MAX_RANGE = timedelta(days=7)  # one availability request's span
SLOTS_SAID = 6  # slots given to the LLM at most...
SLOTS_PER_DAY = 3  # ...and per day, so a busy first day does not hide the next ones
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CalendlyError(ValueError):
    """What went wrong, in words the LLM can pass on to the callee (a ValueError: the tool
    handler answers the LLM with it, flagged as an error)."""


def event_type_uri(event_type_id: str) -> str:
    """The event type's canonical URI, from the URI itself or its bare uuid."""
    value = event_type_id.strip().rstrip("/")
    uuid = value.rsplit("/", 1)[-1]
    if "/" in value and not value.startswith(CANONICAL_EVENT_TYPES.rstrip("/")):
        raise CalendlyError(f"calendly.event_type_id is not a Calendly event type: {event_type_id!r}")
    return CANONICAL_EVENT_TYPES + uuid


def utc_now() -> datetime:
    return datetime.now(UTC)


def _wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CalendlyClient:
    """The Calendly calls the agent makes, with a bearer token."""

    def __init__(self, token: str, base_url: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def available_times(self, event_type: str, start: datetime, end: datetime) -> list[datetime]:
        body = await self._request(
            "GET",
            "/event_type_available_times",
            params={"event_type": event_type, "start_time": _wire_time(start), "end_time": _wire_time(end)},
        )
        try:
            slots = [s for s in body["collection"] if s.get("status", "available") == "available"]
            return sorted(datetime.fromisoformat(s["start_time"]) for s in slots)
        except (KeyError, TypeError, ValueError) as error:
            raise CalendlyError(f"Calendly's answer could not be read ({error!r})") from error

    async def event_type_locations(self, event_type: str) -> list[dict]:
        body = await self._request("GET", "/event_types/" + event_type.rsplit("/", 1)[-1])
        resource = body.get("resource")
        locations = resource.get("locations") if isinstance(resource, dict) else None
        return [loc for loc in locations or [] if isinstance(loc, dict) and loc.get("kind")]

    async def create_invitee(
        self, event_type: str, start: datetime, invitee: dict[str, str], location: dict[str, str] | None
    ) -> dict:
        request = {"event_type": event_type, "start_time": _wire_time(start), "invitee": invitee}
        body = await self._request("POST", "/invitees", json=request | ({"location": location} if location else {}))
        if not isinstance(body.get("resource"), dict):
            raise CalendlyError("Calendly's answer to the booking could not be read (no resource)")
        return body["resource"]

    async def _request(self, method: str, path: str, **kwargs) -> dict:  # noqa: ANN003
        try:
            return await self._send(method, path, **kwargs)
        except CalendlyError as error:
            log.warning("Calendly %s %s: %s", method, path, error)
            raise

    async def _send(self, method: str, path: str, **kwargs) -> dict:  # noqa: ANN003
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as http:
                response = await http.request(method, self.base_url + path, headers=headers, **kwargs)
        except httpx.TimeoutException as error:
            raise CalendlyError(f"Calendly did not answer within {self.timeout:g} seconds") from error
        except httpx.HTTPError as error:
            raise CalendlyError(f"Calendly could not be reached ({type(error).__name__})") from error
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            raise CalendlyError(_refusal(response.status_code, body if isinstance(body, dict) else {}))
        if not isinstance(body, dict):
            raise CalendlyError("Calendly's answer could not be read (not a JSON object)")
        return body


def _refusal(status: int, body: dict) -> str:
    """Calendly's error (`title`, `message`, `details` naming the parameter) in one sentence."""
    if status >= 500:
        return f"Calendly is unavailable right now (HTTP {status})"
    words = " ".join(str(body[k]) for k in ("title", "message") if body.get(k))
    details = "; ".join(
        " ".join(str(d[k]) for k in ("parameter", "message") if d.get(k))
        for d in body.get("details") or []
        if isinstance(d, dict)
    )
    return f"Calendly refused (HTTP {status}): {words or 'no reason given'}" + (f" ({details})" if details else "")


class CalendlyTools:
    """The two tools of one call: bound to the assistant's event type and the callee's zone."""

    def __init__(
        self,
        client: CalendlyClient,
        event_type_id: str,
        zone: ZoneInfo,
        phone_number: str,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.client = client
        self.event_type_id = event_type_id
        self.zone = zone
        self.phone_number = phone_number  # of the person on the line
        self.now = now

    def today(self) -> str:
        """The callee's date, for the LLM to turn "next Tuesday" into one."""
        return f"{self.now().astimezone(self.zone):%A %Y-%m-%d} ({self.zone.key})"

    async def availability(self, arguments: dict) -> str:
        start_date = _date_argument(arguments, "start_date")
        end_date = _date_argument(arguments, "end_date")
        start, end = search_range(self.zone, self.now(), start_date, end_date)
        slots = await self.client.available_times(event_type_uri(self.event_type_id), start, end)
        return speakable_slots(slots, self.zone, start, end)

    async def book(self, arguments: dict) -> str:
        name = str(arguments.get("name") or "").strip()
        email = str(arguments.get("email") or "").strip()
        if not name:
            raise CalendlyError("name is required: ask the person for their full name")
        if not EMAIL.match(email):
            raise CalendlyError(f"email {email!r} is not an email address: ask the person to spell it")
        start = parse_start_time(arguments.get("start_time"), self.zone)
        if start <= self.now():
            raise CalendlyError(f"start_time {arguments.get('start_time')} is in the past")
        event_type = event_type_uri(self.event_type_id)
        location = invitee_location(await self.client.event_type_locations(event_type), self.phone_number)
        person = {"name": name, "email": email, "timezone": self.zone.key}
        invitee = await self.client.create_invitee(event_type, start, person, location)
        return (
            f"Booked for {name} on {spoken_day(start, self.zone)} at {spoken_time(start, self.zone)} "
            f"({self.zone.key}); Calendly emails the confirmation to {email}. Event: {invitee.get('event') or invitee.get('uri')}"
        )


def calendly_tools(assistant: dict, phone_number: str, zone: ZoneInfo, settings: Settings) -> CalendlyTools | None:
    """The call's Calendly tools, for the person on the line (their number and time zone): when
    the assistant has `calendly` and a token is configured."""
    calendly = assistant.get("calendly")
    if not calendly:
        return None
    if settings.calendly_token is None:
        log.warning("assistant has calendly but OPENREVOX_CALENDLY_TOKEN is not set: no Calendly tools")
        return None
    client = CalendlyClient(settings.calendly_token.get_secret_value(), settings.calendly_base_url)
    return CalendlyTools(client, calendly["event_type_id"], zone, phone_number)


# --- pure policy: ranges, times, words ------------------------------------------------------------


def _date_argument(arguments: dict, name: str) -> date | None:
    value = arguments.get(name)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendlyError(f"{name} must be a date like 2026-12-01; got {value!r}") from None


def search_range(zone: ZoneInfo, now: datetime, start_date: date | None, end_date: date | None) -> tuple[datetime, datetime]:
    """The UTC range to ask Calendly about: the callee's days from `start_date` to `end_date`
    (both included; one day when only `start_date` is given, a week from today when neither is),
    from a minute from now on (Calendly wants the future), a week at most."""
    first = start_date or now.astimezone(zone).date()
    last = end_date or (first if start_date else first + MAX_RANGE - timedelta(days=1))
    if last < first:
        raise CalendlyError(f"end_date {last} is before start_date {first}")
    start = max(datetime.combine(first, time(), zone), now + timedelta(minutes=1)).astimezone(UTC)
    end = min(datetime.combine(last + timedelta(days=1), time(), zone).astimezone(UTC), start + MAX_RANGE)
    if end <= start:
        raise CalendlyError(f"{last} is already over for the callee (today is {now.astimezone(zone).date()})")
    return start, end


def invitee_location(locations: list[dict], phone_number: str) -> dict[str, str] | None:
    """The booking's `location`: the event type's first one the agent can fill in, or None when
    the event type has none."""
    if not locations:
        return None
    for location in locations:
        if location["kind"] == "outbound_call":  # the host calls the person back on this line
            return {"kind": "outbound_call", "location": phone_number}
        if location["kind"] != "ask_invitee":  # the host's own: a place, a number, a conference
            return {"kind": location["kind"]} | ({"location": location["location"]} if location.get("location") else {})
    raise CalendlyError("this event type asks the invitee where to meet, which cannot be booked over the phone")


def parse_start_time(value: object, zone: ZoneInfo) -> datetime:
    """An ISO 8601 start time; without an offset it is the callee's local time."""
    try:
        moment = datetime.fromisoformat(str(value or ""))
    except ValueError:
        raise CalendlyError(
            f"start_time must be one of the times calendly_availability gave, like 2026-12-01T10:00; got {value!r}"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def spoken_day(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%A, %B} {local.day}"


def spoken_time(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{hour}{minutes} {'AM' if local.hour < 12 else 'PM'}"


def speakable_slots(slots: list[datetime], zone: ZoneInfo, start: datetime, end: datetime) -> str:
    """A few slots grouped by the callee's day, each with the value that books it."""
    if not slots:
        last = end - timedelta(microseconds=1)
        return f"No free times from {spoken_day(start, zone)} to {spoken_day(last, zone)} ({zone.key})."
    days: dict[date, list[datetime]] = {}
    chosen = 0
    for slot in slots:
        day = days.setdefault(slot.astimezone(zone).date(), [])
        if len(day) < SLOTS_PER_DAY and chosen < SLOTS_SAID:
            day.append(slot)
            chosen += 1
    said = "; ".join(
        f"{spoken_day(day[0], zone)}: "
        + ", ".join(f"{spoken_time(s, zone)} [{s.astimezone(zone):%Y-%m-%dT%H:%M}]" for s in day)
        for day in days.values()
        if day
    )
    more = f" ({len(slots) - chosen} more times free in that range)" if len(slots) > chosen else ""
    return (
        f"Free times ({zone.key}): {said}.{more} Say them in words; to book one, call calendly_book "
        "with its bracketed value as start_time."
    )
