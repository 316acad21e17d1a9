"""Call order use cases: each runs in the caller's transaction and returns the wire shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.assistants import service as assistants_service
from openrevox.campaigns import store as campaigns_store
from openrevox.db.types import new_id, utcnow
from openrevox.errors import BadRequest, InvalidRequest, NotFound, OpenRevoxError
from openrevox.orders import attempts, policy, store
from openrevox.phone_numbers import service as phone_numbers
from openrevox.postcall import service as webhooks
from openrevox.recording_links import RecordingLinks
from openrevox.scheduling import store as dispatch_store
from openrevox.schemas.assistants import DEFAULT_RETRY_CONFIG_WIRE, assistant_values, render_assistant
from openrevox.schemas.calls import TERMINAL_STATUSES, CallCreateIn, CallSearchIn, render_attempt, render_call
from openrevox.schemas.common import placeholders
from openrevox.scheduling.windows import RetryConfig, recipient_timezones

INTERPOLATED_FIELDS = ("prompt", "first_sentence", "end_of_call_sentence", "voicemail_message")


def _inline_snapshot(org_id: str, body: CallCreateIn, now: datetime) -> dict:
    values = assistant_values(body.assistant, only_given=False)
    row = {**values, "id": new_id(), "organization_id": org_id, "name": "Inline assistant",
           "created_at": now, "updated_at": now}  # fmt: skip
    faqs = [
        {"id": new_id(), "question": f.question, "answer": f.answer, "source": "human", "needs_human_answer": False}
        for f in body.assistant.faq_items or []
    ]
    return render_assistant(row, faqs)


def _check_variables(assistant: dict, variables: dict[str, str]) -> None:
    for field in INTERPOLATED_FIELDS:
        missing = [name for name in placeholders(assistant.get(field)) if name not in variables]
        if missing:
            raise InvalidRequest(
                f"The assistant's {field} uses {{{{{missing[0]}}}}} but prompt_variables has no value for it",
                param=f"prompt_variables.{missing[0]}",
            )


class CreateReads:
    """What placing an order reads (a stored assistant, the caller id), each read once per
    transaction: the orders of one group commit share them. A refusal is remembered too."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._found: dict[tuple, tuple[object, OpenRevoxError | None]] = {}

    async def _once(self, key: tuple, read: Callable[[], Awaitable[object]]) -> object:
        if key not in self._found:
            try:
                self._found[key] = (await read(), None)
            except OpenRevoxError as refused:
                self._found[key] = (None, refused)
        value, refused = self._found[key]
        if refused is not None:
            raise refused
        return value

    async def assistant(self, org_id: str, assistant_id: str) -> dict:
        async def read() -> dict:
            try:
                return await assistants_service.fetch(self.conn, org_id, assistant_id)
            except NotFound as missing:
                raise NotFound(missing.message, param="assistant_id") from None

        return await self._once(("assistant", org_id, assistant_id), read)

    async def caller_id(self, org_id: str, requested: str | None, fallback: str) -> str:
        return await self._once(
            ("caller_id", org_id, requested, fallback),
            lambda: phone_numbers.caller_id(self.conn, org_id, requested, fallback),
        )


