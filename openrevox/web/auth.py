"""Dashboard sign-in: an API key, checked like the API checks it, kept in the signed cookie session.

The session holds the key's hash, never the key: every page looks the hash up again, so a key that
stops existing ends its sessions at once. POST forms must carry the session's CSRF token.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData
from starlette.responses import Response

from openrevox.api.deps import Db
from openrevox.orgs import store as orgs_store
from openrevox.orgs.service import authenticate, hash_key
from openrevox.web.pages import PREFIX, render


class SignInRequired(Exception):
    """Raised when a page is asked for without a valid session; answered by a redirect to sign-in."""


class CsrfRefused(Exception):
    """Raised when a POST form lacks the session's CSRF token."""


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    # A session without a token yet (signed in, no page shown) accepts no form at all.
    if not (isinstance(sent, str) and isinstance(expected, str) and secrets.compare_digest(sent, expected)):
        raise CsrfRefused
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


async def _organization(request: Request, conn: Db) -> str:
    key_hash = request.session.get("key_hash")
    found = await orgs_store.principal_for_key(conn, key_hash) if isinstance(key_hash, str) else None
    if found is None:
        request.session.pop("key_hash", None)
        raise SignInRequired
    return found[0]


# The signed-in organization's id: every page reads and acts inside it only.
CurrentOrg = Annotated[str, Depends(_organization)]

router = APIRouter()


def _safe_next(target: str | None) -> str:
    # Only a path of the dashboard: never an open redirect to another site.
    return target if target and target.startswith(PREFIX + "/") else PREFIX + "/calls"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return render(request, "sign_in.html", {"next": _safe_next(next), "error": None, "signed_in": False})


@router.post("/sign-in")
async def sign_in(request: Request, conn: Db, form: CheckedForm) -> Response:
    key = str(form.get("api_key", "")).strip()
    target = _safe_next(str(form.get("next", "")))
    if not key:
        error = "Enter an API key"
    elif await authenticate(conn, key) is None:
        error = "Unknown API key"
    else:
        request.session.clear()  # a fresh session (and CSRF token) for the signed-in user
        request.session["key_hash"] = hash_key(key)
        return RedirectResponse(target, status_code=303)
    return render(request, "sign_in.html", {"next": target, "error": error, "signed_in": False}, status_code=401)


@router.post("/sign-out")
async def sign_out(request: Request, form: CheckedForm) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse(PREFIX + "/sign-in", status_code=303)
