"""Webhook deliveries (ours, not Revox's): what was sent where, every try, and re-sending."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from openrevox.api.deps import CurrentPrincipal, Db
from openrevox.postcall import service

router = APIRouter(tags=["webhooks"])


@router.get("/webhook-deliveries", summary="List webhook deliveries and their tries, newest first")
async def list_webhook_deliveries(
    conn: Db,
    principal: CurrentPrincipal,
    page: Annotated[int, Query(ge=0, le=1_000_000, description="0-based")] = 0,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    return {"deliveries": await service.list_deliveries(conn, principal.organization_id, page, page_size)}


@router.post("/webhook-deliveries/{delivery_id}/resend", summary="Send a delivered or failed webhook again")
async def resend_webhook(delivery_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"delivery": await service.resend(conn, principal.organization_id, delivery_id)}