async def create(
    conn: AsyncConnection,
    org_id: str,
    body: CallCreateIn,
    *,
    default_from_number: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> dict:
    """Store a new order, due at its first attempt time; a repeated idempotency key returns the first."""
    now = now or utcnow()
    if idempotency_key:
        existing = await store.find_by_idempotency_key(conn, org_id, idempotency_key)
        if existing:
            return await render(conn, existing)
    values = await order_values(CreateReads(conn), org_id, body, default_from_number, idempotency_key, now)
    if not idempotency_key:
        await store_orders(conn, [values])
        return render_call(values, [])
    try:
        # A savepoint only here: with an idempotency key, a concurrent request sending the same
        # key may insert first, and the transaction must survive our unique-constraint failure.
        async with conn.begin_nested():
            await store_orders(conn, [values])
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its order.
        existing = await store.find_by_idempotency_key(conn, org_id, idempotency_key)
        return await render(conn, existing)
    return render_call(values, [])


async def order_values(
    reads: CreateReads,
    org_id: str,
    body: CallCreateIn,
    default_from_number: str,
    idempotency_key: str | None,
    now: datetime,
) -> dict:
    """The row of a new order, due at its first attempt time; refuses what cannot be placed."""
    if (body.assistant is None) == (body.assistant_id is None):
        raise InvalidRequest("Give exactly one of assistant_id or assistant", param="assistant_id")
    if body.assistant_id is not None:
        assistant = await reads.assistant(org_id, body.assistant_id)
    else:
        assistant = _inline_snapshot(org_id, body, now)
    variables = body.prompt_variables or {}
    _check_variables(assistant, variables)

    retry_config = assistant["call_retry_config"] or DEFAULT_RETRY_CONFIG_WIRE
    config = RetryConfig.from_wire(retry_config)
    force_now = bool(body.force_now or body.skip_calling_window)
    due_at = policy.first_attempt_at(
        config, recipient_timezones(body.phone_number, config.timezone), now, body.scheduled_at, force_now, now
    )
    return {
        "id": new_id(),
        "organization_id": org_id,
        "assistant_id": assistant["id"],
        "assistant": assistant,
        "to_phone_number": body.phone_number,
        "from_phone_number": await reads.caller_id(org_id, body.from_phone_number, default_from_number),
        "direction": "outbound",
        "status": policy.order_status_when_waiting(due_at, now),
        "scheduled_at": body.scheduled_at or now,
        "metadata": body.metadata,
        "prompt_variables": body.prompt_variables,
        "call_retry_config": retry_config,
        "first_sentence_delay_ms": assistant["first_sentence_delay_ms"],
        "llm_model": assistant["llm_model"],
        "concurrency_key": body.concurrency.key if body.concurrency else None,
        "concurrency_max": body.concurrency.max if body.concurrency else None,
        "force_now": force_now,
        "idempotency_key": idempotency_key,
        "calls_count": 0,
        "next_attempt_at": due_at,
        "created_at": now,
        "updated_at": now,
    }


async def store_orders(conn: AsyncConnection, orders: list[dict]) -> None:
    """Insert new orders, in one statement, after their concurrency keys' limits: the latest
    `max` sent for a key (the last of these orders naming it) becomes its limit."""
    # The keys' limits first: usually unchanged, read without writing, so the write (and on
    # SQLite the database's single write lock) starts with the orders' insert.
    limits = {
        (o["organization_id"], o["concurrency_key"]): o["concurrency_max"] for o in orders if o["concurrency_key"]
    }
    for (org_id, key), limit in limits.items():
        await dispatch_store.set_key_limit(conn, org_id, key, limit)
    await store.insert_orders(conn, orders)


async def render(conn: AsyncConnection, order: dict, links: RecordingLinks | None = None) -> dict:
    return (await render_many(conn, [order], links))[0]


# An order in these statuses that was never dialed has no attempt row: the dispatcher inserts an
# attempt in the same transaction that moves the order to `calling`, and counts it in
# `calls_count` when it dials; an attempt claimed but not dialed exists only while its order is
# calling, paused or cancelled (until abandoned), never while it waits.
_WAITING = frozenset({"scheduled", "queued_for_calling"})


def _may_have_attempts(order: dict) -> bool:
    return order["calls_count"] > 0 or order["status"] not in _WAITING


def _recording_url(attempt: dict, links: RecordingLinks | None) -> str | None:
    # Without links (no request to sign them for), an attempt renders no recording_url.
    return links.url(attempt["id"]) if links and attempt["recording_ref"] else None


async def render_many(conn: AsyncConnection, orders: list[dict], links: RecordingLinks | None = None) -> list[dict]:
    attempts = await store.attempts_of(conn, [o["id"] for o in orders if _may_have_attempts(o)])
    attempts.update((o["id"], []) for o in orders if not _may_have_attempts(o))
    transcripts = await store.transcripts_of(conn, [a["id"] for rows in attempts.values() for a in rows])
    names = await campaigns_store.names_of(conn, {o["campaign_id"] for o in orders if o["campaign_id"]})
    return [
        render_call(
            {**o, "campaign": {"id": o["campaign_id"], "name": names[o["campaign_id"]]} if o["campaign_id"] in names else None},
            [render_attempt(a, transcripts[a["id"]], _recording_url(a, links)) for a in attempts[o["id"]]],
        )
        for o in orders
    ]


async def fetch_order(conn: AsyncConnection, org_id: str, order_id: str, *, lock: bool = False) -> dict:
    order = await store.get_order(conn, org_id, order_id, lock=lock)
    if order is None:
        raise NotFound(f"No call with id '{order_id}'", param="id")
    return order


async def list_attempts(
    conn: AsyncConnection, org_id: str, page: int, page_size: int, statuses: list[str], links: RecordingLinks
) -> list[dict]:
    rows = await store.list_attempts(conn, org_id, statuses, page * page_size, page_size)
    transcripts = await store.transcripts_of(conn, [a["id"] for a in rows])
    return [render_attempt(a, transcripts[a["id"]], _recording_url(a, links)) for a in rows]


async def search(conn: AsyncConnection, org_id: str, body: CallSearchIn, links: RecordingLinks) -> dict:
    orders, total = await store.search_orders(conn, org_id, body.model_dump())
    return {"calls": await render_many(conn, orders, links), "total_count": total}


async def cancel(conn: AsyncConnection, org_id: str, order_id: str, now: datetime | None = None) -> None:
    """Pending attempts never start; a live attempt is hung up by the process that holds it."""
    order = await fetch_order(conn, org_id, order_id, lock=True)
    if order["status"] in TERMINAL_STATUSES:
        raise BadRequest(f"The call is already {order['status']}; it cannot be cancelled", param="id")
    now = now or utcnow()
    await store.set_order_status(conn, order_id, "cancelled", now, next_attempt_at=None)
    await webhooks.enqueue_completed(conn, order_id, now)


async def pause(conn: AsyncConnection, org_id: str, order_id: str, now: datetime | None = None) -> None:
    """A live attempt finishes; no new attempt starts until resume."""
    order = await fetch_order(conn, org_id, order_id, lock=True)
    if order["status"] in TERMINAL_STATUSES:
        raise BadRequest(f"The call is already {order['status']}; it cannot be paused", param="id")
    if order["status"] != "paused":
        await store.set_order_status(conn, order_id, "paused", now or utcnow())


async def resume(conn: AsyncConnection, org_id: str, order_id: str, now: datetime | None = None) -> None:
    order = await fetch_order(conn, org_id, order_id, lock=True)
    if order["status"] != "paused":
        raise BadRequest(f"The call is {order['status']}, not paused; only a paused call can be resumed", param="id")
    now = now or utcnow()
    if await store.has_live_attempt(conn, order_id):
        await store.set_order_status(conn, order_id, "calling", now)
        return
    due = attempts.resume_due_at(order, now)
    await store.set_order_status(
        conn, order_id, policy.order_status_when_waiting(due, now), now, next_attempt_at=due
    )
