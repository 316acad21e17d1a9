"""Phone number use cases: each runs in the caller's transaction and returns the wire shape.

Numbers get in by `openrevox numbers add` (an operator's act: a number is bought at a carrier,
not through this API). Once an organization has numbers, its calls go out from one of them;
an inbound call to a number with an `inbound_assistant_id` becomes an inbound call order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.assistants import service as assistants_service
from openrevox.db.types import new_id, utcnow
from openrevox.errors import InvalidRequest, NotFound
from openrevox.orders import attempts
from openrevox.orders import store as orders_store
from openrevox.phone_numbers import store
from openrevox.scheduling import store as dispatch_store
from openrevox.schemas.assistants import DEFAULT_RETRY_CONFIG_WIRE
from openrevox.schemas.phone_numbers import PhoneNumberUpdateIn, render_phone_number

PROVIDERS = ("twilio", "telnyx", "sip")


async def _render(conn: AsyncConnection, row: dict) -> dict:
    assistant = None
    if row["inbound_assistant_id"]:
        assistant = await assistants_service.fetch(conn, row["organization_id"], row["inbound_assistant_id"])
    return render_phone_number(row, assistant)


async def fetch(conn: AsyncConnection, org_id: str, number_id: str) -> dict:
    row = await store.get_number(conn, org_id, number_id)
    if row is None:
        raise NotFound(f"No phone number with id '{number_id}'", param="id")
    return row


async def list_all(conn: AsyncConnection, org_id: str) -> list[dict]:
    return [await _render(conn, row) for row in await store.list_numbers(conn, org_id)]


async def _check_assistant(conn: AsyncConnection, org_id: str, assistant_id: str) -> None:
    try:
        await assistants_service.fetch(conn, org_id, assistant_id)
    except NotFound:
        raise InvalidRequest(f"No assistant with id '{assistant_id}'", param="inbound_assistant_id") from None


async def update(conn: AsyncConnection, org_id: str, number_id: str, body: PhoneNumberUpdateIn) -> dict:
    await fetch(conn, org_id, number_id)
    values = body.model_dump(include=body.model_fields_set)
    if values.get("inbound_assistant_id"):
        await _check_assistant(conn, org_id, values["inbound_assistant_id"])
    await store.update_number(conn, number_id, {**values, "updated_at": utcnow()})
    return await _render(conn, await fetch(conn, org_id, number_id))


async def delete(conn: AsyncConnection, org_id: str, number_id: str) -> None:
    """Orders already placed from it keep their caller id."""
    await fetch(conn, org_id, number_id)
    await store.delete_number(conn, number_id)


async def add(
    conn: AsyncConnection,
    org_id: str,
    e164: str,
    provider: str,
    *,
    label: str | None = None,
    inbound_assistant_id: str | None = None,
    carrier_number_id: str | None = None,
) -> dict:
    """A number of the organization (`openrevox numbers add`); it may belong to one only."""
    if provider not in PROVIDERS:
        raise InvalidRequest(f"provider must be one of {', '.join(PROVIDERS)}", param="provider")
    if inbound_assistant_id:
        await _check_assistant(conn, org_id, inbound_assistant_id)
    now = utcnow()
    row = {
        "id": new_id(), "organization_id": org_id, "phone_number": e164, "label": label, "provider": provider,
        "source": "user_imported", "type": "owned_number", "inbound_assistant_id": inbound_assistant_id,
        "carrier_number_id": carrier_number_id, "created_at": now, "updated_at": now,
    }  # fmt: skip
    try:
        async with conn.begin_nested():
            await store.insert_number(conn, row)
    except IntegrityError:
        raise InvalidRequest(f"{e164} is already a number of an organization", param="phone_number") from None
    return await _render(conn, row)


async def adopt(
    conn: AsyncConnection, org_id: str, e164: str, provider: str, label: str | None, carrier_number_id: str
) -> str:
    """A number of the carrier account, for `openrevox numbers import`: `added` to the
    organization, `kept` (already its own), or `taken` (another organization's, left there)."""
    owner = await store.find_by_phone_number(conn, e164)
    if owner is not None:
        return "kept" if owner["organization_id"] == org_id else "taken"
    await add(conn, org_id, e164, provider, label=label, carrier_number_id=carrier_number_id)
    return "added"


async def caller_id(conn: AsyncConnection, org_id: str, requested: str | None, fallback: str) -> str:
    """The number a call goes out from: one of the organization's, the first by default; an
    organization without numbers (the sandbox) uses what it asks for, or the fallback."""
    numbers = [row["phone_number"] for row in await store.list_numbers(conn, org_id)]
    if not numbers:
        return requested or fallback
    if requested is None:
        return numbers[0]
    if requested not in numbers:
        raise InvalidRequest(
            f"{requested} is not one of the organization's phone numbers ({', '.join(numbers)}); "
            "see GET /phone-numbers",
            param="from_phone_number",
        )
    return requested


async def answering_number(conn: AsyncConnection, to_number: str) -> dict | None:
    """Our number `to_number`, if an assistant answers its calls."""
    number = await store.find_by_phone_number(conn, to_number)
    return number if number is not None and number["inbound_assistant_id"] is not None else None


def _inbound_key(carrier_call_id: str) -> str:
    return f"inbound:{carrier_call_id}"


async def inbound_attempt(conn: AsyncConnection, number: dict, carrier_call_id: str) -> dict | None:
    """The attempt of the carrier's call `carrier_call_id` to `number`, if its webhook came before
    (the carrier's call id is the order's idempotency key)."""
    existing = await orders_store.find_by_idempotency_key(conn, number["organization_id"], _inbound_key(carrier_call_id))
    if existing is None:
        return None
    return (await orders_store.attempts_of(conn, [existing["id"]]))[existing["id"]][0]


async def start_inbound(
    conn: AsyncConnection,
    number: dict,
    from_number: str,
    carrier_call_id: str,
    now: datetime,
    holder: str | None,
    lease_seconds: float,
) -> str:
    """An inbound call to our `number`: an order with `direction: inbound` and its attempt, answered
    now by the number's assistant and held by the process `holder`. Returns the attempt id. With no
    holder (no process has room for it), the attempt ends at once: `error`, `too_many_calls`, ended
    by the system, and the carrier is to refuse the call as busy."""
    assistant = await assistants_service.fetch(conn, number["organization_id"], number["inbound_assistant_id"])
    order_id, attempt_id = new_id(), new_id()
    # Never retried: a retry would dial our own number.
    retry_config = {**(assistant["call_retry_config"] or DEFAULT_RETRY_CONFIG_WIRE), "max_retry_attempts": 0}
    await orders_store.insert_order(
        conn,
        {
            "id": order_id, "organization_id": number["organization_id"], "assistant_id": assistant["id"],
            "assistant": assistant, "to_phone_number": number["phone_number"], "from_phone_number": from_number,
            "direction": "inbound", "status": "calling", "scheduled_at": now, "metadata": None,
            "prompt_variables": None, "call_retry_config": retry_config,
            "first_sentence_delay_ms": assistant["first_sentence_delay_ms"], "llm_model": assistant["llm_model"],
            "concurrency_key": None, "concurrency_max": None, "force_now": False, "campaign_id": None,
            "idempotency_key": _inbound_key(carrier_call_id), "calls_count": 1, "next_attempt_at": None,
            "created_at": now, "updated_at": now,
        },
    )  # fmt: skip
    answered = {"status": "ongoing", "result": "human", "answered_at": now, "lease_owner": holder,
                "lease_expires_at": now + timedelta(seconds=lease_seconds)}  # fmt: skip
    await dispatch_store.insert_attempts(
        conn,
        [
            {
                "id": attempt_id, "organization_id": number["organization_id"], "order_id": order_id,
                "phone_number": number["phone_number"], "started_at": now, "created_at": now, "attempt_number": 1,
                "dial_started_at": now, "carrier_call_id": carrier_call_id,
                **(answered if holder else {"status": "ringing"}),
            }
        ],
    )  # fmt: skip
    if holder is None:
        await attempts.failed(conn, attempt_id, now, "too_many_calls", "system")
    return attempt_id
