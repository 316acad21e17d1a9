"""An ASGI app served by uvicorn on a real port, on its own thread and event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine

import uvicorn

from conftest import free_port


class ThreadedServer:
    def __init__(self, app, name: str, port: int | None = None) -> None:  # noqa: ANN001
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", ws="websockets-sansio")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.thread.name} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    def call(self, coro: Coroutine, timeout: float = 30):  # noqa: ANN201
        """Run a coroutine on the server's loop from the test's thread; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
