"""The local-disk store: objects whole or not at all, ranged reads, keys that stay under the root."""

from __future__ import annotations

import asyncio

import pytest

from openrevox.storage import CHUNK_BYTES, LocalDiskStorage, StoredObject


async def read(storage: LocalDiskStorage, key: str, start: int = 0, stop: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.open(key, start, stop)])


def test_put_then_head_get_ranges_delete(tmp_path):
    storage = LocalDiskStorage(tmp_path / "recordings")
    data = bytes(range(256)) * 1000  # several read chunks

    async def story():
        assert await storage.head("a.wav") is None
        await storage.put("a.wav", data, "audio/wav")
        assert await storage.head("a.wav") == StoredObject("a.wav", len(data), "audio/wav")
        assert await storage.get("a.wav") == data
        assert await read(storage, "a.wav") == data
        assert await read(storage, "a.wav", 10, 20) == data[10:20]
        assert await read(storage, "a.wav", CHUNK_BYTES - 1, CHUNK_BYTES + 5) == data[CHUNK_BYTES - 1 : CHUNK_BYTES + 5]
        assert await read(storage, "a.wav", len(data) - 3) == data[-3:]
        await storage.put("a.wav", b"RIFF", "audio/wav")  # replaced whole
        assert await storage.get("a.wav") == b"RIFF"
        await storage.delete("a.wav")
        await storage.delete("a.wav")  # already gone: nothing happens
        assert await storage.head("a.wav") is None
        with pytest.raises(FileNotFoundError):
            await storage.get("a.wav")

    asyncio.run(story())
    assert list((tmp_path / "recordings").iterdir()) == []  # no partial file left behind


def test_keys_in_folders_are_created_on_put(tmp_path):
    storage = LocalDiskStorage(tmp_path)
    asyncio.run(storage.put("2026/11/x.wav", b"abc", "audio/wav"))
    assert (tmp_path / "2026" / "11" / "x.wav").read_bytes() == b"abc"


@pytest.mark.parametrize(
    "key", ["../escape.wav", "a/../../b.wav", "/etc/passwd", ".hidden.wav", "a//b.wav", "", "sp ace.wav", "a\x00.wav"]
)
def test_keys_cannot_leave_the_root(tmp_path, key):
    storage = LocalDiskStorage(tmp_path / "root")
    with pytest.raises(ValueError, match="Invalid storage key"):
        asyncio.run(storage.put(key, b"x", "audio/wav"))
    with pytest.raises(ValueError, match="Invalid storage key"):
        asyncio.run(storage.head(key))


def test_local_disk_refuses_a_type_its_key_does_not_name(tmp_path):
    storage = LocalDiskStorage(tmp_path)
    with pytest.raises(ValueError, match="cannot store audio/mpeg"):
        asyncio.run(storage.put("a.wav", b"x", "audio/mpeg"))
    with pytest.raises(ValueError, match="cannot store audio/wav"):
        asyncio.run(storage.put("a.bin", b"x", "audio/wav"))
    assert list(tmp_path.iterdir()) == []
