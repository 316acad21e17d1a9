"""The Twilio carrier: calls placed through the REST API (the `twilio` library), a bidirectional
Media Stream per call, status callbacks reported as CallEvents.

    dial ── POST Calls.json: To, From, Twiml <Connect><Stream url=wss://MEDIA/telephony/twilio/media>
             with <Parameter>s attempt_id + token, StatusCallback=PUBLIC/telephony/twilio/status?attempt_id=
    Twilio ── status callbacks (initiated, ringing, answered, completed / busy / no-answer / failed)
          ── media websocket: connected, start, media..., stop

Inbound calls reach PUBLIC/telephony/twilio/voice (the number's "A call comes in" webhook) and get
the same Stream TwiML.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
from pipecat.serializers.twilio import TwilioFrameSerializer
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, VoiceResponse

from openrevox.telephony.base import AccountNumber, DialFailed, DialRequest
from openrevox.telephony.live import LiveCalls, LiveCarrier, NotesStop
from openrevox.telephony.signatures import media_token, valid_media_token, valid_twilio_signature
from openrevox.telephony.sip import dial_error_for_sip
from openrevox.telephony.twilio_http import HttpxTwilioClient

log = logging.getLogger("openrevox.twilio")

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]

# Twilio REST error codes -> the spec's dial_error; anything else is a carrier fault, retried.
REST_ERRORS = {
    21211: "number_non_attributed",  # invalid 'To' number
    21214: "number_non_attributed",  # 'To' number cannot be reached
    21215: "no_international_permission",  # geo permissions
    21216: "no_international_permission",
    21408: "no_international_permission",
    21210: "precondition_failed",  # 'From' not verified
    21212: "precondition_failed",  # invalid 'From'
    20429: "too_many_calls",
}
# What an answered-by (machine detection) says about who answered; without detection: a human,
# until the agent hears otherwise.
ANSWERED_BY = {"human": "human", "fax": "unknown", "unknown": "unknown"}


def call_duration(params: dict[str, str]) -> int:
    duration = params.get("CallDuration", "")
    return int(duration) if duration.isdigit() else 0


def status_event(params: dict[str, str], time_limit: int | None = None) -> tuple[str, object]:
    """(event, detail) for a status callback: ringing / answered (result) / ended ((ended_by,
    end_reason)) / failed (dial_error), or ("", None) for news that changes nothing (queued,
    initiated). A call as long as its `time_limit` was ended by Twilio at our request."""
    status = params.get("CallStatus", "")
    if status == "ringing":
        return "ringing", None
    if status == "in-progress":
        answered_by = params.get("AnsweredBy", "human")
        return "answered", ANSWERED_BY.get(answered_by, "voicemail" if answered_by.startswith("machine") else "human")
    if status == "completed":
        if time_limit and call_duration(params) >= time_limit:
            return "ended", ("system", "max_duration")
        return "ended", ("user", None)
    if status == "busy":
        return "failed", "busy"
    if status == "no-answer":
        return "failed", "no_answer"
    if status == "failed":
        return "failed", dial_error_for_sip(params.get("SipResponseCode"))
    if status == "canceled":
        return "failed", "non_classified_error"
    return "", None


class StreamSerializer(NotesStop, TwilioFrameSerializer):
    """Pipecat's serializer, noting whether Twilio said `stop`."""


