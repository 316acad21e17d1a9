"""Campaign request models (SDK 0.1.1, plus the later PATCH) and the Campaign / Row shapes.

Contacts are validated by the campaign service, not here: one request may carry 100,000 of them,
and the service checks them in one fast pass that reports every bad row by its index.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from openrevox.schemas.assistants import CallRetryConfigIn, render_retry_config
from openrevox.schemas.calls import EARLIEST_SCHEDULE, LATEST_SCHEDULE
from openrevox.schemas.common import E164, WholeNumber, WireModel, iso

CampaignStatus = Literal["draft", "running", "paused", "completed"]
RowResult = Literal["IVR", "voicemail", "human", "unknown", "ios-screening-filter", "all", "none"]
MAX_CONTACTS = 200_000


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # a naive datetime from the SDK is taken as UTC
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_SCHEDULE <= value <= LATEST_SCHEDULE:
        raise ValueError("must be a date between 2000 and 2100")
    return value


class CampaignCreateIn(WireModel):
    assistant_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    # Raw dicts: checked row by row by the service (see the module docstring).
    contacts: list[dict] = Field(min_length=1, max_length=MAX_CONTACTS)
    call_retry_config: CallRetryConfigIn | None = None
    from_phone_number: E164 | None = None
    max_concurrent_calls: WholeNumber | None = Field(None, ge=1, le=10_000)
    scheduled_at: datetime | None = None

    _scheduled_at = field_validator("scheduled_at")(classmethod(lambda cls, v: _aware(v)))

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: object) -> object:
        # Replaces WireModel's check of the same name for everything but `contacts`, which the
        # service checks row by row, naming the row's index (and without a second walk).
        if isinstance(data, dict) and "contacts" in data:
            WireModel._storable_text.__func__(cls, {k: v for k, v in data.items() if k != "contacts"})
            return data
        return WireModel._storable_text.__func__(cls, data)


class CampaignUpdateIn(WireModel):
    """PATCH (SDK 0.3+): the name always; the rest applies to calls not yet dialed."""

    name: str | None = Field(None, min_length=1, max_length=200)
    call_retry_config: CallRetryConfigIn | None = None
    from_phone_number: E164 | None = None
    max_concurrent_calls: WholeNumber | None = Field(None, ge=1, le=10_000)


def render_campaign(row: dict, assistant: dict | None, row_stats: dict) -> dict:
    return {
        "id": row["id"],
        "assistant_id": row["assistant_id"],
        "name": row["name"],
        "organization_id": row["organization_id"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "is_cancelled": row["cancelled_at"] is not None,
        "status": campaign_status(row, row_stats),
        "assistant": assistant,
        "call_retry_config": render_retry_config(row["call_retry_config_override"]),
        "from_phone_number": row["from_phone_number"],
        "max_concurrent_calls": row["max_concurrent_calls"],
        "row_stats": row_stats,
        "scheduled_at": iso(row["scheduled_at"]),
    }


def campaign_status(row: dict, row_stats: dict) -> str:
    """Completed once every row is terminal; paused while paused; running otherwise."""
    open_rows = row_stats["calling"] + row_stats["pending"] + row_stats["retry"]
    if open_rows == 0:
        return "completed"
    return "paused" if row["paused_at"] is not None else "running"
