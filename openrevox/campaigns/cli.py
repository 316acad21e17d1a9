"""`openrevox campaign create|watch`: a campaign from a CSV file, and its rows live, over HTTP.

They talk to a running server like any client: base URL from --base-url (or OPENREVOX_BASE_URL,
default http://127.0.0.1:8000), key from --api-key (or OPENREVOX_API_KEY).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from openrevox.schemas.common import normalize_e164

UPLOAD_CHUNK = 256 * 1024
BAR_WIDTH = 30


def _bar(done: float, total: float) -> str:
    filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


def _status(text: str) -> None:
    sys.stderr.write(f"\r{text}\033[K")
    sys.stderr.flush()


def read_contacts(path: Path) -> tuple[list[dict], list[str]]:
    """Rows of the CSV as contacts: the first column is the phone number, each other column a
    prompt variable named by the header. Returns the contacts and one message per bad row."""
    size = path.stat().st_size or 1
    contacts, problems = [], []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            return [], [f"{path} is empty: its first line must name the columns (phone number, then variables)"]
        names = [h.strip() for h in header[1:]]
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            number = row[0].strip() if row else ""
            try:
                number = normalize_e164(number)
            except ValueError as bad:
                problems.append(f"line {line}: {bad}")
            variables = {name: (row[i + 1] if i + 1 < len(row) else "") for i, name in enumerate(names) if name}
            contacts.append({"to_phone_number": number, "prompt_variables": variables})
            if line % 5000 == 0:
                _status(f"reading {path.name} {_bar(f.tell(), size)} {len(contacts):,} rows")
    _status(f"reading {path.name} {_bar(1, 1)} {len(contacts):,} rows\n")
    return contacts, problems


def _upload(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), UPLOAD_CHUNK):
        yield body[start : start + UPLOAD_CHUNK]
        _status(f"uploading {_bar(start + UPLOAD_CHUNK, len(body))} {min(start + UPLOAD_CHUNK, len(body)) / 1e6:.1f} MB")
    _status(f"uploading {_bar(1, 1)} {len(body) / 1e6:.1f} MB, waiting for the server…")


def _client(args: argparse.Namespace) -> httpx.Client:
    key = args.api_key or os.environ.get("OPENREVOX_API_KEY")
    if not key:
        sys.exit("openrevox: no API key: pass --api-key or set OPENREVOX_API_KEY")
    return httpx.Client(base_url=args.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=600)


def _fail(response: httpx.Response) -> None:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        sys.exit(f"openrevox: the server answered {response.status_code}: {response.text[:500]}")
    lines = [f"openrevox: {response.status_code} {error.get('message')}"]
    lines += [f"  {e['param']}: {e['message']}" for e in error.get("errors", [])[:20]]
    sys.exit("\n".join(lines))


def create(args: argparse.Namespace) -> None:
    contacts, problems = read_contacts(Path(args.csv))
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        sys.exit(f"openrevox: {len(problems)} bad rows in {args.csv}, nothing sent:\n{shown}{more}")
    if not contacts:
        sys.exit(f"openrevox: {args.csv} has no contacts")
    body = {"assistant_id": args.assistant, "name": args.name, "contacts": contacts}
    if args.max_concurrent_calls:
        body["max_concurrent_calls"] = args.max_concurrent_calls
    if args.from_number:
        body["from_phone_number"] = args.from_number
    if args.scheduled_at:
        body["scheduled_at"] = args.scheduled_at
    encoded = json.dumps(body).encode()
    with _client(args) as http:
        response = http.post(
            "/campaigns",
            content=_upload(encoded),
            headers={"content-type": "application/json", "content-length": str(len(encoded))},
        )
    _status("\n")
    if response.status_code != 200:
        _fail(response)
    campaign = response.json()["campaign"]
    print(f"campaign {campaign['id']} '{campaign['name']}': {campaign['row_stats']['total']:,} contacts, {campaign['status']}")


STATS_ORDER = ("pending", "calling", "retry", "completed", "failed", "total")


def watch(args: argparse.Namespace) -> None:
    """Every --interval seconds: the row counts by status and the rows being called, until the
    campaign completes (or Ctrl-C)."""
    tty = sys.stdout.isatty()
    last = None
    with _client(args) as http:
        try:
            while True:
                response = http.get(f"/campaigns/{args.campaign_id}")
                if response.status_code != 200:
                    _fail(response)
                campaign = response.json()["campaign"]
                stats = campaign["row_stats"]
                calling = http.get(
                    f"/campaigns/{args.campaign_id}/rows", params={"page": 0, "page_size": 10, "statuses": "calling"}
                ).json()["rows"]
                total = stats["total"] or 1
                done = stats["completed"] + stats["failed"]
                lines = [
                    f"{campaign['name']} ({campaign['id']}): {campaign['status']}"
                    + (" (cancelled)" if campaign["is_cancelled"] else ""),
                    f"{_bar(done, total)} {done:,}/{stats['total']:,} done",
                    "  ".join(f"{k} {stats[k]:,}" for k in STATS_ORDER),
                    *(f"  calling row {r['row_index']}: {r['phone_number']} (attempt {r['call']['calls_count']})"
                      for r in calling),
                ]  # fmt: skip
                if tty:
                    sys.stdout.write("\033[H\033[J" + "\n".join(lines) + "\n")
                elif lines[:3] != last:
                    print(" | ".join(lines[:3]), flush=True)
                last = lines[:3]
                sys.stdout.flush()
                if campaign["status"] == "completed":
                    return
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return


def add_commands(commands: argparse._SubParsersAction) -> None:
    campaign = commands.add_parser("campaign", help="create a campaign from a CSV file, watch one")
    sub = campaign.add_subparsers(dest="campaign_command", required=True)
    for parser in (create_parser := sub.add_parser("create", help="create and launch a campaign from a CSV file"),
                   watch_parser := sub.add_parser("watch", help="show a campaign's rows by status, live")):  # fmt: skip
        parser.add_argument("--base-url", default=os.environ.get("OPENREVOX_BASE_URL", "http://127.0.0.1:8000"))
        parser.add_argument("--api-key", default=None, help="default: OPENREVOX_API_KEY")
    create_parser.add_argument("--assistant", required=True, help="assistant id")
    create_parser.add_argument("--name", required=True, help="campaign name")
    create_parser.add_argument("--max-concurrent-calls", type=int, default=None)
    create_parser.add_argument("--from-number", default=None, help="caller id, E.164")
    create_parser.add_argument("--scheduled-at", default=None, help="ISO 8601; default: now")
    create_parser.add_argument("csv", help="CSV file: phone number first, then one column per prompt variable")
    create_parser.set_defaults(func=create)
    watch_parser.add_argument("campaign_id")
    watch_parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    watch_parser.set_defaults(func=watch)
