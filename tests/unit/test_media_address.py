"""Where a carrier is told to open a call's media websocket: this process's media address
(`OPENREVOX_MEDIA_URL`), else the public URL, as a websocket address."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from fakes.twilio_rest import parse_stream
from openrevox.config import Settings
from openrevox.telephony.live import LiveCalls
from openrevox.telephony.telnyx import TelnyxCarrier
from openrevox.telephony.twilio import TwilioCarrier


def twilio(public_url: str, media_url: str | None = None) -> TwilioCarrier:
    live = LiveCalls(None, None, "worker-1", 15)
    return TwilioCarrier(live, account_sid="AC1", auth_token="token", api_url="https://api.twilio.test",
                         public_url=public_url, media_url=media_url, timeout=1)  # fmt: skip


def telnyx(public_url: str, media_url: str | None = None) -> TelnyxCarrier:
    live = LiveCalls(None, None, "worker-1", 15)
    return TelnyxCarrier(live, api_key="KEY1", connection_id="c1", public_key="pk", api_url="https://api.telnyx.test",
                         public_url=public_url, media_url=media_url, timeout=1)  # fmt: skip


@pytest.mark.parametrize(
    ("public_url", "media_url", "socket"),
    [
        ("https://calls.example.com", None, "wss://calls.example.com/telephony/twilio/media"),
        ("http://127.0.0.1:8000/", None, "ws://127.0.0.1:8000/telephony/twilio/media"),
        ("https://calls.example.com", "https://calls.example.com/p2/", "wss://calls.example.com/p2/telephony/twilio/media"),
        ("https://calls.example.com", "wss://10.0.0.7:8001", "wss://10.0.0.7:8001/telephony/twilio/media"),
    ],
)
def test_twilio_streams_to_this_process_media_address(public_url, media_url, socket) -> None:
    carrier = twilio(public_url, media_url)
    url, parameters = parse_stream(carrier.stream_twiml("att-1"))
    assert url == socket
    assert parameters["attempt_id"] == "att-1"
    assert carrier.public_url == public_url.rstrip("/")  # webhooks still go to the public address
    asyncio.run(carrier.close())


def test_telnyx_streams_to_this_process_media_address() -> None:
    carrier = telnyx("https://calls.example.com", "https://calls.example.com/p2")
    stream = urlsplit(carrier.stream("att-1")["stream_url"])
    assert (stream.scheme, stream.netloc, stream.path) == ("wss", "calls.example.com", "/p2/telephony/telnyx/media")
    assert parse_qs(stream.query)["attempt_id"] == ["att-1"]
    default = urlsplit(telnyx("https://calls.example.com").stream("att-1")["stream_url"])
    assert (default.scheme, default.netloc, default.path) == ("wss", "calls.example.com", "/telephony/telnyx/media")
    asyncio.run(carrier.http.aclose())


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("media_url", "calls.example.com:8001", "must start with wss://"),
        ("public_url", "wss://calls.example.com", "must start with https://"),
        ("max_live_calls", -1, "greater than or equal to 0"),
    ],
)
def test_bad_capacity_and_address_settings_are_refused_at_start(setting, value, problem) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{setting: value})
    assert setting in str(refused.value) and problem in str(refused.value)
