"""The background services that `serve` and `worker` run: the dispatcher and its carrier, and the
webhook deliverer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from openrevox.agent.host import AgentHost
from openrevox.agent.phone_call import prepare_process
from openrevox.config import Settings
from openrevox.db.engine import create_engine, run_migrations
from openrevox.postcall import service as webhooks
from openrevox.postcall.deliverer import WebhookDeliverer
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.storage import recordings_storage
from openrevox.telephony.carriers import real_carrier
from openrevox.telephony.events import DatabaseCallEvents
from openrevox.telephony.live import LiveCarrier
from openrevox.telephony.personas import load_personas
from openrevox.telephony.sandbox import SandboxCarrier


DRAIN_POLL_SECONDS = 0.2


class BackgroundServices:
    """Starts and stops the dispatcher (and, with it, the calls this process carries) and the
    webhook deliverer."""

    def __init__(self, engine: AsyncEngine, settings: Settings, takes_media: bool = True) -> None:
        """`takes_media`: this process answers the carrier's media sockets (`serve` and `worker
        --port` do, a `worker` without a port does not), so inbound calls may be placed on it."""
        worker = f"worker-{uuid.uuid4().hex[:12]}"
        webhooks.sign_recordings_with(settings)
        self.agent = AgentHost(engine, settings, recordings_storage(settings))
        self.carrier = real_carrier(engine, settings, worker) or SandboxCarrier(
            engine,
            DatabaseCallEvents(engine),
            self.agent,
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
            max_live_calls=settings.max_live_calls,
            media_url=self.carrier.media_url if takes_media and isinstance(self.carrier, LiveCarrier) else None,
            worker=worker,
        )
        self.deliverer = WebhookDeliverer(
            engine,
            allow_private=settings.allow_private_webhooks,
            retry_base=settings.webhook_retry_base_seconds,
            retry_for=settings.webhook_retry_for_seconds,
            timeout=settings.webhook_timeout_seconds,
            interval=settings.webhook_interval,
            worker=worker,
        )
        self.drain_seconds = settings.drain_seconds
        self.draining = False
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.deliverer.run(), name="webhook-deliverer"),
        ]
        if not isinstance(self.carrier, SandboxCarrier) and self.dispatcher.max_live_calls != 0:
            # Phone lines hear through VAD and Smart Turn.
            self._tasks.append(asyncio.create_task(prepare_process(), name="prepare-for-phone-calls"))

    async def drain(self) -> None:
        """Take no new call, then wait until the calls this process runs have ended,
        `drain_seconds` at most (openrevox/draining.py)."""
        self.draining = True
        await self.dispatcher.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_seconds
        while await self.dispatcher.holds_calls() and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_SECONDS)

    async def stop(self) -> None:
        self.dispatcher.stop()
        self.deliverer.stop()
        await self.carrier.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def database_and_services(
    settings: Settings, takes_media: bool = True
) -> AsyncIterator[tuple[AsyncEngine, BackgroundServices]]:
    """The database migrated, its engine, and the background services (not started), stopped and
    the engine closed at the end."""
    url = settings.resolved_database_url
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(url, settings.db_pool_size)
    services = BackgroundServices(engine, settings, takes_media)
    try:
        yield engine, services
    finally:
        await services.stop()
        await engine.dispose()
