"""The background services that `serve` and `worker` run: the dispatcher and its carrier."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.config import Settings
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.telephony.events import DatabaseCallEvents
from openrevox.telephony.personas import load_personas
from openrevox.telephony.sandbox import SandboxCarrier


class BackgroundServices:
    """Starts and stops the dispatcher (and, with it, the calls this process carries)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        worker = f"worker-{uuid.uuid4().hex[:12]}"
        self.carrier = SandboxCarrier(
            engine,
            DatabaseCallEvents(engine),
            load_personas(settings.sandbox_personas),
            settings.sandbox_speed,
            worker,
        )
        self.dispatcher = Dispatcher(
            engine,
            self.carrier,
            org_limit=settings.org_concurrency_limit,
            lease_seconds=settings.lease_seconds,
            interval=settings.dispatch_interval,
            batch=settings.dispatch_batch,
            worker=worker,
        )
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.dispatcher.run(), name="dispatcher")

    async def stop(self) -> None:
        self.dispatcher.stop()
        await self.carrier.close()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)
