"""Rendering: the Jinja2 environment and its filters; every page gets the session's CSRF token."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from openrevox.web.session import csrf_token, take_flash

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
