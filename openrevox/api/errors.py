"""Every error leaves as `{"error": {type, message, param}}` with the status its class names."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openrevox.errors import BadRequest, DatabaseUnavailable, InvalidRequest, OpenRevoxError


def _error_response(error: OpenRevoxError, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error.to_body(), status_code=error.status_code, headers=headers)


def _param(error: dict) -> str | None:
    # ('body', 'assistant', 'voice', 'speed') -> 'assistant.voice.speed'; list indexes kept.
    # Pydantic adds the union member's tag for discriminated unions (e.g. 'openrouter'): kept, it
    # tells which shape was being checked.
    parts = [str(p) for p in error["loc"] if p not in ("body", "query", "path", "header")]
    # A check over a whole object (WireModel's text check) names the field first in its message.
    named = re.match(r"^Value error, (\w+): ", error["msg"])
    if named and error["type"] == "value_error":
        parts.append(named.group(1))
    return ".".join(parts) or None


def _message(error: dict) -> str:
    msg = re.sub(r"^Value error, (\w+: )?", "", error["msg"])
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    if error["type"] == "missing":
        return "is required"
    return msg


def field_messages(errors: list[dict]) -> list[tuple[str | None, str]]:
    """(param, message) of each validation error, worded as the API words them (the dashboard
    shows each beside its input)."""
    return [(_param(e), _message(e)) for e in errors]


# A body that is not a JSON object at all is malformed (400), not invalid (422).
NOT_AN_OBJECT = ("missing", "model_attributes_type", "model_type", "dict_type")


def validation_error(exc: RequestValidationError) -> OpenRevoxError:
    errors = exc.errors()
    first = errors[0]
    if first["type"] == "json_invalid" or (tuple(first["loc"]) == ("body",) and first["type"] in NOT_AN_OBJECT):
        detail = first.get("ctx", {}).get("error", "") if first["type"] == "json_invalid" else ""
        return BadRequest(f"The request body is not a JSON object{': ' + detail if detail else ''}")
    parts = [f"{_param(e) or 'body'}: {_message(e)}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return InvalidRequest("; ".join(parts) + more, param=_param(first))


def install(app: FastAPI) -> None:
    @app.exception_handler(OpenRevoxError)
    async def _domain(_: Request, exc: OpenRevoxError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated:
            raise exc  # a real fault: the server error it is
        # The SDKs retry a 503 by themselves, after Retry-After.
        error = DatabaseUnavailable("The database connection was lost (the database restarted?); send the request again")
        return _error_response(error, headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, OpenRevoxError):  # e.g. a chunked body over the size limit
            return _error_response(exc.__cause__)
        if exc.status_code == 400:  # FastAPI could not decode the body (e.g. not UTF-8)
            return _error_response(BadRequest("The request body is not valid JSON in UTF-8"))
        error = OpenRevoxError(str(exc.detail))
        error.status_code = exc.status_code
        error.type = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return _error_response(error, headers=getattr(exc, "headers", None))
