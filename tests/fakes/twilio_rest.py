"""A fake Twilio REST API over a real socket: it checks our requests as Twilio would (basic
auth, parameters, the TwiML), plays each call as the callee's script says, and calls our status
webhooks and media websocket like Twilio, with valid X-Twilio-Signature headers.

Scripts, per `To` number (default `answer`):
    answer      rings, answers, streams `talk_pcm` into the media socket, waits for audio back, hangs up
    drop        rings, answers, streams a little, then the media socket dies (the call stays up
                until we hang it up through the REST API)
    hold        rings, answers, streams, then waits for our REST hang-up
    busy, no-answer, failed   rings (except failed), then that final status
    late-answer rings, then `completed` arrives before `in-progress` (out of order), no media
    refuse      400 with Twilio error 21211 (invalid To)
    error       500
    slow        answers the REST call after `slow_secs`
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from fakes.g711 import tone
from fakes.servers import ThreadedServer
from fakes.twilio_media import TwilioMediaClient

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    params: dict[str, list[str]]
    stream_url: str | None
    stream_parameters: dict[str, str]
    status: str = "queued"
    callbacks: list[dict] = field(default_factory=list)  # every status callback sent, with our answer
    media: TwilioMediaClient | None = None
    updates: list[dict] = field(default_factory=list)  # what we asked of the call afterwards
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the script played to its end
    sequence: itertools.count = field(default_factory=itertools.count)


def parse_stream(twiml: str) -> tuple[str | None, dict[str, str]]:
    """The <Connect><Stream> url and its <Parameter>s; AssertionError if the TwiML is not that."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response", twiml
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None, {}
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


