"""The Phone numbers resource (SDK 0.3+): the organization's numbers; added by `openrevox numbers add`."""

from __future__ import annotations

from fastapi import APIRouter

from openrevox.api.deps import CurrentPrincipal, Db
from openrevox.phone_numbers import service
from openrevox.schemas.phone_numbers import PhoneNumberUpdateIn

router = APIRouter(tags=["phone-numbers"])


@router.get("/phone-numbers", summary="List the organization's phone numbers")
async def list_phone_numbers(conn: Db, principal: CurrentPrincipal) -> dict:
    return {"phone_numbers": await service.list_all(conn, principal.organization_id)}


@router.patch("/phone-numbers/{number_id}", summary="Set a number's label or inbound assistant")
async def update_phone_number(number_id: str, body: PhoneNumberUpdateIn, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"phone_number": await service.update(conn, principal.organization_id, number_id, body)}


@router.delete("/phone-numbers/{number_id}", summary="Remove a number from the organization")
async def delete_phone_number(number_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.delete(conn, principal.organization_id, number_id)
    return {"success": True}
