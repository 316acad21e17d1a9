"""Carrier webhooks (`router`: `openrevox serve`) and media websockets (`media_router`: `serve` and
`openrevox worker --port`). Not behind the API key: each webhook is checked with the carrier's
signature (403 otherwise), each media socket with our token (closed with 1008 otherwise). A
carrier that is not the configured one answers 404."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request, Response, WebSocket
from fastapi.websockets import WebSocketDisconnect

from openrevox.errors import BadRequest, Forbidden, NotFound
from openrevox.telephony import inbound
from openrevox.telephony.inbound import Placed
from openrevox.telephony.live import converse

router = APIRouter(prefix="/telephony", tags=["telephony"], include_in_schema=False)
media_router = APIRouter(prefix="/telephony", tags=["telephony"], include_in_schema=False)

HANDSHAKE_SECS = 10.0  # a media socket names its call within this, or is closed
POLICY_VIOLATION = 1008


def _carrier(app, name: str):  # noqa: ANN001, ANN202
    carrier = app.state.services.carrier
    if carrier.name != name:
        raise NotFound(f"The {name} carrier is not configured on this server")
    return carrier


async def _place_inbound(request: Request, carrier, to_number: str, from_number: str, call_id: str) -> Placed | None:  # noqa: ANN001
    """The inbound call as an order answered by the number's assistant, placed on a process with
    room; None: nobody answers that number. Its lease is not renewed here: if no media socket
    takes it over, it expires and the attempt is closed (the caller hung up before the stream)."""
    engine, cap = request.app.state.engine, request.app.state.services.dispatcher.max_live_calls
    return await inbound.place(engine, carrier.live, carrier.media_url, cap, to_number, from_number, call_id)


async def _first_message(websocket: WebSocket, event: str, limit: int = 3) -> dict | None:
    """The first message of `event` among the first few (a carrier says hello first)."""
    async def read() -> dict | None:
        for _ in range(limit):
            message = json.loads(await websocket.receive_text())
            if message.get("event") == event:
                return message
        return None

    try:
        return await asyncio.wait_for(read(), HANDSHAKE_SECS)
    except (TimeoutError, ValueError, AttributeError, WebSocketDisconnect):  # not JSON objects, or nothing
        return None


# -- Twilio ---------------------------------------------------------------------------------------


async def _signed_twilio_form(request: Request):  # noqa: ANN202
    carrier = _carrier(request.app, "twilio")
    params = {key: str(value) for key, value in (await request.form()).items()}
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not carrier.valid_signature(path, params, request.headers.get("x-twilio-signature")):
        raise Forbidden("X-Twilio-Signature does not match this request", param="X-Twilio-Signature")
    return carrier, params


@router.post("/twilio/status")
async def twilio_status(request: Request, attempt_id: str, time_limit: int | None = None) -> Response:
    carrier, params = await _signed_twilio_form(request)
    await carrier.report_status(attempt_id, params, time_limit)
    return Response(status_code=204)


@router.post("/twilio/voice")
async def twilio_voice(request: Request) -> Response:
    """A call to one of our numbers ("A call comes in" webhook of the number)."""
    carrier, params = await _signed_twilio_form(request)
    placed = await _place_inbound(request, carrier, params.get("To", ""), params.get("From", ""), params["CallSid"])
    if placed is not None and placed.media_url is not None:
        twiml = carrier.stream_twiml(placed.attempt_id, placed.media_url)
    else:
        twiml = carrier.reject_twiml(busy=placed is not None)
    return Response(twiml, media_type="application/xml")


@media_router.websocket("/twilio/media")
async def twilio_media(websocket: WebSocket) -> None:
    carrier = _carrier(websocket.app, "twilio")
    await websocket.accept()
    start = await _first_message(websocket, "start")
    found = carrier.media_serializer(start.get("start") or {}) if start else None
    if found is None:
        await websocket.close(POLICY_VIOLATION)
        return
    attempt_id, serializer = found
    await converse(carrier, websocket.app.state.services.agent, attempt_id, start["start"]["callSid"], websocket, serializer)


# -- Telnyx ---------------------------------------------------------------------------------------


@router.post("/telnyx/webhook")
async def telnyx_webhook(request: Request) -> Response:
    """Every Call Control event of our calls, and of calls to our numbers (the connection's webhook URL)."""
    carrier = _carrier(request.app, "telnyx")
    body = await request.body()
    headers = request.headers
    if not carrier.valid_signature(body, headers.get("telnyx-signature-ed25519"), headers.get("telnyx-timestamp")):
        raise Forbidden("telnyx-signature-ed25519 does not match this request", param="telnyx-signature-ed25519")
    try:
        data = json.loads(body)["data"]
        event_type, payload = data["event_type"], data.get("payload") or {}
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Not a Telnyx webhook: expected {\"data\": {\"event_type\", \"payload\"}}") from None
    if event_type == "call.initiated" and payload.get("direction") == "incoming":
        call_id = payload["call_control_id"]
        placed = await _place_inbound(request, carrier, payload.get("to", ""), payload.get("from", ""), call_id)
        if placed is not None and placed.media_url is not None:
            await carrier.answer(call_id, placed.attempt_id, placed.media_url)
        else:
            await carrier.reject(call_id, busy=placed is not None)
    else:
        await carrier.report_event(event_type, payload)
    return Response(status_code=204)


@media_router.websocket("/telnyx/media")
async def telnyx_media(websocket: WebSocket) -> None:
    carrier = _carrier(websocket.app, "telnyx")
    attempt_id, token = websocket.query_params.get("attempt_id", ""), websocket.query_params.get("token", "")
    await websocket.accept()
    start = await _first_message(websocket, "start")
    serializer = carrier.media_serializer(attempt_id, token, start) if start else None
    if serializer is None:
        await websocket.close(POLICY_VIOLATION)
        return
    call_id = start.get("start", {}).get("call_control_id", "")
    await converse(carrier, websocket.app.state.services.agent, attempt_id, call_id, websocket, serializer)
