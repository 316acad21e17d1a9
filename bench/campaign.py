"""Time to create a campaign of 10,000 and 100,000 contacts in one POST /campaigns.

Starts its own `openrevox serve` (a fresh SQLite file, or a fresh PostgreSQL database) with the
test suite's helpers, creates one assistant whose prompt uses a variable, then for each size
POSTs one campaign (US numbers over many area codes, two variables each, scheduled next year so
the dispatcher stays idle) and times, from the client: the create request (upload, validation of
every row, bulk insert, commit), then a retrieve (row_stats over every order) and the last page of
rows. Prints one line per size.

    .venv/bin/python bench/campaign.py [--backend sqlite|postgres|both] [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import database_url_for, drop_postgres_database, start_server, stop_server  # noqa: E402

AREAS = [201, 202, 203, 205, 206, 207, 212, 213, 214, 215, 303, 305, 312, 415, 503, 512, 602, 617, 702, 808]


def contacts(n: int) -> list[dict]:
    return [
        {"to_phone_number": f"+1{AREAS[i % len(AREAS)]}{2000000 + i % 8000000:07d}",
         "prompt_variables": {"first_name": f"Contact {i}", "order": f"A-{i:06d}"}}
        for i in range(n)
    ]  # fmt: skip


def run(backend: str, sizes: list[int]) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-campaign-{backend}-"))
    url = database_url_for(backend, data_dir)
    server = start_server(url, data_dir, extra_env={"OPENREVOX_DISPATCH_INTERVAL": "5"})
    try:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=600) as http:
            assistant = http.post("/assistants", json={"name": "Bench", "prompt": "Hi {{first_name}}, about {{order}}."})
            assistant_id = assistant.json()["assistant"]["id"]
            for n in sizes:
                body = json.dumps({"assistant_id": assistant_id, "name": f"bench {n}", "contacts": contacts(n),
                                   "scheduled_at": "2099-01-01T09:00:00Z"}).encode()  # fmt: skip
                started = time.perf_counter()
                created = http.post("/campaigns", content=body, headers={"content-type": "application/json"})
                create_s = time.perf_counter() - started
                assert created.status_code == 200, created.text[:500]
                campaign_id = created.json()["campaign"]["id"]
                started = time.perf_counter()
                total = http.get(f"/campaigns/{campaign_id}").json()["campaign"]["row_stats"]["total"]
                retrieve_s = time.perf_counter() - started
                started = time.perf_counter()
                http.get(f"/campaigns/{campaign_id}/rows", params={"page": n // 50 - 1, "page_size": 50}).raise_for_status()
                rows_s = time.perf_counter() - started
                assert total == n
                print(
                    f"{backend:8} {n:>7} contacts  body {len(body) / 1e6:5.1f} MB  create {create_s:6.2f} s "
                    f"({n / create_s:7.0f} rows/s)  retrieve {retrieve_s * 1000:6.0f} ms  last rows page {rows_s * 1000:6.0f} ms",
                    flush=True,
                )
    finally:
        stop_server(server)
        if backend == "postgres":
            drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        run(backend, sizes)


if __name__ == "__main__":
    main()
