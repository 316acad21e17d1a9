"""Call order request models and the Call / CallAttempt response shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, StrictBool, field_validator

from openrevox.schemas.assistants import InlineAssistantIn, render_retry_config
from openrevox.schemas.common import E164, WholeNumber, WireModel, iso

ORDER_STATUSES = (
    "initializing",
    "queued_for_calling",
    "calling",
    "scheduled",
    "completed",
    "cancelled",
    "errored",
)
# Statuses of later SDKs that a search may name; no order of ours is ever in them.
LATER_ORDER_STATUSES = ("post_processing", "not_launched", "paused")
EARLIEST_SCHEDULE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_SCHEDULE = datetime(2100, 1, 1, tzinfo=UTC)
TERMINAL_STATUSES = frozenset({"completed", "cancelled", "errored"})
OrderStatus = Literal[
    "initializing", "queued_for_calling", "calling", "scheduled", "completed", "cancelled", "errored",
    "post_processing", "not_launched", "paused",
]  # fmt: skip


class ConcurrencyIn(WireModel):
    key: str = Field(min_length=1, max_length=200)
    max: WholeNumber = Field(ge=1, le=10_000)


class CallCreateIn(WireModel):
    phone_number: E164
    assistant: InlineAssistantIn | None = None
    assistant_id: str | None = Field(None, min_length=1, max_length=100)
    concurrency: ConcurrencyIn | None = None
    force_now: StrictBool | None = None
    # SDK 0.4+ name for force_now.
    skip_calling_window: StrictBool | None = None
    from_phone_number: E164 | None = None
    metadata: dict[str, str] | None = None
    prompt_variables: dict[str, str] | None = None
    scheduled_at: datetime | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive datetime (what the SDK sends for a naive Python datetime) is taken as UTC.
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if not EARLIEST_SCHEDULE <= value <= LATEST_SCHEDULE:
            raise ValueError("must be a date between 2000 and 2100")
        return value


class CallSearchIn(WireModel):
    """POST /call/search (SDK 0.3+): every list is required; an empty list filters nothing."""

    assignee_ids: list[str]
    assistant_ids: list[str]
    campaign_ids: list[str]
    directions: list[Literal["inbound", "outbound"]]
    from_phone_numbers: list[str]
    outcomes: list[Literal["not_interested", "interested", "completed", "requested_callback_later", "none"]]
    results: list[Literal["IVR", "voicemail", "human", "unknown", "ios-screening-filter", "none"]]
    statuses: list[OrderStatus]
    page: int = Field(ge=0, le=1_000_000)
    page_size: int = Field(ge=1, le=100)
    call_ids: list[str] | None = None
    query: str | None = Field(None, max_length=200)
    sort_by: Literal["created_at", "updated_at", "scheduled_at"] | None = None
    sort_direction: Literal["asc", "desc"] | None = None
    to_phone_number: str | None = None


def render_transcript_entry(entry: dict) -> dict:
    return {
        "role": entry["role"],
        "content": entry["content"],
        "tool_name": entry["tool_name"],
        "tool_arguments": entry["tool_arguments"],
        "tool_is_error": entry["tool_is_error"],
    }


def render_attempt(row: dict, transcript: list[dict], recording_url: str | None) -> dict:
    return {
        "id": row["id"],
        "phone_number": row["phone_number"],
        "status": row["status"],
        "dial_error": row["dial_error"],
        "result": row["result"],
        "started_at": iso(row["started_at"]),
        "answered_at": iso(row["answered_at"]),
        "ended_at": iso(row["ended_at"]),
        "ended_by": row["ended_by"],
        "end_reason": row["end_reason"],
        "recording_url": recording_url,
        "structured_output": row["structured_output"],
        "transcript": [render_transcript_entry(e) for e in transcript],
        # SDK 0.4+ requires these.
        "handled_by_ai": row["answered_at"] is not None,
        "handled_by_human": False,
    }


def render_call(order: dict, attempts: list[dict]) -> dict:
    """The Call order as SDK 0.1.1 models it; `attempts` rendered, most recent first."""
    status = order["status"]
    return {
        "id": order["id"],
        "organization_id": order["organization_id"],
        "assistant": order["assistant"],
        "call_attempts": attempts,
        "last_call_attempt": attempts[0] if attempts else None,
        "call_retry_config": render_retry_config(order["call_retry_config"]),
        "calls_count": order["calls_count"],
        "campaign": order.get("campaign"),
        "created_at": iso(order["created_at"]),
        "updated_at": iso(order["updated_at"]),
        "scheduled_at": iso(order["scheduled_at"]),
        "direction": order["direction"],
        "first_sentence_delay_ms": order["first_sentence_delay_ms"],
        "from_phone_number": order["from_phone_number"],
        "to_phone_number": order["to_phone_number"],
        "is_cancelled": status == "cancelled",
        "is_completed": status == "completed",
        "llm_model": order["llm_model"],
        "metadata": order["metadata"],
        "prompt_variables": order["prompt_variables"],
        "status": status,
        # SDK 0.2+ fields we do not compute yet: present, null or empty, so newer SDKs parse.
        "contact": {"first_name": None, "last_name": None, "email": None, "company": None, "job_title": None},
        "outcome": None,
        "outcome_summary": None,
        "assignee": None,
    }
