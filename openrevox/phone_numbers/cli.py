"""`openrevox numbers add|import|list`: an operator gives an organization the numbers it bought at
its carrier (they go straight to the database, like `openrevox keys create`); `import` takes every
number of the configured carrier account and points its inbound calls at this server."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from openrevox.config import get_settings
from openrevox.errors import OpenRevoxError
from openrevox.schemas.common import normalize_e164


async def _in_org(org: str, action):  # noqa: ANN001, ANN202 - action(conn, org_id) -> result
    from openrevox.db.engine import create_engine, run_migrations
    from openrevox.orgs.service import ensure_organization

    url = get_settings().resolved_database_url
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await action(conn, await ensure_organization(conn, org))
    finally:
        await engine.dispose()


def _default_provider() -> str:
    carrier = get_settings().carrier
    return "sip" if carrier == "sandbox" else carrier


def _add(args: argparse.Namespace) -> None:
    from openrevox.phone_numbers import service

    try:
        e164 = normalize_e164(args.phone_number)
        number = asyncio.run(
            _in_org(
                args.org or get_settings().default_organization,
                lambda conn, org_id: service.add(
                    conn, org_id, e164, args.provider or _default_provider(),
                    label=args.label, inbound_assistant_id=args.inbound_assistant,
                ),
            )
        )  # fmt: skip
    except (ValueError, OpenRevoxError) as bad:
        sys.exit(f"openrevox: {getattr(bad, 'message', bad)}")
    print(json.dumps(number))


async def _import_numbers(org: str) -> list[tuple[str, str]]:
    from openrevox.db.engine import create_engine, run_migrations
    from openrevox.orgs.service import ensure_organization
    from openrevox.phone_numbers import service
    from openrevox.telephony.carriers import real_carrier

    settings = get_settings()
    await asyncio.to_thread(run_migrations, settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url, pool_size=1)
    carrier = real_carrier(engine, settings, "numbers-import")
    done = []
    try:
        for number in await carrier.account_numbers():
            async with engine.begin() as conn:
                org_id = await ensure_organization(conn, org)
                what = await service.adopt(
                    conn, org_id, number.phone_number, carrier.name, number.label, number.carrier_id
                )
            if what != "taken":
                await carrier.route_to_us(number)
            done.append((number.phone_number, what))
    finally:
        await carrier.close()
        await engine.dispose()
    return done


def _import(args: argparse.Namespace) -> None:
    if get_settings().carrier == "sandbox":
        sys.exit("openrevox: no carrier is configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or TELNYX_API_KEY")
    for e164, what in asyncio.run(_import_numbers(args.org or get_settings().default_organization)):
        print(e164, {"added": "added", "kept": "already there", "taken": "skipped: another organization's"}[what])


def _list(args: argparse.Namespace) -> None:
    from openrevox.phone_numbers import service

    numbers = asyncio.run(_in_org(args.org or get_settings().default_organization, service.list_all))
    for number in numbers:
        assistant = number["inbound_assistant"]
        print(number["phone_number"], number["provider"], number["label"] or "-", assistant["id"] if assistant else "-")


def add_commands(commands: argparse._SubParsersAction) -> None:
    numbers = commands.add_parser("numbers", help="the organizations' phone numbers").add_subparsers(
        dest="numbers_command", required=True
    )
    add = numbers.add_parser("add", help="give an organization a number bought at your carrier")
    add.add_argument("phone_number", help="E.164, e.g. +14155550123")
    add.add_argument("--org", help="organization name (default: OPENREVOX_DEFAULT_ORGANIZATION)")
    add.add_argument("--label")
    add.add_argument("--provider", choices=("twilio", "telnyx", "sip"), help="default: the configured carrier")
    add.add_argument("--inbound-assistant", help="assistant id that answers calls to this number")
    add.set_defaults(func=_add)
    imported = numbers.add_parser(
        "import", help="give an organization every number of the carrier account; their calls come here"
    )
    imported.add_argument("--org", help="organization name (default: OPENREVOX_DEFAULT_ORGANIZATION)")
    imported.set_defaults(func=_import)
    show = numbers.add_parser("list", help="list an organization's numbers")
    show.add_argument("--org", help="organization name (default: OPENREVOX_DEFAULT_ORGANIZATION)")
    show.set_defaults(func=_list)
