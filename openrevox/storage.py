"""Where recordings (and later other files) are kept: a small object-store interface.

`Storage` is shaped like an S3 bucket — put, head, get, a ranged read, delete, by key — so an
S3-compatible store can implement it later; `LocalDiskStorage` keeps each object as a file
under a root directory (OPENREVOX_DATA_DIR/recordings for recordings).

Keys are relative paths of plain names (letters, digits, `.`, `_`, `-`), e.g. `<attempt id>.wav`.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from openrevox.config import Settings

_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")
CHUNK_BYTES = 64 * 1024  # what a ranged read yields at a time
# The local disk keeps no metadata: a file's type is its extension's (our own table, not the
# platform's mimetypes, which differ between systems).
CONTENT_TYPES = {".wav": "audio/wav"}


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, whole or not at all (a reader never sees half an object)."""

    async def head(self, key: str) -> StoredObject | None:
        """The object's size and type; None if there is none under `key`."""

    async def get(self, key: str) -> bytes:
        """The whole object; FileNotFoundError if there is none."""

    def open(self, key: str, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        """The bytes [start, stop) of the object, in chunks; FileNotFoundError if there is none."""

    async def delete(self, key: str) -> None:
        """Remove the object; nothing happens if there is none."""


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValueError(f"Invalid storage key {key!r}: use names of letters, digits, '.', '_', '-' joined by '/'")
    return key


def content_type_of(key: str) -> str | None:
    return CONTENT_TYPES.get(os.path.splitext(key)[1])


class LocalDiskStorage:
    """Objects as files under `root`; the content type is the one the key's extension names
    (see CONTENT_TYPES), and `put` refuses another."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        if content_type != content_type_of(key):
            raise ValueError(f"Key {key!r} cannot store {content_type} on the local disk (see CONTENT_TYPES)")
        await asyncio.to_thread(_write_atomically, path, data)

    async def head(self, key: str) -> StoredObject | None:
        try:
            size = (await asyncio.to_thread(self._path(key).stat)).st_size
        except FileNotFoundError:
            return None
        return StoredObject(key, size, content_type_of(key) or "application/octet-stream")

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def open(self, key: str, start: int = 0, stop: int | None = None) -> AsyncIterator[bytes]:
        file = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            await asyncio.to_thread(file.seek, start)
            left = None if stop is None else stop - start
            while left is None or left > 0:
                chunk = await asyncio.to_thread(file.read, CHUNK_BYTES if left is None else min(left, CHUNK_BYTES))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    # Written beside, flushed to disk, then renamed over: a crash leaves the old object or the
    # new one, never a torn file that a database row already points to.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    with open(partial, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def recordings_storage(settings: Settings) -> Storage:
    """The store recordings go to: a directory under the data dir."""
    return LocalDiskStorage(settings.data_dir / "recordings")
