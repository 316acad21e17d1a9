"""The Telnyx carrier: calls placed and controlled through Call Control (REST v2), media streamed
both ways over a websocket (RTP, PCMU), call events received as signed webhooks.

    dial ── POST /v2/calls: connection_id, to, from, client_state (the attempt id), webhook_url,
             stream_url=wss://MEDIA/telephony/telnyx/media?attempt_id=&token=, bidirectional RTP PCMU
    Telnyx ── webhooks: call.initiated, call.answered, call.hangup (hangup_cause)
          ── media websocket: connected, start, media..., stop

Inbound calls arrive as call.initiated (direction incoming) on the connection's webhook URL and
are answered with the same stream.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
from pipecat.serializers.telnyx import TelnyxFrameSerializer

from openrevox.telephony.base import AccountNumber, DialFailed, DialRequest
from openrevox.telephony.live import LiveCalls, LiveCarrier, NotesStop
from openrevox.telephony.signatures import media_token, valid_media_token, valid_telnyx_signature
from openrevox.telephony.sip import dial_error_for_sip

log = logging.getLogger("openrevox.telnyx")

STREAM = {"stream_track": "inbound_track", "stream_bidirectional_mode": "rtp", "stream_bidirectional_codec": "PCMU"}
# hangup_cause -> how the attempt ends: ("ended", (ended_by, end_reason)) or ("failed", dial_error).
HANGUP_CAUSES = {
    "normal_clearing": ("ended", ("user", None)),
    "time_limit": ("ended", ("system", "max_duration")),
    "user_busy": ("failed", "busy"),
    "call_rejected": ("failed", "busy"),
    "timeout": ("failed", "no_answer"),
    "no_answer": ("failed", "no_answer"),
    "not_found": ("failed", "number_non_attributed"),
    "unallocated_number": ("failed", "number_non_attributed"),
    "originator_cancel": ("failed", "non_classified_error"),
}


def call_event(event_type: str, payload: dict) -> tuple[str, object]:
    """(event, detail) for a Call Control webhook, or ("", None) for news that changes nothing."""
    if event_type == "call.initiated":
        return "ringing", None  # Call Control has no ringing event: the call is out
    if event_type == "call.answered":
        return "answered", "human"  # until the agent hears otherwise
    if event_type == "call.hangup":
        cause = payload.get("hangup_cause", "")
        return HANGUP_CAUSES.get(cause) or ("failed", dial_error_for_sip(payload.get("sip_hangup_cause")))
    return "", None


def attempt_of(payload: dict) -> str | None:
    """The attempt id we put in client_state when we dialed or answered."""
    try:
        return base64.b64decode(payload.get("client_state") or "", validate=True).decode() or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def rest_dial_error(response: httpx.Response) -> str:
    """Why Telnyx refused to dial, as the spec's dial_error."""
    if response.status_code == 429:
        return "too_many_calls"
    if response.status_code >= 500:
        return "non_classified_error"
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    if any((e.get("source") or {}).get("pointer") == "/to" for e in errors):
        return "number_non_attributed"
    return "precondition_failed"  # our account or request: a retry would not help


class StreamSerializer(NotesStop, TelnyxFrameSerializer):
    """Pipecat's serializer (we hang up ourselves), noting whether Telnyx said `stop`."""


