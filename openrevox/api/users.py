"""The current user, and whether an API key is valid."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import StrictBool

from openrevox.api.deps import CurrentPrincipal, Db, bearer_key
from openrevox.db.types import utcnow
from openrevox.errors import NotFound
from openrevox.orgs import store
from openrevox.orgs.service import Principal, authenticate
from openrevox.schemas.common import WireModel, iso

router = APIRouter(tags=["users"])


class UserUpdateIn(WireModel):
    has_completed_onboarding: StrictBool


def render_user(user: dict) -> dict:
    return {
        "id": user["id"],
        "email": user["email"],
        "first_name": user["first_name"],
        "last_name": user["last_name"],
        "has_completed_onboarding": user["has_completed_onboarding"],
        "organization_id": user["organization_id"],
        "created_at": iso(user["created_at"]),
        "updated_at": iso(user["updated_at"]),
    }


async def _current_user(conn: Db, principal: Principal) -> dict:
    user = await store.get_user(conn, principal.user_id) if principal.user_id else None
    user = user or await store.first_user_of(conn, principal.organization_id)
    if user is None:
        raise NotFound("This API key's organization has no user")
    return user


@router.get("/users/me", summary="The current user")
async def get_me(conn: Db, principal: CurrentPrincipal) -> dict:
    return {"user": render_user(await _current_user(conn, principal))}


@router.patch("/users/me", summary="Update the current user")
async def update_me(body: UserUpdateIn, conn: Db, principal: CurrentPrincipal) -> dict:
    user = await _current_user(conn, principal)
    await store.update_user(
        conn, user["id"], {"has_completed_onboarding": body.has_completed_onboarding, "updated_at": utcnow()}
    )
    return {"user": render_user(await store.get_user(conn, user["id"]))}


@router.get("/auth-status", summary="Whether the API key is valid (200 either way)")
async def auth_status(request: Request, conn: Db) -> dict:
    key = bearer_key(request)
    return {"authenticated": key is not None and await authenticate(conn, key) is not None}
