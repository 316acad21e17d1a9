"""Request dependencies: the database connection and the calling organization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.errors import Unauthenticated
from openrevox.orgs import service as orgs
from openrevox.orgs.service import Principal, authenticate


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def _transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed when the handler returns, rolled back if it raises.

    GET and HEAD only read (no route answering them writes): they get a connection of the
    read-only engine, without BEGIN and COMMIT (see `read_only`)."""
    state = request.app.state
    if request.method in READ_ONLY_METHODS:
        async with state.read_engine.connect() as conn:
            yield conn
        return
    async with state.engine.begin() as conn:
        yield conn


# scope="function": the transaction commits before the response leaves, so a client that got
# 200 always finds its write on the very next request.
Db = Annotated[AsyncConnection, Depends(_transaction, scope="function")]


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


async def _authenticated(request: Request, conn: AsyncConnection) -> Principal:
    key = bearer_key(request)
    if key is None:
        raise Unauthenticated("Missing API key: send 'Authorization: Bearer <key>'")
    principal = await authenticate(conn, key)
    if principal is None:
        raise Unauthenticated("Unknown API key")
    return principal


async def _principal(request: Request, conn: Db) -> Principal:
    return await _authenticated(request, conn)


async def principal_alone(request: Request) -> Principal:
    # A key in the key cache takes no connection from the pool; another is looked up on a
    # connection of the read-only engine (no BEGIN).
    key = bearer_key(request)
    principal = orgs.key_cache.get(orgs.hash_key(key)) if key else None
    if principal is not None:
        return principal
    async with request.app.state.read_engine.connect() as conn:
        return await _authenticated(request, conn)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
# For a route that opens its own transactions (or none), not the request's.
PrincipalAlone = Annotated[Principal, Depends(principal_alone)]
