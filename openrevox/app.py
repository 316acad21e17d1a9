"""Builds the ASGI apps: `serve`'s (API, error mapping, body limit, and the services it starts) and
`worker --port`'s (its media sockets beside its services)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from openrevox import __version__, api, web
from openrevox.api import campaigns as campaigns_api
from openrevox.api import errors
from openrevox.api import recordings as recordings_api
from openrevox.api import telephony as telephony_api
from openrevox.api.body_limit import BodyLimitMiddleware
from openrevox.config import Settings, get_settings
from openrevox.db.engine import create_engine, read_only, run_migrations
from openrevox.draining import drain_on_signals
from openrevox.orders.group_commit import GroupCommit
from openrevox.orgs import service as orgs_service
from openrevox.orgs import store as orgs_store
from openrevox.recording_links import installation_key
from openrevox.services import BackgroundServices, database_and_services
from openrevox.storage import recordings_storage

log = logging.getLogger("openrevox")


async def ensure_api_key(app: FastAPI, settings: Settings) -> None:
    """OPENREVOX_API_KEY exists for the default organization; with none set and no key at all,
    one is created and printed once."""
    async with app.state.engine.begin() as conn:
        if settings.api_key:
            await orgs_service.ensure_key(conn, settings.default_organization, settings.api_key)
        elif await orgs_store.count_keys(conn) == 0:
            key = await orgs_service.create_key(conn, settings.default_organization)
            print(f"openrevox: created API key for organization '{settings.default_organization}': {key}")
            print("openrevox: it is shown only this once; use it as REVOX_API_KEY.", flush=True)


async def bootstrap(settings: Settings) -> None:
    """Migrate and make sure an API key exists, once, before several workers start: each worker
    does the same at its start, finding nothing left to do (with no key configured, workers
    starting together would each create and print one)."""
    url = settings.resolved_database_url
    await asyncio.to_thread(run_migrations, url)
    app = FastAPI()
    app.state.engine = create_engine(url, 1)
    try:
        await ensure_api_key(app, settings)
    finally:
        await app.state.engine.dispose()


@asynccontextmanager
async def _database_and_services(app: FastAPI, settings: Settings) -> AsyncIterator[BackgroundServices]:
    """`database_and_services` on `app.state`."""
    async with database_and_services(settings) as (app.state.engine, app.state.services):
        yield app.state.services


def _freeze_startup_heap() -> None:
    """Everything made so far (modules, routes, schemas, SQLAlchemy's tables, models) lives as long
    as the process: out of the collector's sight, a full collection scans only what requests and
    calls made since, instead of stopping all of them for about 100 ms each time it runs."""
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, run_services: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _database_and_services(app, settings) as services:
            app.state.read_engine = read_only(app.state.engine)
            app.state.new_orders = GroupCommit(app.state.engine)
            await ensure_api_key(app, settings)
            app.state.recording_key = await asyncio.to_thread(installation_key, settings)
            app.state.recordings = recordings_storage(settings)
            if run_services:
                services.start()
            _freeze_startup_heap()
            with drain_on_signals(services) if run_services else nullcontext():
                yield

    app = FastAPI(title="openrevox", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    errors.install(app)
    campaign_limit = max(settings.max_body_bytes, campaigns_api.MAX_BODY_BYTES)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, path_limits={"/campaigns": campaign_limit}
    )
    _add_health(app)
    app.include_router(api.router)
    web.install(app, settings)
    app.include_router(recordings_api.router)  # its own auth: a signed link or the owner's key
    return app


def create_worker_app(settings: Settings | None = None) -> FastAPI:
    """What `openrevox worker --port` serves beside its dispatcher: `/health` and the carrier's media
    websockets, so that the calls it dials (and inbound calls placed on it) run in it. Nothing of
    the API: webhooks and API requests go to `openrevox serve`."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _database_and_services(app, settings) as services:
            services.start()
            name, media_url = services.dispatcher.worker, services.carrier.media_url
            print(f"openrevox worker {name} takes calls at {media_url}", flush=True)
            _freeze_startup_heap()
            with drain_on_signals(services):
                yield

    app = FastAPI(title="openrevox worker", version=__version__, lifespan=lifespan, openapi_url=None)
    app.state.settings = settings
    errors.install(app)
    _add_health(app)
    app.include_router(telephony_api.media_router)
    return app


def _add_health(app: FastAPI) -> None:
    # First of all routes: a request is matched against the routes in order, and load balancers
    # ask for this one the most.
    summary = "200 when the server is ready, 503 while it drains to stop"

    @app.get("/health", tags=["health"], summary=summary, response_model=None)
    async def health() -> dict | JSONResponse:
        if app.state.services.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        return {"status": "ok"}
