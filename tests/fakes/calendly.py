"""A fake Calendly API v2 over a real socket: it checks our requests as Calendly would (bearer
token, a known event type URI, UTC times in the future at most 7 days apart, the invitee's name,
email and IANA time zone, one of the event type's locations filled in), answers with Calendly's
shapes and errors, and books a free slot once.

    with FakeCalendly() as calendly:
        calendly.event_types[uuid] = [slot, ...]   # that event type's free start times (UTC)
        calendly.locations[uuid] = [{"kind": "outbound_call"}, ...]   # its locations (default none)
        calendly.outage = 503                      # every request answered with this status
        calendly.delay_secs = 2.0                  # every request answered this late
        calendly.requests                          # (method, path, query, json) of each request
        calendly.bookings                          # the invitees created (with event_type, start_time)
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.servers import ThreadedServer

API = "https://api.calendly.com"
WIRE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")  # Calendly's UTC times
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
NEEDS_LOCATION = {"outbound_call", "ask_invitee", "custom"}  # the invitee's side fills these in


def wire(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def invalid(*details: tuple[str, str]) -> JSONResponse:
    return JSONResponse(
        {"title": "Invalid Argument", "message": "The supplied parameters are invalid.",
         "details": [{"parameter": p, "message": m} for p, m in details]},
        status_code=400,
    )  # fmt: skip


class FakeCalendly:
    def __init__(self, token: str = "cal_" + uuid.uuid4().hex) -> None:
        self.token = token
        self.event_types: dict[str, list[datetime]] = {}  # uuid -> free start times
        self.locations: dict[str, list[dict]] = {}  # uuid -> the event type's locations
        self.bookings: list[dict] = []
        self.requests: list[tuple[str, str, dict, dict | None]] = []
        self.outage: int | None = None
        self.delay_secs = 0.0
        app = Starlette(
            routes=[
                Route("/event_type_available_times", self._available_times, methods=["GET"]),
                Route("/event_types/{uuid}", self._event_type_resource, methods=["GET"]),
                Route("/invitees", self._create_invitee, methods=["POST"]),
            ]
        )
        self.server = ThreadedServer(app, "fake-calendly")

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> FakeCalendly:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    # -- what Calendly checks first ---------------------------------------------------------------

    async def _refused(self, request: Request, body: dict | None) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path, dict(request.query_params), body))
        if self.delay_secs:
            await asyncio.sleep(self.delay_secs)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"title": "Unauthenticated", "message": "The access token is invalid"}, status_code=401)
        if self.outage:
            return JSONResponse({"title": "Internal Server Error", "message": "The server encountered an unexpected condition."}, status_code=self.outage)
        return None

    def _event_type(self, uri: object) -> list[datetime] | None:
        if not isinstance(uri, str) or not uri.startswith(f"{API}/event_types/"):
            return None
        return self.event_types.get(uri.rsplit("/", 1)[-1])

    # -- GET /event_type_available_times ----------------------------------------------------------

    async def _available_times(self, request: Request) -> JSONResponse:
        if refused := await self._refused(request, None):
            return refused
        query = request.query_params
        slots = self._event_type(query.get("event_type"))
        if slots is None:
            return JSONResponse({"title": "Resource Not Found", "message": "The server could not find the requested resource."}, status_code=404)
        times = {}
        for name in ("start_time", "end_time"):
            if not WIRE_TIME.match(query.get(name, "")):
                return invalid((name, "must be a UTC date-time like 2020-01-02T03:04:05.678123Z"))
            times[name] = datetime.fromisoformat(query[name])
        start, end = times["start_time"], times["end_time"]
        if start <= datetime.now(UTC):
            return invalid(("start_time", "must be in the future"))
        if end <= start:
            return invalid(("end_time", "must be after start_time"))
        if end - start > timedelta(days=7):
            return invalid(("end_time", "date range can be no greater than 1 week (7 days)"))
        free = [s for s in sorted(slots) if start <= s < end]
        return JSONResponse(
            {"collection": [
                {"status": "available", "invitees_remaining": 1, "start_time": wire(s),
                 "scheduling_url": f"https://calendly.com/acme/30min/{s:%Y-%m-%dT%H:%M:%S}Z?month={s:%Y-%m}"}
                for s in free
            ]}
        )  # fmt: skip

    # -- GET /event_types/{uuid} ------------------------------------------------------------------

    async def _event_type_resource(self, request: Request) -> JSONResponse:
        if refused := await self._refused(request, None):
            return refused
        uuid_ = request.path_params["uuid"]
        if uuid_ not in self.event_types:
            return JSONResponse({"title": "Resource Not Found", "message": "The server could not find the requested resource."}, status_code=404)
        return JSONResponse(
            {"resource": {"uri": f"{API}/event_types/{uuid_}", "name": "30 Minute Visit", "active": True, "duration": 30,
                          "kind": "solo", "scheduling_url": "https://calendly.com/acme/30min",
                          "locations": self.locations.get(uuid_, [])}}
        )  # fmt: skip

    # -- POST /invitees -----------------------------------------------------------------------------

    async def _create_invitee(self, request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if refused := await self._refused(request, body):
            return refused
        if not isinstance(body, dict) or request.headers.get("content-type") != "application/json":
            return invalid(("body", "must be a JSON object"))
        slots = self._event_type(body.get("event_type"))
        if slots is None:
            return invalid(("event_type", "must be the URI of an event type"))
        invitee = body.get("invitee") if isinstance(body.get("invitee"), dict) else {}
        problems = []
        if not WIRE_TIME.match(str(body.get("start_time", ""))):
            problems.append(("start_time", "must be a UTC date-time"))
        if not EMAIL.match(str(invitee.get("email", ""))):
            problems.append(("invitee.email", "is invalid"))
        if not (invitee.get("name") or invitee.get("first_name")):
            problems.append(("invitee.name", "is required when invitee.first_name is not given"))
        try:
            ZoneInfo(str(invitee.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(("invitee.timezone", "is not a valid time zone"))
        problems += self._location_problems(body.get("event_type").rsplit("/", 1)[-1], body.get("location"))
        if problems:
            return invalid(*problems)
        start = datetime.fromisoformat(body["start_time"])
        if start not in slots:
            return invalid(("start_time", "The selected time is not available"))
        slots.remove(start)
        event = f"{API}/scheduled_events/{uuid.uuid4()}"
        invitee_uri = f"{event}/invitees/{uuid.uuid4()}"
        resource = {
            "uri": invitee_uri, "email": invitee["email"], "name": invitee.get("name"), "status": "active",
            "timezone": invitee["timezone"], "event": event,
            "cancel_url": f"https://calendly.com/cancellations/{uuid.uuid4()}",
            "reschedule_url": f"https://calendly.com/reschedulings/{uuid.uuid4()}",
            "scheduling_method": "instant_book", "rescheduled": False,
        }  # fmt: skip
        self.bookings.append({**resource, "event_type": body["event_type"], "start_time": start, "location": body.get("location")})
        return JSONResponse({"resource": resource}, status_code=201)

    def _location_problems(self, uuid_: str, location: object) -> list[tuple[str, str]]:
        """One of the event type's locations, with the invitee's part where it needs one."""
        offered = {loc["kind"]: loc for loc in self.locations.get(uuid_, [])}
        if not offered:
            return [("location", "this event type has no location")] if location else []
        if not isinstance(location, dict) or location.get("kind") not in offered:
            return [("location.kind", f"Invalid location kind; one of {sorted(offered)}")]
        given = location.get("location")
        if location["kind"] == "outbound_call" and not E164.match(str(given)):
            return [("location.location", "must be the invitee's phone number")]
        if location["kind"] in NEEDS_LOCATION and not given:
            return [("location.location", "is required for this location kind")]
        return []