class TelnyxCarrier(LiveCarrier):
    name = "telnyx"

    def __init__(
        self,
        live: LiveCalls,
        *,
        api_key: str,
        connection_id: str,
        public_key: str,
        api_url: str,
        public_url: str,
        media_url: str | None = None,
        timeout: float,
    ) -> None:
        super().__init__(live, public_url, media_url)
        self.api_key = api_key
        self.connection_id = connection_id
        self.public_key = public_key
        self.http = httpx.AsyncClient(
            base_url=api_url.rstrip("/") + "/v2", headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout
        )

    # -- what we tell Telnyx -------------------------------------------------------------------

    def stream(self, attempt_id: str, media_url: str | None = None) -> dict:
        """Stream the call to this process, or to the one at `media_url` (an inbound call placed there)."""
        query = urlencode({"attempt_id": attempt_id, "token": media_token(self.api_key, attempt_id)})
        return {
            "stream_url": f"{media_url or self.media_url}/telephony/telnyx/media?{query}",
            "client_state": base64.b64encode(attempt_id.encode()).decode(),
            **STREAM,
        }

    async def dial(self, request: DialRequest) -> str:
        body = {
            "connection_id": self.connection_id,
            "to": request.to_phone_number,
            "from": request.from_phone_number,
            "webhook_url": f"{self.public_url}/telephony/telnyx/webhook",
            "webhook_url_method": "POST",
            "time_limit_secs": int(request.max_call_duration_secs),
            **self.stream(request.attempt_id),
        }
        try:
            response = await self.http.post("/calls", json=body)
        except httpx.HTTPError as fault:  # timeouts included: retried by policy
            log.warning("Telnyx unreachable for attempt %s: %r", request.attempt_id, fault)
            raise DialFailed("non_classified_error", f"Telnyx unreachable: {fault!r}") from None
        if response.status_code >= 400:
            log.warning("Telnyx refused attempt %s: %s %s", request.attempt_id, response.status_code, response.text)
            raise DialFailed(rest_dial_error(response), response.text)
        call_control_id = response.json()["data"]["call_control_id"]
        self.live.ids[request.attempt_id] = call_control_id
        return call_control_id

    async def _action(self, call_control_id: str, action: str, body: dict | None = None) -> None:
        try:
            response = await self.http.post(f"/calls/{call_control_id}/actions/{action}", json=body or {})
            if response.status_code >= 400:  # e.g. the call already ended
                log.warning("Telnyx %s of %s refused: %s %s", action, call_control_id, response.status_code, response.text)
        except httpx.HTTPError as fault:
            log.warning("Telnyx %s of %s failed: %r", action, call_control_id, fault)

    async def answer(self, call_control_id: str, attempt_id: str, media_url: str | None = None) -> None:
        await self._action(call_control_id, "answer", self.stream(attempt_id, media_url))

    async def reject(self, call_control_id: str, busy: bool = False) -> None:
        await self._action(call_control_id, "reject", {"cause": "USER_BUSY" if busy else "CALL_REJECTED"})

    async def hang_up_at_carrier(self, call_id: str, status: str) -> None:
        await self._action(call_id, "hangup")

    async def transfer_at_carrier(self, call_id: str, to_phone_number: str) -> None:
        await self._action(call_id, "transfer", {"to": to_phone_number})

    async def account_numbers(self) -> list[AccountNumber]:
        """The numbers of the Telnyx account (every page)."""
        numbers, page = [], 1
        while True:
            response = await self.http.get("/phone_numbers", params={"page[number]": page, "page[size]": 250})
            response.raise_for_status()
            body = response.json()
            numbers += [AccountNumber(n["id"], n["phone_number"], n.get("connection_name")) for n in body["data"]]
            if page >= (body.get("meta") or {}).get("total_pages", 1):
                return numbers
            page += 1

    async def route_to_us(self, number: AccountNumber) -> None:
        """Calls to the number reach our Call Control application (and so its webhook)."""
        response = await self.http.patch(f"/phone_numbers/{number.carrier_id}", json={"connection_id": self.connection_id})
        response.raise_for_status()

    async def close(self) -> None:
        """Calls go on at Telnyx; their webhooks reach whichever server is up."""
        await self.http.aclose()

    # -- what Telnyx tells us ------------------------------------------------------------------

    def valid_signature(self, body: bytes, signature: str | None, timestamp: str | None) -> bool:
        return valid_telnyx_signature(self.public_key, body, signature, timestamp, datetime.now(UTC))

    async def report_event(self, event_type: str, payload: dict) -> None:
        """A call event; replays and late ones change nothing (the state machine is forward-only)."""
        attempt_id = attempt_of(payload)
        event, detail = call_event(event_type, payload)
        if attempt_id is None or not event:
            return
        at = self.live.clock()
        if event == "ringing":
            await self.events.ringing(attempt_id, at)
        elif event == "answered":
            await self.events.answered(attempt_id, at, detail)
        elif event == "ended":
            await self.events.ended(attempt_id, at, *detail)
        else:
            await self.events.failed(attempt_id, at, detail)
        if event in ("ended", "failed"):
            self.live.ids.pop(attempt_id, None)

    def media_serializer(self, attempt_id: str, token: str, start: dict) -> StreamSerializer | None:
        """The serializer for a stream's `start` message; None if the token is not ours."""
        if not valid_media_token(self.api_key, attempt_id, token):
            return None
        encoding = (start.get("start", {}).get("media_format") or {}).get("encoding", "PCMU")
        return StreamSerializer(
            start.get("stream_id", ""), encoding, encoding, params=TelnyxFrameSerializer.InputParams(auto_hang_up=False)
        )
