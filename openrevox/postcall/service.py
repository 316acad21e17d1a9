"""Webhook use cases: each runs in the caller's transaction.

`enqueue_completed` is called in the very transaction that makes an order terminal, so the
webhook exists if and only if the status does (a transactional outbox); the deliverer sends it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.config import Settings
from openrevox.db.types import new_id, utcnow
from openrevox.errors import BadRequest, NotFound
from openrevox.orders import service as orders_service
from openrevox.orders import store as orders_store
from openrevox.postcall import store
from openrevox.recording_links import webhook_links
from openrevox.schemas.common import iso

EVENT_COMPLETED = "call.completed"
SECRET_PREFIX = "whsec_"

# How this process signs recording links in webhook payloads (set at start from the settings;
# None: payloads carry `recording_url: null`).
_payload_links: Settings | None = None


def sign_recordings_with(settings: Settings) -> None:
    global _payload_links
    _payload_links = settings


def generate_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


async def ensure_secret(conn: AsyncConnection, org_id: str) -> str:
    """The organization's signing secret, generated on first use."""
    secret = await store.webhook_secret(conn, org_id)
    if secret:
        return secret
    await store.set_webhook_secret_if_missing(conn, org_id, generate_secret())
    return await store.webhook_secret(conn, org_id)


async def enqueue_completed(conn: AsyncConnection, order_id: str, now: datetime) -> str | None:
    """Writes the `call.completed` webhook of an order that just became terminal (if its assistant
    has a webhook_url): the payload is the Call as GET /call/{id} returns it at this moment."""
    order = await orders_store.get_order_by_id(conn, order_id)
    ids = await enqueue_completed_orders(conn, [order], now)
    return ids[0] if ids else None


RENDER_CHUNK = 500  # orders rendered per query batch when many end at once (a campaign cancelled)


async def enqueue_completed_orders(conn: AsyncConnection, orders: list[dict], now: datetime) -> list[str]:
    """`enqueue_completed` for orders just made terminal together, given as their current rows;
    returns the new outbox ids."""
    hooked = [o for o in orders if (o["assistant"] or {}).get("webhook_url")]
    ids: list[str] = []
    links = webhook_links(_payload_links, now.timestamp()) if hooked and _payload_links else None
    for start in range(0, len(hooked), RENDER_CHUNK):
        chunk = hooked[start : start + RENDER_CHUNK]
        rows = [
            {
                "id": new_id(),
                "organization_id": order["organization_id"],
                "order_id": order["id"],
                "event_type": EVENT_COMPLETED,
                "payload": {"type": EVENT_COMPLETED, "call": call},
                "url": str(order["assistant"]["webhook_url"]),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "retrying_since": now,
                "created_at": now,
            }
            for order, call in zip(chunk, await orders_service.render_many(conn, chunk, links), strict=True)
        ]
        await store.insert_outbox_rows(conn, rows)
        ids += [r["id"] for r in rows]
    return ids


def render_delivery(row: dict, tries: list[dict]) -> dict:
    return {
        "id": row["id"],
        "call_id": row["order_id"],
        "event_type": row["event_type"],
        "url": row["url"],
        "status": row["status"],
        "attempts": row["attempts"],
        "next_attempt_at": iso(row["next_attempt_at"]),
        "created_at": iso(row["created_at"]),
        "delivered_at": iso(row["delivered_at"]),
        "payload": row["payload"],
        "tries": [
            {
                "tried_at": iso(t["tried_at"]),
                "status_code": t["status_code"],
                "error": t["error"],
                "latency_ms": t["latency_ms"],
                "response_excerpt": t["response_excerpt"],
            }
            for t in tries
        ],
    }


async def list_deliveries(conn: AsyncConnection, org_id: str, page: int, page_size: int) -> list[dict]:
    rows = await store.list_outbox(conn, org_id, page * page_size, page_size)
    tries = await store.deliveries_of(conn, [r["id"] for r in rows])
    return [render_delivery(r, tries[r["id"]]) for r in rows]


async def deliveries_of_call(conn: AsyncConnection, org_id: str, order_id: str) -> list[dict]:
    """The webhooks of one call with their tries, oldest first (the dashboard's call page)."""
    rows = await store.outbox_of_order(conn, org_id, order_id)
    tries = await store.deliveries_of(conn, [r["id"] for r in rows])
    return [render_delivery(r, tries[r["id"]]) for r in rows]


async def resend(conn: AsyncConnection, org_id: str, outbox_id: str, now: datetime | None = None) -> dict:
    """Sends a failed (or already delivered) webhook again, with a fresh retry window; the same
    `webhook-id`, so a receiver that kept it can tell."""
    row = await store.get_outbox(conn, org_id, outbox_id, lock=True)
    if row is None:
        raise NotFound(f"No webhook delivery with id '{outbox_id}'", param="id")
    if row["status"] == "pending":
        raise BadRequest("This webhook is still being delivered; it can be re-sent once delivered or failed", param="id")
    await store.requeue(conn, outbox_id, now or utcnow())
    row = await store.get_outbox(conn, org_id, outbox_id)
    tries = await store.deliveries_of(conn, [outbox_id])
    return render_delivery(row, tries[outbox_id])
