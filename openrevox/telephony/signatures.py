"""Who may talk to us: carrier webhooks are signed by the carrier, media sockets carry our token.

- Twilio signs each webhook with the account's auth token (`X-Twilio-Signature`, HMAC-SHA1 of the
  public URL and the form parameters); `twilio.request_validator` checks it.
- Telnyx signs each webhook with its ed25519 key: `telnyx-signature-ed25519` (base64) over
  `"{telnyx-timestamp}|{body}"`, refused when older than five minutes (replays).
- A media websocket is opened by the carrier from the URL we gave it with the call; it names the
  attempt and carries `media_token(attempt id)`, an HMAC only this server can make, so only our
  own calls open media sockets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from twilio.request_validator import RequestValidator

TELNYX_TOLERANCE_SECS = 300


def media_token(secret: str, attempt_id: str) -> str:
    return hmac.new(secret.encode(), f"media:{attempt_id}".encode(), hashlib.sha256).hexdigest()


def valid_media_token(secret: str, attempt_id: str, token: str) -> bool:
    return hmac.compare_digest(media_token(secret, attempt_id), token or "")


def valid_twilio_signature(auth_token: str, url: str, params: dict[str, str], signature: str | None) -> bool:
    return bool(signature) and RequestValidator(auth_token).validate(url, params, signature)


def valid_telnyx_signature(
    public_key: str, body: bytes, signature: str | None, timestamp: str | None, now: datetime
) -> bool:
    """`public_key` is the base64 ed25519 key shown in the Telnyx portal."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > TELNYX_TOLERANCE_SECS:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(signature), timestamp.encode() + b"|" + body)
    except (InvalidSignature, ValueError):
        return False
    return True
