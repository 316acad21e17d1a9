"""CPU per request of the API itself: the app's ASGI callable driven in this process, no HTTP.

`bench/api.py` measures over HTTP, where uvicorn, the client and the machine's other work blur a
change of a tenth of a millisecond; this calls the app directly (the requests bench/api.py sends,
the same settings) and prints the process's CPU time per request (its threads included: SQLite's
connections run on theirs) for GET /health, POST /call and GET /call/{id}, one batch of
`--concurrency` requests at a time.

    .venv/bin/python bench/api_in_process.py [--backend sqlite|postgres|both] [--requests 3200]
                                             [--concurrency 32] [--profile health|create|retrieve]

`--profile` runs that endpoint under cProfile and prints its top functions (its own overhead
doubles the times: read the shares). Results are in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import create_bodies, postgres_database  # noqa: E402 (after the path)

KEY = "sk_bench_in_process_0123456789"


async def request(app, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:  # noqa: ANN001
    """One request through the ASGI callable: (status, body)."""
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [
        (b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {KEY}".encode()),
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
    ]  # fmt: skip
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def measure(database_url: str, args: argparse.Namespace) -> dict[str, float]:
    from openrevox.app import create_app
    from openrevox.config import Settings
    from openrevox.orgs import service as orgs

    orgs.key_cache.clear()  # the key names the organization of the previous backend's database

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            database_url=database_url or f"sqlite:///{data_dir}/bench.db", data_dir=data_dir, api_key=KEY,
            db_pool_size=args.concurrency,
        )  # fmt: skip
        app = create_app(settings, run_services=False)
        async with app.router.lifespan_context(app):
            bodies = iter(create_bodies(args.concurrency + args.requests, due_now=False))
            ids = []
            for _ in range(args.concurrency):  # orders to retrieve (and the create path warmed up)
                status, answer = await request(app, "POST", "/call", next(bodies))
                assert status == 200, answer
                ids.append(json.loads(answer)["call"]["id"])
            asks = {
                "health": lambda i: request(app, "GET", "/health"),
                "create": lambda i: request(app, "POST", "/call", next(bodies)),
                "retrieve": lambda i: request(app, "GET", f"/call/{ids[i % len(ids)]}"),
            }
            cpu_ms = {}
            for name, ask in asks.items():
                profiler = cProfile.Profile() if args.profile == name else None
                start = time.process_time()
                with profiler or contextlib.nullcontext():
                    for first in range(0, args.requests, args.concurrency):
                        batch = range(first, min(args.requests, first + args.concurrency))
                        answers = await asyncio.gather(*(ask(i) for i in batch))
                        failed = [a for a in answers if a[0] >= 300]
                        assert not failed, failed[0]
                cpu_ms[name] = (time.process_time() - start) * 1000 / args.requests
                if profiler:
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            return cpu_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--requests", type=int, default=3200, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight together")
    parser.add_argument("--profile", choices=["health", "create", "retrieve"])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENREVOX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin URL used to create and drop the benchmark database",
    )
    args = parser.parse_args()
    import uvloop

    for backend in ["sqlite", "postgres"] if args.backend == "both" else [args.backend]:
        with contextlib.ExitStack() as stack:
            url = ""
            if backend == "postgres":
                admin = stack.enter_context(postgres_database(args.postgres_url))
                url = admin.replace("postgresql://", "postgresql+psycopg://", 1)
            cpu_ms = uvloop.run(measure(url, args))
        print(
            f"{backend:9} {args.requests} requests, {args.concurrency} at a time, CPU per request: "
            + ", ".join(f"{name} {ms:.3f} ms" for name, ms in cpu_ms.items()),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
