"""The Carrier protocol: how the dispatcher places calls, and how carriers report back.

A carrier is told to `dial` one attempt. It returns once the carrier accepted the call (its own
call id) or raises `DialFailed` with the spec's `dial_error`. From then on it reports what happens
through `CallEvents`, from whatever process receives the news (the sandbox: the dialing process;
Twilio or Telnyx: the server their webhook reaches). `hang_up` ends a live call; the carrier then
reports `ended` as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class DialRequest:
    attempt_id: str
    order_id: str
    organization_id: str
    to_phone_number: str
    from_phone_number: str
    attempt_number: int
    max_call_duration_secs: float


@dataclass(frozen=True)
class AccountNumber:
    """A number of the carrier account (`openrevox numbers import`)."""

    carrier_id: str
    phone_number: str
    label: str | None


class DialFailed(Exception):
    """The carrier refused or could not place the call; `dial_error` is the spec's value."""

    def __init__(self, dial_error: str, message: str = "") -> None:
        super().__init__(message or dial_error)
        self.dial_error = dial_error


class CallEvents(Protocol):
    """What a carrier reports about an attempt; each call is one committed write."""

    async def ringing(self, attempt_id: str, at: datetime) -> None: ...

    async def answered(self, attempt_id: str, at: datetime, result: str) -> None: ...

    async def ended(self, attempt_id: str, at: datetime, ended_by: str, end_reason: str | None) -> None: ...

    async def failed(self, attempt_id: str, at: datetime, dial_error: str) -> None: ...


class Carrier(Protocol):
    name: str

    async def dial(self, request: DialRequest) -> str:
        """Place the call; returns the carrier's call id or raises DialFailed."""
        ...

    async def hang_up(self, attempt_id: str) -> None:
        """End a live call of this process (no-op if it already ended)."""
        ...

    async def transfer(self, attempt_id: str, to_phone_number: str) -> None:
        """Hand the live call over to another number; the agent leaves the call."""
        ...

    def live_calls(self) -> set[str]:
        """Attempt ids whose call this process runs now (their leases are renewed)."""
        ...

    def forget(self, attempt_ids: set[str]) -> None:
        """Stop following calls among `live_calls()` that this process no longer holds."""
        ...

    async def close(self) -> None:
        """Stop every call this process runs (shutdown)."""
        ...
