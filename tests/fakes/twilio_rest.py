"""A fake Twilio REST API over a real socket: it checks our requests as Twilio would (basic auth,
E.164 numbers, status callback events, the <Connect><Stream> TwiML), plays each call by its
callee's script (see fakes.carrier), and calls our status webhook and media websocket like
Twilio, with valid X-Twilio-Signature headers."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
import xml.etree.ElementTree as ET

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from fakes.carrier import FakeCall, FakeCarrier
from fakes.twilio_media import TwilioMediaClient

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CALL_STATUS = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress", "completed": "completed",
               "busy": "busy", "no-answer": "no-answer", "failed": "failed"}  # fmt: skip
ENDED = ("completed", "canceled", "busy", "no-answer", "failed")


def parse_stream(twiml: str) -> tuple[str | None, dict[str, str]]:
    """The <Connect><Stream> url and its <Parameter>s (None when the TwiML has no stream)."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response", twiml
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None, {}
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


class FakeTwilio(FakeCarrier):
    def __init__(self, account_sid: str = "AC" + uuid.uuid4().hex, auth_token: str = uuid.uuid4().hex) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        base = f"/2010-04-01/Accounts/{account_sid}"
        app = Starlette(
            routes=[
                Route(f"{base}/Calls.json", self._create, methods=["POST"]),
                Route(base + "/Calls/{sid}.json", self._update, methods=["POST"]),
                Route(f"{base}/IncomingPhoneNumbers.json", self._numbers, methods=["GET"]),
                Route(base + "/IncomingPhoneNumbers/{sid}.json", self._update_number, methods=["POST"]),
            ]
        )
        super().__init__(app, "fake-twilio")
        self.numbers: dict[str, dict] = {}  # the account's numbers by sid

    def own(self, e164: str, friendly_name: str | None = None) -> str:
        sid = "PN" + uuid.uuid4().hex
        self.numbers[sid] = {"sid": sid, "phone_number": e164, "friendly_name": friendly_name or e164, "voice_url": None}
        return sid

    def new_id(self) -> str:
        return "CA" + uuid.uuid4().hex

    # -- REST -----------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def _error(self, status: int, code: int, message: str) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "more_info": "", "status": status}, status_code=status)

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
        call = FakeCall(self.new_id(), one["To"], one["From"], params, stream_url, parameters)
        self.calls[call.id] = call
        self.play(call, script)
        return JSONResponse(
            {"sid": call.id, "account_sid": self.account_sid, "to": call.to, "from": call.from_, "status": "queued",
             "direction": "outbound-api", "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.id}.json"},
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
        if call.status in ENDED:
            return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if form.get("Status") in ("completed", "canceled") or "Twiml" in form:  # new TwiML ends the stream too
            self.hang_up(call)
        return JSONResponse({"sid": call.id, "status": call.status})

    async def _numbers(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        return JSONResponse({"incoming_phone_numbers": list(self.numbers.values()), "next_page_uri": None,
                             "page": 0, "page_size": 50, "start": 0, "end": len(self.numbers) - 1})  # fmt: skip

    async def _update_number(self, request: Request) -> JSONResponse:
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        number = self.numbers.get(request.path_params["sid"])
        if number is None:
            return self._error(404, 20404, "The requested resource was not found")
        form = dict(await request.form())
        number["voice_url"], number["voice_method"] = form.get("VoiceUrl"), form.get("VoiceMethod")
        return JSONResponse(number)

    # -- what Twilio sends us -------------------------------------------------------------------

    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    async def report(self, call: FakeCall, status: str, duration: int = 0) -> None:
        extra = {"CallDuration": str(duration)} if status == "completed" else {}
        if status == "failed":
            extra["SipResponseCode"] = "404"
        params = {
            "AccountSid": self.account_sid, "CallSid": call.id, "From": call.from_, "To": call.to,
            "CallStatus": CALL_STATUS[status], "Direction": "outbound-api", "ApiVersion": "2010-04-01",
            "CallbackSource": "call-progress-events", "SequenceNumber": str(next(call.sequence)), **extra,
        }  # fmt: skip
        await self.callback(call, CALL_STATUS[status], params)

    async def send_webhook(self, call: FakeCall, request: dict) -> int:
        url = call.request["StatusCallback"][0]
        async with httpx.AsyncClient() as http:
            return (await http.post(url, data=request, headers=self.signed(url, request))).status_code

    def media_client(self, call: FakeCall) -> TwilioMediaClient:
        return TwilioMediaClient(call.stream_url, call.stream_parameters, call_sid=call.id, account_sid=self.account_sid)

    # -- inbound --------------------------------------------------------------------------------

    async def ring_us(self, voice_url: str, to: str, from_: str, signature: str | None = None) -> tuple[int, str, FakeCall]:
        """An inbound call to `to`: Twilio asks our voice webhook what to do, then does it (a
        Stream: opens the media socket, streams `talk_pcm`, waits for an answer, hangs up)."""
        sid = self.new_id()
        params = {"AccountSid": self.account_sid, "CallSid": sid, "From": from_, "To": to, "CallStatus": "ringing",
                  "Direction": "inbound", "ApiVersion": "2010-04-01"}  # fmt: skip
        headers = {"X-Twilio-Signature": signature} if signature else self.signed(voice_url, params)
        async with httpx.AsyncClient() as http:
            response = await http.post(voice_url, data=params, headers=headers)
        stream_url, parameters = parse_stream(response.text) if response.status_code == 200 else (None, {})
        call = FakeCall(sid, to, from_, params, stream_url, parameters, status="in-progress")
        self.calls[sid] = call
        if stream_url:
            await self.converse(call)
        return response.status_code, response.text, call
