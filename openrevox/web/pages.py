"""Rendering: the Jinja2 environment and its filters; every page gets the session's CSRF token."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from openrevox.errors import BadRequest
from openrevox.web.session import csrf_token, flash, take_flash

PREFIX = "/dashboard"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _when(value: str | None) -> str:
    """An RFC 3339 wire time as a short UTC time a person reads."""
    if not value:
        return ""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S UTC")


def _as_json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


templates.env.filters["when"] = _when
templates.env.filters["as_json"] = _as_json
templates.env.globals["prefix"] = PREFIX
templates.env.globals["take_flash"] = take_flash


def render(request: Request, name: str, context: dict, status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request, name, {**context, "csrf_token": csrf_token(request)}, status_code=status_code
    )


# A state change a page offers as a button: its service call (given the connection, organization
# and id) and what to say once done.
Action = tuple[Callable[..., Awaitable[object]], str]


async def run_action(request: Request, actions: dict[str, Action], action: str, back: str, *args: object) -> Response:
    """Run `actions[action]` through the services the API uses, say how it went on the page at
    `back` (a refusal in the service's own words), and go there."""
    if action not in actions:
        return render(request, "not_found.html", {"what": f"No action '{action}'"}, status_code=404)
    act, done = actions[action]
    try:
        await act(*args)
        flash(request, done)
    except BadRequest as refused:
        flash(request, refused.message)
    return RedirectResponse(f"{PREFIX}{back}", status_code=303)
