"""A fake Telnyx Call Control API over a real socket: it checks our requests as Telnyx would
(bearer key, connection, E.164 numbers, a bidirectional PCMU stream_url, client_state), plays each
call by its callee's script (see fakes.carrier), and sends our webhook the call events signed
with its ed25519 key, and our media websocket the stream."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.carrier import FakeCall, FakeCarrier
from fakes.telnyx_media import TelnyxMediaClient

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# The fake's call states, as Telnyx words them: (event_type, hangup_cause, sip_hangup_cause).
EVENTS = {
    "initiated": ("call.initiated", None, None),
    "answered": ("call.answered", None, None),
    "completed": ("call.hangup", "normal_clearing", "200"),
    "busy": ("call.hangup", "user_busy", "486"),
    "no-answer": ("call.hangup", "timeout", "480"),
    "failed": ("call.hangup", "not_found", "404"),
}


class FakeTelnyx(FakeCarrier):
    def __init__(self) -> None:
        self.api_key = "KEY" + uuid.uuid4().hex
        self.connection_id = str(uuid.uuid4())
        self.private_key = Ed25519PrivateKey.generate()
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = base64.b64encode(raw).decode()
        self.webhook_url: str | None = None  # the connection's, for inbound calls
        app = Starlette(
            routes=[
                Route("/v2/calls", self._dial, methods=["POST"]),
                Route("/v2/calls/{call_control_id}/actions/{action}", self._action, methods=["POST"]),
                Route("/v2/phone_numbers", self._numbers, methods=["GET"]),
                Route("/v2/phone_numbers/{id}", self._update_number, methods=["PATCH"]),
            ]
        )
        super().__init__(app, "fake-telnyx")
        self.numbers: dict[str, dict] = {}  # the account's numbers by id
        self.page_size: int | None = None  # the largest page the API gives (None: as asked)

    def own(self, e164: str, connection_name: str | None = None) -> str:
        number_id = str(uuid.uuid4().int)[:19]
        self.numbers[number_id] = {"id": number_id, "phone_number": e164, "connection_id": None,
                                   "connection_name": connection_name, "record_type": "phone_number"}  # fmt: skip
        return number_id

    def new_id(self) -> str:
        return "v3:" + uuid.uuid4().hex

    # -- REST -----------------------------------------------------------------------------------

    def _refused(self, request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse({"errors": [{"code": "10009", "title": "Authentication failed"}]}, status_code=401)
        return None

    def _check_stream(self, body: dict) -> None:
        if not str(body.get("stream_url", "")).startswith("ws"):
            self.problems.append(f"stream_url: {body.get('stream_url')!r}")
        if (body.get("stream_bidirectional_mode"), body.get("stream_bidirectional_codec")) != ("rtp", "PCMU"):
            self.problems.append(f"not a bidirectional PCMU stream: {body}")
        if not body.get("client_state"):
            self.problems.append("no client_state: webhooks could not name the call")

    async def _dial(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        script = self.scripts.get(body.get("to", ""), "answer")
        if script == "error":
            return JSONResponse({"errors": [{"code": "10007", "title": "Unexpected error"}]}, status_code=500)
        if script == "slow":
            await asyncio.sleep(self.slow_secs)
        if script == "refuse":
            error = {"code": "10016", "title": "Invalid phone number", "source": {"pointer": "/to"}}
            return JSONResponse({"errors": [error]}, status_code=422)
        if body.get("connection_id") != self.connection_id:
            self.problems.append(f"connection_id: {body.get('connection_id')!r}")
        for name in ("to", "from"):
            if not E164.match(str(body.get(name, ""))):
                self.problems.append(f"{name} is not E.164: {body.get(name)!r}")
        self._check_stream(body)
        call = FakeCall(self.new_id(), body["to"], body["from"], body, body.get("stream_url"))
        self.calls[call.id] = call
        self.play(call, script)
        return JSONResponse({"data": {"call_control_id": call.id, "call_leg_id": str(uuid.uuid4()),
                                      "call_session_id": str(uuid.uuid4()), "is_alive": False, "record_type": "call"}})  # fmt: skip

    async def _action(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        call = self.calls.get(request.path_params["call_control_id"])
        if call is None:
            return JSONResponse({"errors": [{"code": "90018", "title": "Call has already ended"}]}, status_code=422)
        action, body = request.path_params["action"], await request.json()
        call.updates.append({"action": action, **body})
        if action == "answer":
            self._check_stream(body)
            call.stream_url, call.request = body.get("stream_url"), {**call.request, **body}
            call.our_answer.set()
        elif action in ("hangup", "transfer"):
            self.hang_up(call)
        elif action == "reject":
            if body.get("cause") not in ("CALL_REJECTED", "USER_BUSY"):  # Telnyx answers 422
                self.problems.append(f"reject with cause {body.get('cause')!r}")
            call.our_answer.set()
        return JSONResponse({"data": {"result": "ok"}})

    async def _numbers(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        size = min(int(request.query_params.get("page[size]", 20)), self.page_size or 250)
        page = int(request.query_params.get("page[number]", 1))
        numbers = list(self.numbers.values())
        pages = max(1, -(-len(numbers) // size))
        return JSONResponse({"data": numbers[(page - 1) * size : page * size],
                             "meta": {"page_number": page, "page_size": size, "total_pages": pages, "total_results": len(numbers)}})  # fmt: skip

    async def _update_number(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        number = self.numbers.get(request.path_params["id"])
        if number is None:
            return JSONResponse({"errors": [{"code": "10005", "title": "Resource not found"}]}, status_code=404)
        number.update(await request.json())
        return JSONResponse({"data": number})

    # -- what Telnyx sends us -------------------------------------------------------------------

    def signed(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        timestamp = timestamp or int(time.time())
        signature = self.private_key.sign(f"{timestamp}|".encode() + body)
        return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": str(timestamp),
                "content-type": "application/json"}  # fmt: skip

    def event(self, call: FakeCall, status: str, direction: str = "outgoing") -> dict:
        event_type, cause, sip = EVENTS[status]
        payload = {
            "call_control_id": call.id, "call_leg_id": call.id[3:], "connection_id": self.connection_id,
            "client_state": call.request.get("client_state"), "from": call.from_, "to": call.to,
            "direction": direction, "state": "parked" if status == "initiated" else status,
        }  # fmt: skip
        if cause:
            payload |= {"hangup_cause": cause, "sip_hangup_cause": sip, "hangup_source": "callee"}
        return {"data": {"event_type": event_type, "id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat(),
                         "payload": payload, "record_type": "event"}, "meta": {"attempt": 1}}  # fmt: skip

    async def report(self, call: FakeCall, status: str, duration: int = 0) -> None:
        if status == "ringing":
            return  # Call Control has no ringing event
        await self.callback(call, status, self.event(call, status, call.request.get("direction", "outgoing")))

    async def send_webhook(self, call: FakeCall, request: dict) -> int:
        body = json.dumps(request).encode()
        url = call.request.get("webhook_url") or self.webhook_url
        async with httpx.AsyncClient() as http:
            return (await http.post(url, content=body, headers=self.signed(body))).status_code

    def media_client(self, call: FakeCall) -> TelnyxMediaClient:
        return TelnyxMediaClient(call.stream_url, call_control_id=call.id, client_state=call.request.get("client_state"))

    # -- inbound --------------------------------------------------------------------------------

    async def ring_us(self, to: str, from_: str) -> FakeCall:
        """An inbound call to `to`: call.initiated (incoming) to the connection's webhook; once we
        answer (with a stream), the caller talks, waits for an answer and hangs up."""
        call = FakeCall(self.new_id(), to, from_, {"direction": "incoming"})
        self.calls[call.id] = call
        await self.callback(call, "initiated", self.event(call, "initiated", "incoming"))
        await asyncio.wait_for(call.our_answer.wait(), 10)
        if call.updates[-1]["action"] == "answer":
            await self.report(call, "answered")
            await self.converse(call)
            await self.report(call, "completed")
        call.done.set()
        return call

