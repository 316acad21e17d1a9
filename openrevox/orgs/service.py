"""Use cases for organizations and API keys; each runs inside the caller's transaction."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.db.types import new_id, utcnow
from openrevox.orgs import store

KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    organization_id: str
    user_id: str | None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def ensure_organization(conn: AsyncConnection, name: str) -> str:
    """The id of the organization `name`, created with an owner user if it does not exist."""
    org = await store.find_organization_by_name(conn, name)
    if org:
        return org["id"]
    org_id, now = new_id(), utcnow()
    async with conn.begin_nested():
        try:
            await store.insert_organization(conn, org_id, name, now)
        except IntegrityError:  # created by a concurrent process
            org = await store.find_organization_by_name(conn, name)
            return org["id"]
    await store.insert_user(
        conn,
        {
            "id": new_id(),
            "organization_id": org_id,
            "email": f"owner@{name}.openrevox.local",
            "has_completed_onboarding": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    return org_id


async def add_key(conn: AsyncConnection, org_id: str, plaintext: str) -> None:
    owner = await store.first_user_of(conn, org_id)
    await store.insert_api_key(
        conn,
        {
            "id": new_id(),
            "organization_id": org_id,
            "key_hash": hash_key(plaintext),
            "prefix": plaintext[:8],
            "user_id": owner["id"] if owner else None,
            "created_at": utcnow(),
        },
    )


async def create_key(conn: AsyncConnection, org_name: str) -> str:
    """A new key for `org_name` (created if needed); the plaintext is returned once, never stored."""
    org_id = await ensure_organization(conn, org_name)
    plaintext = generate_key()
    await add_key(conn, org_id, plaintext)
    return plaintext


async def ensure_key(conn: AsyncConnection, org_name: str, plaintext: str) -> bool:
    """Make `plaintext` a key of `org_name`; True if it was added now (idempotent)."""
    if await store.key_exists(conn, hash_key(plaintext)):
        return False
    org_id = await ensure_organization(conn, org_name)
    try:
        async with conn.begin_nested():
            await add_key(conn, org_id, plaintext)
    except IntegrityError:  # another process starting at the same moment added it
        return False
    return True


class KeyCache:
    """Key hash -> Principal for keys found in the database, each kept `ttl` seconds, so most
    authenticated requests run no statement for their key.

    Per process and positive only: an unknown key is looked up every time (and never fills the
    cache). Keys are never revoked or reassigned yet; whatever revokes one, moves it to another
    user or deletes its organization must call `forget` (or `clear`) in its own process, and
    other processes keep the old answer for at most `ttl` seconds — say so where it is offered."""

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[key_hash]
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal) -> None:
        self._entries[key_hash] = (principal, self.clock() + self.ttl)

    def forget(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self._entries.clear()


key_cache = KeyCache()


async def authenticate(conn: AsyncConnection, plaintext: str) -> Principal | None:
    """Who `plaintext` acts for, or None; answers from `key_cache` when it can."""
    key_hash = hash_key(plaintext)
    principal = key_cache.get(key_hash)
    if principal is not None:
        return principal
    found = await store.principal_for_key(conn, key_hash)
    if found is None:
        return None
    principal = Principal(*found)
    key_cache.put(key_hash, principal)
    return principal
