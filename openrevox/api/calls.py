"""The Call resource: /call (SDK 0.1.1) and its actions and search (SDK 0.3+)."""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import StringConstraints, TypeAdapter, ValidationError

from openrevox.api.deps import CurrentPrincipal, Db, PrincipalAlone, principal_alone
from openrevox.api.recordings import Links, recording_links
from openrevox.errors import InvalidRequest
from openrevox.orders import service
from openrevox.postcall.safety import check_webhook_url
from openrevox.schemas.calls import ORDER_STATUSES, CallCreateIn, CallSearchIn

router = APIRouter(tags=["call"])


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


_IDEMPOTENCY_KEY = TypeAdapter(Annotated[str, StringConstraints(max_length=255)])


def _located(invalid: ValidationError, loc: tuple) -> list[dict]:
    return [{**e, "loc": loc + tuple(e["loc"])} for e in invalid.errors(include_url=False)]


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads a JSON model's: decoded when its media type is JSON, else the
    bytes (which no model accepts), None when empty."""
    raw = await request.body()
    if not raw:
        return None
    media = email.message.Message()
    media["content-type"] = request.headers.get("content-type", "")
    subtype = media.get_content_subtype()
    if media.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as bad:
        error = {"type": "json_invalid", "loc": ("body", bad.pos), "msg": "JSON decode error", "input": {},
                 "ctx": {"error": bad.msg}}  # fmt: skip
        raise RequestValidationError([error], body=bad.doc) from bad
    except ValueError as bad:  # not UTF-8
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from bad


class _CreateCallRoute(APIRoute):
    """POST /call, the hottest write, without FastAPI's generic parameter solving (5-10 % of a
    create's CPU): `create_call`'s parameters solved by hand, in FastAPI's order and with its
    errors (the body read and decoded, the caller authenticated, then the header and the body
    validated, their errors reported together; tests/integration/test_hand_solved_routes.py
    holds it to FastAPI's answers). OpenAPI still describes `create_call`'s signature."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            body = await _json_body(request)
            principal = await principal_alone(request)
            key = request.headers.get("idempotency-key")
            errors, model = [], None
            if key is not None:
                try:
                    _IDEMPOTENCY_KEY.validate_python(key)
                except ValidationError as invalid:
                    errors += _located(invalid, ("header", "idempotency-key"))
            if body is None:
                errors.append({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None})
            else:
                try:
                    model = CallCreateIn.model_validate(body, from_attributes=True)
                except ValidationError as invalid:
                    errors += _located(invalid, ("body",))
            if errors:
                raise RequestValidationError(errors, body=body)
            return await create_call(model, request, principal, key)

        return handle


router.add_api_route(
    "/call", create_call, methods=["POST"], summary="Place a call order", response_model=dict,
    route_class_override=_CreateCallRoute,
)  # fmt: skip


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


async def retrieve_call(call_id: str, request: Request, principal: PrincipalAlone, links: Links) -> JSONResponse:
    async with request.app.state.read_engine.connect() as conn:
        order = await service.fetch_order(conn, principal.organization_id, call_id)
        return JSONResponse({"call": await service.render(conn, order, links)})


class _RetrieveCallRoute(APIRoute):
    """GET /call/{id}, what clients poll while a call runs, without FastAPI's generic parameter
    solving (15-25 % of a retrieve's CPU): the caller authenticated (from the key cache, no
    connection), then the order read on a connection held only for that."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            principal = await principal_alone(request)
            links = await recording_links(request)
            return await retrieve_call(request.path_params["call_id"], request, principal, links)

        return handle


router.add_api_route(
    "/call/{call_id}", retrieve_call, methods=["GET"], summary="Retrieve a call order", response_model=dict,
    route_class_override=_RetrieveCallRoute,
)  # fmt: skip


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
