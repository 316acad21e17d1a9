"""The `openrevox` command: serve, worker, keys, webhooks, campaign."""

from __future__ import annotations

import argparse
import asyncio
import sys

from openrevox.config import get_settings


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from openrevox.app import bootstrap, create_app

    options = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    if args.workers <= 1:
        uvicorn.run(create_app(get_settings()), **options)
        return
    # Several processes: uvicorn starts each from the import string; this one only supervises.
    asyncio.run(bootstrap(get_settings()))
    uvicorn.run("openrevox.app:create_app", factory=True, workers=args.workers, **options)


async def _run_worker() -> None:
    from openrevox.draining import drain_on_signals
    from openrevox.services import database_and_services
    from openrevox.telephony.live import LiveCarrier

    async with database_and_services(get_settings(), takes_media=False) as (_, services):
        stopping = asyncio.Event()
        services.start()
        print(f"openrevox worker {services.dispatcher.worker} running", flush=True)
        if isinstance(services.carrier, LiveCarrier):
            print(f"openrevox worker: the calls it dials run where the carrier streams them, "
                  f"{services.carrier.media_url} (with --port, in this worker)", flush=True)  # fmt: skip
        with drain_on_signals(services, lambda sig: stopping.set()):
            await stopping.wait()


def _worker(args: argparse.Namespace) -> None:
    if args.port is None:
        asyncio.run(_run_worker())
        return
    import uvicorn

    from openrevox.app import create_worker_app

    settings = get_settings()
    if settings.carrier == "sandbox":
        sys.exit("openrevox worker --port: the sandbox carrier has no media sockets to serve (run it without --port)")
    if not settings.media_url:
        sys.exit(
            "openrevox worker --port: set OPENREVOX_MEDIA_URL to the address where the carrier reaches this "
            "port (wss://... or https://...): without it the carrier streams calls to OPENREVOX_PUBLIC_URL"
        )
    uvicorn.run(create_worker_app(settings), host=args.host, port=args.port, log_level=args.log_level)


async def _create_key(org: str) -> str:
    from openrevox.db.engine import create_engine, run_migrations
    from openrevox.orgs.service import create_key

    url = get_settings().resolved_database_url
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await create_key(conn, org)
    finally:
        await engine.dispose()


def _keys_create(args: argparse.Namespace) -> None:
    print(asyncio.run(_create_key(args.org)))


async def _webhook_secret(org: str) -> str | None:
    from openrevox.db.engine import create_engine, run_migrations
    from openrevox.orgs import store as orgs_store
    from openrevox.postcall.service import ensure_secret

    url = get_settings().resolved_database_url
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            found = await orgs_store.find_organization_by_name(conn, org)
            return await ensure_secret(conn, found["id"]) if found else None
    finally:
        await engine.dispose()


def _webhooks_secret(args: argparse.Namespace) -> None:
    org = args.org or get_settings().default_organization
    secret = asyncio.run(_webhook_secret(org))
    if secret is None:
        sys.exit(f"openrevox: no organization named '{org}' (create it with: openrevox keys create --org {org})")
    print(secret)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openrevox", description="Self-hosted Revox-compatible phone agents.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API server and background services")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port, each with its own dispatcher (for PostgreSQL: "
        "SQLite has one writer, and processes wait for each other's writes)",
    )
    serve.set_defaults(func=_serve)

    worker = commands.add_parser(
        "worker",
        help="run a dispatcher without the API (any number, against one PostgreSQL); with --port, also the "
        "calls' conversations",
    )
    worker.add_argument("--host", default="127.0.0.1")
    worker.add_argument(
        "--port",
        type=int,
        help="serve the carrier's media websockets here (reached at OPENREVOX_MEDIA_URL), so that the calls this "
        "worker dials, and inbound calls placed on it, run in it; without it they run in `serve`",
    )
    worker.add_argument("--log-level", default="info")
    worker.set_defaults(func=_worker)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="print a new API key for an organization (created if needed)")
    create.add_argument("--org", required=True, help="organization name")
    create.set_defaults(func=_keys_create)

    webhooks = commands.add_parser("webhooks", help="webhook signing").add_subparsers(
        dest="webhooks_command", required=True
    )
    secret = webhooks.add_parser(
        "secret", help="print the organization's Standard Webhooks secret (whsec_...), to verify signatures"
    )
    secret.add_argument("--org", help="organization name (default: OPENREVOX_DEFAULT_ORGANIZATION)")
    secret.set_defaults(func=_webhooks_secret)

    from openrevox.campaigns import cli as campaign_cli

    campaign_cli.add_commands(commands)
    from openrevox.phone_numbers import cli as numbers_cli

    numbers_cli.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
