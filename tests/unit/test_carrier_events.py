"""What each carrier's news means for an attempt: Twilio status callbacks and Telnyx call events
as the spec's events and dial_error values; Telnyx REST refusals; our media tokens and the
carriers' signatures."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

from openrevox.telephony.signatures import (
    media_token,
    valid_media_token,
    valid_telnyx_signature,
    valid_twilio_signature,
)
from openrevox.telephony.telnyx import attempt_of, call_event, rest_dial_error
from openrevox.telephony.twilio import status_event


@pytest.mark.parametrize(
    ("params", "time_limit", "expected"),
    [
        ({"CallStatus": "queued"}, None, ("", None)),  # nothing happened yet
        ({"CallStatus": "initiated"}, None, ("", None)),
        ({"CallStatus": "ringing"}, None, ("ringing", None)),
        ({"CallStatus": "in-progress"}, None, ("answered", "human")),  # until the agent hears otherwise
        ({"CallStatus": "in-progress", "AnsweredBy": "machine_end_beep"}, None, ("answered", "voicemail")),
        ({"CallStatus": "in-progress", "AnsweredBy": "fax"}, None, ("answered", "unknown")),
        ({"CallStatus": "completed", "CallDuration": "42"}, None, ("ended", ("user", None))),
        ({"CallStatus": "completed", "CallDuration": "42"}, 600, ("ended", ("user", None))),
        ({"CallStatus": "completed", "CallDuration": "600"}, 600, ("ended", ("system", "max_duration"))),
        ({"CallStatus": "busy"}, None, ("failed", "busy")),
        ({"CallStatus": "no-answer"}, None, ("failed", "no_answer")),
        ({"CallStatus": "failed", "SipResponseCode": "404"}, None, ("failed", "number_non_attributed")),
        ({"CallStatus": "failed", "SipResponseCode": "480"}, None, ("failed", "temporarily_unavailable")),
        ({"CallStatus": "failed"}, None, ("failed", "non_classified_error")),  # no SIP code given
        ({"CallStatus": "canceled"}, None, ("failed", "non_classified_error")),
    ],
)
def test_twilio_status_callbacks(params: dict, time_limit: int | None, expected: tuple) -> None:
    assert status_event(params, time_limit) == expected


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("call.initiated", {}, ("ringing", None)),  # Call Control has no ringing event
        ("call.answered", {}, ("answered", "human")),
        ("call.hangup", {"hangup_cause": "normal_clearing"}, ("ended", ("user", None))),
        ("call.hangup", {"hangup_cause": "time_limit"}, ("ended", ("system", "max_duration"))),
        ("call.hangup", {"hangup_cause": "user_busy"}, ("failed", "busy")),
        ("call.hangup", {"hangup_cause": "call_rejected"}, ("failed", "busy")),
        ("call.hangup", {"hangup_cause": "timeout"}, ("failed", "no_answer")),
        ("call.hangup", {"hangup_cause": "not_found"}, ("failed", "number_non_attributed")),
        ("call.hangup", {"hangup_cause": "unspecified", "sip_hangup_cause": "503"}, ("failed", "temporarily_unavailable")),
        ("call.hangup", {"hangup_cause": "unspecified"}, ("failed", "non_classified_error")),
        ("streaming.started", {}, ("", None)),  # news that changes nothing
    ],
)
def test_telnyx_call_events(event_type: str, payload: dict, expected: tuple) -> None:
    assert call_event(event_type, payload) == expected


def test_telnyx_client_state_names_the_attempt() -> None:
    assert attempt_of({"client_state": base64.b64encode(b"attempt-1").decode()}) == "attempt-1"
    assert attempt_of({"client_state": "not base64!"}) is None
    assert attempt_of({}) is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (422, {"errors": [{"code": "10016", "source": {"pointer": "/to"}}]}, "number_non_attributed"),
        (422, {"errors": [{"code": "10015", "source": {"pointer": "/connection_id"}}]}, "precondition_failed"),
        (401, {"errors": [{"code": "10009"}]}, "precondition_failed"),  # our key: retrying will not help
        (429, {}, "too_many_calls"),
        (500, {}, "non_classified_error"),
    ],
)
def test_telnyx_refusals(status: int, body: dict, expected: str) -> None:
    assert rest_dial_error(httpx.Response(status, json=body)) == expected


def test_media_tokens_are_ours_and_per_attempt() -> None:
    token = media_token("secret", "attempt-1")
    assert valid_media_token("secret", "attempt-1", token)
    assert not valid_media_token("secret", "attempt-2", token)
    assert not valid_media_token("other secret", "attempt-1", token)
    assert not valid_media_token("secret", "attempt-1", "")


def test_twilio_signatures() -> None:
    url, params = "https://example.com/telephony/twilio/status?attempt_id=a", {"CallStatus": "ringing"}
    signature = RequestValidator("token").compute_signature(url, params)
    assert valid_twilio_signature("token", url, params, signature)
    assert not valid_twilio_signature("token", url, {"CallStatus": "completed"}, signature)
    assert not valid_twilio_signature("other", url, params, signature)
    assert not valid_twilio_signature("token", url, params, None)


def test_telnyx_signatures() -> None:
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    stamp = str(int(now.timestamp()))
    body = b'{"data": {}}'
    signature = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
    assert valid_telnyx_signature(public, body, signature, stamp, now)
    assert not valid_telnyx_signature(public, body + b" ", signature, stamp, now)
    assert not valid_telnyx_signature(public, body, signature, stamp, now.replace(minute=6))  # replayed later
    assert not valid_telnyx_signature(public, body, "bm90IGEgc2lnbmF0dXJl", stamp, now)
    assert not valid_telnyx_signature(public, body, signature, None, now)
    assert not valid_telnyx_signature("not a key", body, signature, stamp, now)
