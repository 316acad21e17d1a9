"""Wire models of the Phone numbers resource (SDK 0.3+)."""

from __future__ import annotations

from pydantic import Field

from openrevox.schemas.common import WireModel, iso


class PhoneNumberUpdateIn(WireModel):
    inbound_assistant_id: str | None = None
    label: str | None = Field(None, max_length=200)


def render_phone_number(row: dict, inbound_assistant: dict | None) -> dict:
    return {
        "id": row["id"],
        "created_at": iso(row["created_at"]),
        "created_by": None,
        "inbound_assistant": inbound_assistant,
        "inbound_sip_uri": None,
        "label": row["label"],
        "livekit_outbound_trunk_id": None,
        "phone_number": row["phone_number"],
        "provider": row["provider"],
        "source": row["source"],
        "type": row["type"],
    }