class FakeTwilio:
    def __init__(self, account_sid: str = "AC" + uuid.uuid4().hex, auth_token: str = uuid.uuid4().hex) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.scripts: dict[str, str] = {}
        self.talk_pcm = tone(440, 1.0)
        self.slow_secs = 5.0
        self.calls: dict[str, FakeCall] = {}
        self.problems: list[str] = []  # requests Twilio would have refused: the test asserts none
        self.validator = RequestValidator(auth_token)
        base = f"/2010-04-01/Accounts/{account_sid}"
        app = Starlette(
            routes=[
                Route(f"{base}/Calls.json", self._create, methods=["POST"]),
                Route(base + "/Calls/{sid}.json", self._update, methods=["POST"]),
            ]
        )
        self.server = ThreadedServer(app, "fake-twilio")
        self._tasks: set[asyncio.Task] = set()

    def __enter__(self) -> FakeTwilio:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    # -- REST -----------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _error(self, status: int, code: int, message: str) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "more_info": "", "status": status}, status_code=status)

    def _spawn(self, coro) -> None:  # noqa: ANN001
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.form()
        params = {key: form.getlist(key) for key in form.keys()}
        one = {key: values[0] for key, values in params.items()}
        script = self.scripts.get(one.get("To", ""), "answer")
        if script == "error":
            return self._error(500, 20500, "Internal Server Error")
        if script == "slow":
            await asyncio.sleep(self.slow_secs)
        if script == "refuse":
            return self._error(400, 21211, f"The 'To' number {one.get('To')} is not a valid phone number.")
        for name in ("To", "From"):
            if not E164.match(one.get(name, "")):
                self.problems.append(f"{name} is not E.164: {one.get(name)!r}")
        if sorted(params.get("StatusCallbackEvent", [])) != ["answered", "completed", "initiated", "ringing"]:
            self.problems.append(f"StatusCallbackEvent: {params.get('StatusCallbackEvent')}")
        stream_url, parameters = parse_stream(one.get("Twiml", "<Response/>"))
        if not stream_url or set(parameters) != {"attempt_id", "token"}:
            self.problems.append(f"TwiML without a Stream naming attempt_id and token: {one.get('Twiml')}")
        call = FakeCall("CA" + uuid.uuid4().hex, one["To"], one["From"], params, stream_url, parameters)
        self.calls[call.sid] = call
        self._spawn(self._play(call, script))
        return JSONResponse(
            {"sid": call.sid, "account_sid": self.account_sid, "to": call.to, "from": call.from_, "status": "queued",
             "direction": "outbound-api", "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json"},
            status_code=201,
        )  # fmt: skip

    async def _update(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        call = self.calls.get(request.path_params["sid"])
        if call is None:
            return self._error(404, 20404, "The requested resource was not found")
        form = dict(await request.form())
        call.updates.append(form)
        if call.status in ("completed", "canceled", "busy", "no-answer", "failed"):
            return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if form.get("Status") in ("completed", "canceled") or "Twiml" in form:
            # A hang-up, or new TwiML (a transfer): the stream ends either way.
            call.hung_up.set()
            if call.media is not None and not call.media.closed.is_set():
                self._spawn(call.media.stop())
        return JSONResponse({"sid": call.sid, "status": call.status})

    # -- what Twilio sends us -------------------------------------------------------------------

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    async def status_callback(self, call: FakeCall, status: str, **extra: str) -> int:
        url = call.params["StatusCallback"][0]
        params = {
            "AccountSid": self.account_sid, "CallSid": call.sid, "From": call.from_, "To": call.to,
            "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events", "SequenceNumber": str(next(call.sequence)),
            "Timestamp": format_datetime(datetime.now(UTC)), **extra,
        }  # fmt: skip
        call.status = status
        async with httpx.AsyncClient() as http:
            response = await http.post(url, data=params, headers=self.signed(url, params))
        call.callbacks.append({"params": params, "status_code": response.status_code})
        return response.status_code

    async def resend(self, call: FakeCall, index: int) -> int:
        """Deliver an earlier callback again, exactly (a Twilio retry)."""
        params = call.callbacks[index]["params"]
        url = call.params["StatusCallback"][0]
        async with httpx.AsyncClient() as http:
            response = await http.post(url, data=params, headers=self.signed(url, params))
        return response.status_code

    async def _play(self, call: FakeCall, script: str) -> None:
        try:
            await self._play_script(call, script)
        except httpx.ConnectError:  # the server under test stopped before the call ended
            pass
        finally:
            call.done.set()

    def wait_done(self, call: FakeCall, timeout: float = 10) -> None:
        """From the test's thread: until the call's script has played to its end."""
        self.server.call(asyncio.wait_for(call.done.wait(), timeout))

    async def _play_script(self, call: FakeCall, script: str) -> None:
        await asyncio.sleep(0.05)
        await self.status_callback(call, "initiated")
        if script == "failed":
            await self.status_callback(call, "failed", SipResponseCode="404")
            return
        await self.status_callback(call, "ringing")
        await asyncio.sleep(0.1)
        if script in ("busy", "no-answer"):
            await self.status_callback(call, script)
            return
        if script == "late-answer":
            await self.status_callback(call, "completed", CallDuration="2")
            await self.status_callback(call, "in-progress")
            return
        answered_at = asyncio.get_running_loop().time()
        await self.status_callback(call, "in-progress")
        call.media = TwilioMediaClient(call.stream_url, call.stream_parameters, call_sid=call.sid, account_sid=self.account_sid)
        await call.media.connect()
        if script == "drop":
            await call.media.stream_pcm(self.talk_pcm[: len(self.talk_pcm) // 4])
            await call.media.drop()
            await call.hung_up.wait()  # until we hang the call up
        else:
            await call.media.stream_pcm(self.talk_pcm)
            if script == "hold":
                await call.hung_up.wait()
            else:
                await call.media.wait_for_media(1600)  # 200 ms of the agent's answer
                await call.media.stop()
        duration = max(1, round(asyncio.get_running_loop().time() - answered_at))
        await self.status_callback(call, "completed", CallDuration=str(duration))

    # -- inbound --------------------------------------------------------------------------------

    async def ring_us(self, voice_url: str, to: str, from_: str, signature: str | None = None) -> tuple[int, str, FakeCall]:
        """An inbound call to `to`: Twilio asks our voice webhook what to do, then does it (a
        Stream: opens the media socket and streams `talk_pcm`, then hangs up)."""
        sid = "CA" + uuid.uuid4().hex
        params = {"AccountSid": self.account_sid, "CallSid": sid, "From": from_, "To": to, "CallStatus": "ringing",
                  "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        headers = {"X-Twilio-Signature": signature} if signature else self.signed(voice_url, params)
        async with httpx.AsyncClient() as http:
            response = await http.post(voice_url, data=params, headers=headers)
        stream_url, parameters = parse_stream(response.text) if response.status_code == 200 else (None, {})
        call = FakeCall(sid, to, from_, {}, stream_url, parameters, status="in-progress")
        self.calls[sid] = call
        if stream_url:
            call.media = TwilioMediaClient(stream_url, parameters, call_sid=sid, account_sid=self.account_sid)
            await call.media.connect()
            await call.media.stream_pcm(self.talk_pcm)
            await call.media.wait_for_media(1600)
            await call.media.stop()
        return response.status_code, response.text, call
