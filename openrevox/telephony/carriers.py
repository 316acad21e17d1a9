"""Which carrier a process uses: Twilio when its credentials are set, else Telnyx when its key
is, else (None here) the sandbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.config import Settings
from openrevox.telephony.events import DatabaseCallEvents
from openrevox.telephony.live import LiveCalls
from openrevox.telephony.telnyx import TelnyxCarrier
from openrevox.telephony.twilio import TwilioCarrier


def real_carrier(engine: AsyncEngine, settings: Settings, worker: str) -> TwilioCarrier | TelnyxCarrier | None:
    if settings.carrier == "sandbox":
        return None
    live = LiveCalls(engine, DatabaseCallEvents(engine), worker, settings.lease_seconds)
    if settings.carrier == "telnyx":
        return TelnyxCarrier(
            live,
            api_key=settings.telnyx_api_key,
            connection_id=settings.telnyx_connection_id,
            public_key=settings.telnyx_public_key,
            api_url=settings.telnyx_api_url,
            public_url=settings.public_url,
            media_url=settings.media_url,
            timeout=settings.carrier_timeout_seconds,
        )
    return TwilioCarrier(
        live,
        account_sid=settings.twilio_account_sid,
        auth_token=settings.twilio_auth_token,
        api_url=settings.twilio_api_url,
        public_url=settings.public_url,
        media_url=settings.media_url,
        timeout=settings.carrier_timeout_seconds,
    )
