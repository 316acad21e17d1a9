"""What a session writes as the call happens: transcript entries (one committed row each, so the
dashboard and GET /call show the conversation live) and who answered."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.orders import attempts, store


class AttemptRecord:
    def __init__(self, engine: AsyncEngine, attempt_id: str, *, time_scale: float = 1.0) -> None:
        self.engine = engine
        self.attempt_id = attempt_id
        self.time_scale = time_scale  # the sandbox's clock runs faster; offsets are in call time
        self.transcript: list[dict] = []
        self.spoken_at: list[float] = []  # seconds into the call, per transcript entry
        self._started = asyncio.get_running_loop().time()
        self._writing = asyncio.Lock()  # tool results and turns may land at once; seq stays in order

    async def add(
        self,
        role: str,
        content: str,
        *,
        tool_name: str | None = None,
        tool_arguments: dict | None = None,
        tool_is_error: bool | None = None,
    ) -> None:
        entry = {
            "role": role,
            "content": content,
            "tool_name": tool_name,
            "tool_arguments": tool_arguments,
            "tool_is_error": tool_is_error,
        }
        async with self._writing:
            self.transcript.append(entry)
            self.spoken_at.append((asyncio.get_running_loop().time() - self._started) * self.time_scale)
            async with self.engine.begin() as conn:
                await store.append_transcript(conn, self.attempt_id, [entry])

    async def classified(self, result: str) -> None:
        async with self.engine.begin() as conn:
            await attempts.classified(conn, self.attempt_id, result)
