"""Signed, expiring links to recordings.

    {base}/recordings/{attempt id}.wav?expires=<unix seconds>&signature=<HMAC-SHA256, base64url>

The signature binds the attempt id and the expiry, under the installation's key: anyone holding
the link can play the recording until it expires (an <audio> tag, a webhook receiver), and
nobody can make a link for another attempt or a later expiry. The key is OPENREVOX_SECRET_KEY, or
else a random one kept in `<data dir>/secret_key`, created on first use (every process that
serves links must share that directory, or be given OPENREVOX_SECRET_KEY).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from openrevox.config import Settings
from openrevox.errors import Forbidden

SECRET_FILE = "secret_key"


def installation_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        # Written whole beside, then linked into place: processes starting together all end up
        # reading the one key that won, never a half-written file.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(partial)
    return path.read_text().strip().encode()


def signature(key: bytes, attempt_id: str, expires: int) -> str:
    mac = hmac.new(key, f"recording:{attempt_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def check(key: bytes, attempt_id: str, expires: int, given: str, now: float) -> None:
    """Raises Forbidden unless `given` signs this attempt and expiry and `now` is before it."""
    if not hmac.compare_digest(given.encode(), signature(key, attempt_id, expires).encode()):
        raise Forbidden("This recording link's signature is not valid", param="signature")
    if now >= expires:
        raise Forbidden("This recording link has expired; fetch the call again for a fresh one", param="expires")


@dataclass(frozen=True)
class RecordingLinks:
    """Links as one response renders them: from `base_url`, valid `lifetime` seconds from `now`."""

    base_url: str
    key: bytes
    lifetime: float
    now: float  # unix seconds

    def url(self, attempt_id: str) -> str:
        expires = int(self.now + self.lifetime)
        return (
            f"{self.base_url.rstrip('/')}/recordings/{attempt_id}.wav"
            f"?expires={expires}&signature={signature(self.key, attempt_id, expires)}"
        )


def webhook_links(settings: Settings, now: float) -> RecordingLinks | None:
    """Links in webhook payloads, rendered with no request to take a base from: on
    OPENREVOX_PUBLIC_URL only, and valid for as long as the webhook may still be retried, plus a
    link's usual lifetime after its last try."""
    if not settings.public_url:
        return None
    lifetime = settings.webhook_retry_for_seconds + settings.recording_link_seconds
    return RecordingLinks(settings.public_url, installation_key(settings), lifetime, now)
