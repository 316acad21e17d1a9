"""Recordings: GET /recordings/{attempt id}.wav, by a signed link or with the owner's API key.

A request with a valid, unexpired `expires` and `signature` (as `recording_url` carries them)
needs no key; a request with the attempt's organization's key needs no signature. A wrong or
expired signature is 403; an attempt that is unknown, another organization's, or without a
recording is 404. Single byte ranges are served (206), so an <audio> player can seek.
"""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.api.deps import Db, bearer_key
from openrevox.errors import Forbidden, NotFound, Unauthenticated
from openrevox.orders import store
from openrevox.orgs.service import authenticate
from openrevox.recording_links import RecordingLinks, check
from openrevox.storage import Storage, StoredObject

router = APIRouter(tags=["recordings"])

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


async def recording_links(request: Request) -> RecordingLinks:
    """Links for this response: on OPENREVOX_PUBLIC_URL when set, else on the request's own base.
    (`async`: FastAPI runs a plain `def` dependency in its thread pool, a hop per request.)"""
    state = request.app.state
    base = state.settings.public_url or str(request.base_url)
    return RecordingLinks(base, state.recording_key, state.settings.recording_link_seconds, time.time())


Links = Annotated[RecordingLinks, Depends(recording_links)]


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, stop) one `bytes=` range asks for; None to send everything: no header, or one
    we may ignore (several ranges, or one that is not valid, RFC 9110 14.2)."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first and last and int(last) < int(first):
        return None
    if first == "":  # the last N bytes
        start, stop = max(0, size - int(last)), size
    else:
        start, stop = int(first), min(size, int(last) + 1) if last else size
    if start >= stop:
        raise _Unsatisfiable(size)
    return start, stop


class _Unsatisfiable(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def _owned_recording(conn: AsyncConnection, attempt_id: str, org_id: str | None) -> str:
    """The attempt's recording ref; `org_id`, when given, must own the attempt."""
    # No stored id has a NUL, which PostgreSQL refuses in text.
    attempt = None if "\x00" in attempt_id else await store.get_attempt(conn, attempt_id)
    if attempt is None or (org_id is not None and attempt["organization_id"] != org_id):
        raise NotFound(f"No call attempt with id '{attempt_id}'", param="attempt_id")
    if attempt["recording_ref"] is None:
        raise NotFound(f"Call attempt '{attempt_id}' has no recording", param="attempt_id")
    return attempt["recording_ref"]


@router.get(
    "/recordings/{attempt_id}.wav",
    summary="A call attempt's recording",
    response_class=Response,
    responses={200: {"content": {"audio/wav": {}}, "description": "The stereo WAV (206 for a byte range)"}},
)
async def get_recording(
    attempt_id: str,
    request: Request,
    conn: Db,
    expires: Annotated[int | None, Query(description="From recording_url")] = None,
    signature: Annotated[str | None, Query(max_length=100, description="From recording_url")] = None,
) -> Response:
    key = bearer_key(request)
    if key is not None:
        principal = await authenticate(conn, key)
        if principal is None:
            raise Unauthenticated("Unknown API key")
        org_id = principal.organization_id
    elif expires is None or signature is None:
        raise Forbidden("A recording needs a signed link (expires and signature) or an API key", param="signature")
    else:
        check(request.app.state.recording_key, attempt_id, expires, signature, time.time())
        org_id = None  # the signature, made for this attempt, is the permission
    ref = await _owned_recording(conn, attempt_id, org_id)
    storage = request.app.state.recordings
    stored = await storage.head(ref)
    if stored is None:
        raise NotFound(f"The recording of call attempt '{attempt_id}' is missing from storage", param="attempt_id")
    return _serve(request, storage, stored)


def _serve(request: Request, storage: Storage, stored: StoredObject) -> Response:
    headers = {"accept-ranges": "bytes", "cache-control": "private"}
    try:
        wanted = _byte_range(request.headers.get("range"), stored.size)
    except _Unsatisfiable:
        error = {"type": "range_not_satisfiable", "message": f"The recording has {stored.size} bytes", "param": "range"}
        return JSONResponse({"error": error}, status_code=416, headers={**headers, "content-range": f"bytes */{stored.size}"})
    start, stop = wanted or (0, stored.size)
    headers["content-length"] = str(stop - start)
    status = 200
    if wanted:
        status = 206
        headers["content-range"] = f"bytes {start}-{stop - 1}/{stored.size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=stored.content_type)
    return StreamingResponse(
        storage.open(stored.key, start, stop), status_code=status, headers=headers, media_type=stored.content_type
    )


# HEAD too (a player may ask for the size first), kept out of the OpenAPI schema: it answers
# errors without a body, which the schema's JSON error envelope cannot describe.
router.add_api_route("/recordings/{attempt_id}.wav", get_recording, methods=["HEAD"], include_in_schema=False)