class TwilioCarrier(LiveCarrier):
    name = "twilio"

    def __init__(
        self,
        live: LiveCalls,
        *,
        account_sid: str,
        auth_token: str,
        api_url: str,
        public_url: str,
        media_url: str | None = None,
        timeout: float,
    ) -> None:
        super().__init__(live, public_url, media_url)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_url = api_url
        self.http = HttpxTwilioClient(api_url, timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    # -- what we tell Twilio -------------------------------------------------------------------

    def stream_twiml(self, attempt_id: str, media_url: str | None = None) -> str:
        """Stream the call to this process, or to the one at `media_url` (an inbound call placed there)."""
        connect = Connect()
        stream = connect.stream(url=f"{media_url or self.media_url}/telephony/twilio/media")
        stream.parameter(name="attempt_id", value=attempt_id)
        stream.parameter(name="token", value=media_token(self.auth_token, attempt_id))
        return str(VoiceResponse().append(connect))

    def reject_twiml(self, busy: bool = False) -> str:
        """Refuse the call: "not in service", or a busy tone (no process has room for it)."""
        twiml = VoiceResponse()
        twiml.reject(reason="busy") if busy else twiml.reject()
        return str(twiml)

    async def dial(self, request: DialRequest) -> str:
        try:
            call = await self.client.calls.create_async(
                to=request.to_phone_number,
                from_=request.from_phone_number,
                twiml=self.stream_twiml(request.attempt_id),
                # Signed by Twilio with the rest: the time limit tells a max-duration end from a hang-up.
                status_callback=f"{self.public_url}/telephony/twilio/status?"
                + urlencode({"attempt_id": request.attempt_id, "time_limit": int(request.max_call_duration_secs)}),
                status_callback_event=STATUS_EVENTS,
                status_callback_method="POST",
                time_limit=int(request.max_call_duration_secs),
            )
        except TwilioRestException as refused:
            log.warning("Twilio refused attempt %s: %s %s", request.attempt_id, refused.code, refused.msg)
            raise DialFailed(REST_ERRORS.get(refused.code, "non_classified_error"), str(refused.msg)) from None
        except httpx.HTTPError as fault:  # timeouts included: the call may not exist; retried by policy
            log.warning("Twilio unreachable for attempt %s: %r", request.attempt_id, fault)
            raise DialFailed("non_classified_error", f"Twilio unreachable: {fault!r}") from None
        self.live.ids[request.attempt_id] = call.sid
        return call.sid

    async def _update(self, call_sid: str, **values: str) -> None:
        try:
            await self.client.calls(call_sid).update_async(**values)
        except (TwilioRestException, httpx.HTTPError) as fault:  # it may have ended already
            log.warning("Twilio call %s update %s failed: %r", call_sid, values, fault)

    async def hang_up_at_carrier(self, call_id: str, status: str) -> None:
        await self._update(call_id, status="completed" if status == "ongoing" else "canceled")

    async def transfer_at_carrier(self, call_id: str, to_phone_number: str) -> None:
        twiml = VoiceResponse()
        twiml.dial(to_phone_number)
        await self._update(call_id, twiml=str(twiml))

    async def account_numbers(self) -> list[AccountNumber]:
        """The numbers of the Twilio account."""
        numbers = await self.client.incoming_phone_numbers.list_async()
        return [AccountNumber(n.sid, n.phone_number, n.friendly_name) for n in numbers]

    async def route_to_us(self, number: AccountNumber) -> None:
        """Calls to the number come to our voice webhook."""
        await self.client.incoming_phone_numbers(number.carrier_id).update_async(
            voice_url=f"{self.public_url}/telephony/twilio/voice", voice_method="POST"
        )

    async def close(self) -> None:
        """Calls go on at Twilio; their callbacks reach whichever server is up."""
        await self.http.close()

    # -- what Twilio tells us ------------------------------------------------------------------

    def valid_signature(self, path_and_query: str, params: dict[str, str], signature: str | None) -> bool:
        return valid_twilio_signature(self.auth_token, self.public_url + path_and_query, params, signature)

    async def report_status(self, attempt_id: str, params: dict[str, str], time_limit: int | None = None) -> None:
        """A status callback; replays and late ones change nothing (the state machine is forward-only)."""
        event, detail = status_event(params, time_limit)
        at = self.live.clock()  # Twilio's Timestamp has whole seconds: it would precede our own times
        if event == "ringing":
            await self.events.ringing(attempt_id, at)
        elif event == "answered":
            await self.events.answered(attempt_id, at, detail)
        elif event == "ended":
            if call_duration(params) > 0:  # answered, even if that callback is late
                await self.events.answered(attempt_id, at, "human")
            await self.events.ended(attempt_id, at, *detail)
        elif event == "failed":
            await self.events.failed(attempt_id, at, detail)
        if event in ("ended", "failed"):
            self.live.ids.pop(attempt_id, None)

    def media_serializer(self, start: dict) -> tuple[str, StreamSerializer] | None:
        """The attempt and its serializer for a stream's `start` message; None if the token is not ours."""
        parameters = start.get("customParameters") or {}
        attempt_id = parameters.get("attempt_id", "")
        if not valid_media_token(self.auth_token, attempt_id, parameters.get("token", "")):
            return None
        serializer = StreamSerializer(
            start["streamSid"], start["callSid"], self.account_sid, self.auth_token, base_url=self.api_url
        )
        return attempt_id, serializer
