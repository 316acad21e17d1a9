"""One typed error tree; the API maps each class to a status and a JSON body.

    OpenRevoxError
     ├── InvalidRequest (422)   a request that parses but is invalid; `param` names the field
     ├── BadRequest (400)       malformed body, or an action the current state forbids
     ├── Unauthenticated (401)  missing or unknown API key
     ├── Forbidden (403)        a signed link whose signature is wrong or expired
     ├── NotFound (404)         unknown id, or an id of another organization
     ├── PayloadTooLarge (413)  body over the configured limit
     └── DatabaseUnavailable (503) the database went away mid-request (it restarted): retry
"""

from __future__ import annotations


class OpenRevoxError(Exception):
    status_code = 500
    type = "internal_error"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def to_body(self) -> dict:
        return {"error": {"type": self.type, "message": self.message, "param": self.param}}


class InvalidRequest(OpenRevoxError):
    """Raised when a request parses but a field is invalid."""

    status_code = 422
    type = "invalid_request"


class BadRequest(OpenRevoxError):
    """Raised for a malformed body or an action the current state forbids."""

    status_code = 400
    type = "bad_request"


class Unauthenticated(OpenRevoxError):
    """Raised when the API key is missing or unknown."""

    status_code = 401
    type = "unauthenticated"


class Forbidden(OpenRevoxError):
    """Raised for a signed link whose signature does not match, or that has expired."""

    status_code = 403
    type = "forbidden"


class NotFound(OpenRevoxError):
    """Raised for an unknown id or one that belongs to another organization."""

    status_code = 404
    type = "not_found"


class PayloadTooLarge(OpenRevoxError):
    """Raised when a request body exceeds the configured limit."""

    status_code = 413
    type = "payload_too_large"


class DatabaseUnavailable(OpenRevoxError):
    """Answered when the database connection was lost under a request (a PostgreSQL restart):
    nothing was done, the pool reconnects, and the same request can be sent again."""

    status_code = 503
    type = "service_unavailable"
