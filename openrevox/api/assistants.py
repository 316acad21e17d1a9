"""The Assistants resource."""

from __future__ import annotations

from fastapi import APIRouter, Request

from openrevox.api.deps import CurrentPrincipal, Db
from openrevox.assistants import service
from openrevox.postcall.safety import check_webhook_url
from openrevox.schemas.assistants import AssistantCreateIn, AssistantUpdateIn

router = APIRouter(tags=["assistants"])


@router.post("/assistants", summary="Create an assistant")
async def create_assistant(body: AssistantCreateIn, request: Request, conn: Db, principal: CurrentPrincipal) -> dict:
    if body.webhook_url is not None:
        await check_webhook_url(
            str(body.webhook_url), allow_private=request.app.state.settings.allow_private_webhooks, unresolvable_ok=True
        )
    return {"assistant": await service.create(conn, principal.organization_id, body)}


@router.get("/assistants", summary="List assistants")
async def list_assistants(conn: Db, principal: CurrentPrincipal) -> dict:
    return {"assistants": await service.list_all(conn, principal.organization_id)}


@router.get("/assistants/{assistant_id}", summary="Retrieve an assistant (bare object, no envelope)")
async def retrieve_assistant(assistant_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return await service.fetch(conn, principal.organization_id, assistant_id)


@router.patch("/assistants/{assistant_id}", summary="Update an assistant (fields given only)")
async def update_assistant(
    assistant_id: str, body: AssistantUpdateIn, request: Request, conn: Db, principal: CurrentPrincipal
) -> dict:
    if body.webhook_url is not None:
        await check_webhook_url(
            str(body.webhook_url), allow_private=request.app.state.settings.allow_private_webhooks, unresolvable_ok=True
        )
    return {"assistant": await service.update(conn, principal.organization_id, assistant_id, body)}


@router.delete("/assistants/{assistant_id}", summary="Delete an assistant")
async def delete_assistant(assistant_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.delete(conn, principal.organization_id, assistant_id)
    return {"success": True}


@router.post("/assistants/{assistant_id}/clone", summary="Clone an assistant")
async def clone_assistant(assistant_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"assistant": await service.clone(conn, principal.organization_id, assistant_id)}
