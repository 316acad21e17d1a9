"""The attempt state machine: what the carrier reports, written as it happens.

    queued ──dial──► ringing ──► ongoing ──► completed
       │                │           
       └────────────────┴──────────────────► error (dial_error)

Every event is one transaction, forward-only (a replayed or late event changes nothing), so any
process may receive it: the sandbox in-process, or a carrier webhook on any server. When an
attempt ends, its concurrency slots are freed and the order policy decides, in the same
transaction, whether the order is finished (and writes its webhook to the outbox) or when the
next attempt is due.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.orders import policy, store
from openrevox.orders.store import LIVE_ATTEMPT
from openrevox.postcall import service as webhooks
from openrevox.scheduling import store as dispatch_store
from openrevox.scheduling.windows import RetryConfig, next_moment_in_window, recipient_timezones


def order_schedule(order: dict) -> tuple[RetryConfig, tuple]:
    config = RetryConfig.from_wire(order["call_retry_config"])
    return config, recipient_timezones(order["to_phone_number"], config.timezone)


async def ringing(conn: AsyncConnection, attempt_id: str, at: datetime) -> bool:
    return await store.advance_attempt(conn, attempt_id, ("queued",), {"status": "ringing"})


async def answered(conn: AsyncConnection, attempt_id: str, at: datetime, result: str) -> bool:
    return await store.advance_attempt(
        conn, attempt_id, ("queued", "ringing"), {"status": "ongoing", "answered_at": at, "result": result}
    )


async def classified(conn: AsyncConnection, attempt_id: str, result: str) -> bool:
    """Who answered, once the agent knows (voicemail, IVR...) after the answer."""
    return await store.advance_attempt(conn, attempt_id, ("ongoing",), {"result": result})


async def ended(
    conn: AsyncConnection,
    attempt_id: str,
    at: datetime,
    ended_by: str,
    end_reason: str | None = None,
) -> bool:
    """A call that was answered (or is treated as such) ended."""
    return await _finish(
        conn, attempt_id, at, {"status": "completed", "ended_at": at, "ended_by": ended_by, "end_reason": end_reason}
    )


async def failed(
    conn: AsyncConnection, attempt_id: str, at: datetime, dial_error: str, ended_by: str | None = None
) -> bool:
    """The call could not be completed: busy, no answer, not attributed, or a fault."""
    return await _finish(
        conn, attempt_id, at, {"status": "error", "dial_error": dial_error, "ended_at": at, "ended_by": ended_by}
    )


async def _finish(conn: AsyncConnection, attempt_id: str, at: datetime, values: dict) -> bool:
    values = {**values, "lease_owner": None, "lease_expires_at": None}
    if not await store.advance_attempt(conn, attempt_id, LIVE_ATTEMPT, values):
        return False
    await dispatch_store.release_slots(conn, attempt_id)
    attempt = await store.get_attempt(conn, attempt_id)
    order = await store.get_order_by_id(conn, attempt["order_id"], lock=True)
    await _decide_next(conn, order, attempt, at)
    return True


async def _decide_next(conn: AsyncConnection, order: dict, attempt: dict, now: datetime) -> None:
    if order["status"] == "cancelled":
        return
    config, zones = order_schedule(order)
    outcome = policy.AttemptOutcome(attempt["status"], attempt["dial_error"], attempt["result"], attempt["ended_at"])
    attempts_made = await store.count_dialed_attempts(conn, order["id"])
    decision = policy.next_attempt(config, zones, attempts_made, outcome)
    if isinstance(decision, policy.Finish):
        values = {"status": decision.status, "next_attempt_at": None}
    else:
        status = "paused" if order["status"] == "paused" else policy.order_status_when_waiting(decision.at, now)
        values = {"status": status, "next_attempt_at": decision.at}
    await store.update_order(conn, order["id"], {**values, "updated_at": now})
    if isinstance(decision, policy.Finish):  # its webhook commits with the terminal status
        await webhooks.enqueue_completed(conn, order["id"], now)


async def abandon_undialed(conn: AsyncConnection, attempt: dict, now: datetime) -> None:
    """An attempt claimed but never dialed whose order was paused or cancelled meanwhile: it never
    happened, so it is removed; a paused order will dial when resumed."""
    await dispatch_store.release_slots(conn, attempt["id"])
    await store.delete_attempt(conn, attempt["id"])
    order = await store.get_order_by_id(conn, attempt["order_id"])
    if order["status"] == "paused":
        await store.update_order(conn, order["id"], {"next_attempt_at": now, "updated_at": now})


def resume_due_at(order: dict, now: datetime) -> datetime | None:
    """On resume, an overdue attempt moves to the next moment inside a calling window."""
    due = order["next_attempt_at"]
    if due is None or due > now:
        return due
    config, zones = order_schedule(order)
    return next_moment_in_window(config, zones, now)
