"""The Call resource: /call (SDK 0.1.1) and its actions and search (SDK 0.3+)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from openrevox.api.deps import CurrentPrincipal, Db, PrincipalAlone
from openrevox.api.recordings import Links
from openrevox.errors import InvalidRequest
from openrevox.orders import service
from openrevox.postcall.safety import check_webhook_url
from openrevox.schemas.calls import ORDER_STATUSES, CallCreateIn, CallSearchIn

router = APIRouter(tags=["call"])


@router.post("/call", summary="Place a call order", response_model=dict)
async def create_call(
    body: CallCreateIn,
    request: Request,
    principal: PrincipalAlone,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JSONResponse:
    state = request.app.state
    if body.assistant is not None and body.assistant.webhook_url is not None:
        await check_webhook_url(
            str(body.assistant.webhook_url),
            allow_private=state.settings.allow_private_webhooks,
            param="assistant.webhook_url",
            unresolvable_ok=True,
        )
    default_from_number = state.settings.default_from_number
    if idempotency_key:
        async with state.engine.begin() as conn:
            call = await service.create(
                conn, principal.organization_id, body,
                default_from_number=default_from_number, idempotency_key=idempotency_key,
            )  # fmt: skip
    else:  # committed with the creates that arrived meanwhile, before we answer
        call = await state.new_orders.create(principal.organization_id, body, default_from_number=default_from_number)
    # Already JSON types: encoded as is, without walking the document to convert it first.
    return JSONResponse({"call": call})


@router.get("/call", summary="List call attempts, most recent first")
async def list_calls(
    conn: Db,
    principal: CurrentPrincipal,
    links: Links,
    page: Annotated[int, Query(ge=0, le=1_000_000, description="0-based")] = 0,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
    statuses: Annotated[str | None, Query(description="Order statuses, comma-joined")] = None,
) -> dict:
    wanted = [s for s in (statuses or "").split(",") if s]
    unknown = [s for s in wanted if s not in ORDER_STATUSES]
    if unknown:
        raise InvalidRequest(
            f"Unknown status '{unknown[0]}'; use any of {', '.join(ORDER_STATUSES)}", param="statuses"
        )
    return {"calls": await service.list_attempts(conn, principal.organization_id, page, page_size, wanted, links)}


@router.post("/call/search", summary="Search call orders")
async def search_calls(body: CallSearchIn, conn: Db, principal: CurrentPrincipal, links: Links) -> dict:
    return await service.search(conn, principal.organization_id, body, links)


@router.get("/call/{call_id}", summary="Retrieve a call order")
async def retrieve_call(call_id: str, conn: Db, principal: CurrentPrincipal, links: Links) -> dict:
    order = await service.fetch_order(conn, principal.organization_id, call_id)
    return {"call": await service.render(conn, order, links)}


@router.post("/call/{call_id}/cancel", summary="Cancel a call order")
async def cancel_call(call_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.cancel(conn, principal.organization_id, call_id)
    return {"success": True}


@router.post("/call/{call_id}/pause", summary="Pause a call order")
async def pause_call(call_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.pause(conn, principal.organization_id, call_id)
    return {"success": True}


@router.post("/call/{call_id}/resume", summary="Resume a paused call order")
async def resume_call(call_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.resume(conn, principal.organization_id, call_id)
    return {"success": True}
