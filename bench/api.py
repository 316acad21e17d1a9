"""HTTP benchmark of call orders: create (POST /call) and retrieve (GET /call/{id}) beside GET /health.

Starts its own `openrevox serve` on loopback (a fresh SQLite file or a fresh PostgreSQL database),
then drives it from a lightweight asyncio client: `--concurrency` keep-alive HTTP/1.1 connections,
each sending one request at a time for `--seconds` after a short warm-up. Prints requests, req/s,
p50/p99 latency and errors per phase, the create/health ratio against the goals, and how the CPU
was shared between this client and the server (the machine has few cores: both compete).

    .venv/bin/python bench/api.py [--backend sqlite|postgres|both] [--concurrency 32] [--seconds 10]
                                  [--workers N] [--pool-size P] [--warmup 1] [--due-now]
                                  [--postgres-url URL]

Orders are scheduled a week ahead unless `--due-now`, so the server's dispatcher stays idle and the
numbers are the API's alone. `--workers N` > 1 runs `openrevox serve --workers N`. The server's
pool (SQLite's too, each connection with its thread) holds concurrency / workers connections per
process unless `--pool-size` says otherwise (0: the server's default of 10, plus 10 more that are
closed as soon as they are returned, so 32 clients keep reopening connections). Results are in docs/benchmarks.md. The CPU columns come from getrusage (client), /proc/<pid>/stat
(server and its children; PostgreSQL backends serving the database) and /proc/stat (the machine:
"other" is everything else running meanwhile, "idle" what nobody used), so a reader can tell a
saturated server from a noisy machine.

Exits non-zero only when a request failed (non-2xx, or no response); missed goals are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_CREATE_RATIO = 0.40
GOAL_CREATE_P99_MS = 50.0


# --------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio.Protocol: one request in flight per connection,
# no per-request tasks, no header dicts; the cheapest correct client we can write in Python.
# --------------------------------------------------------------------------------------------


class ConnectionClosed(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.keep_alive = True

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            parsed = self._parse()  # a response delimited by the close itself
            if parsed is not None:
                self.waiter.set_result(parsed)
            else:
                reason = str(exc) if exc else "server closed the connection"
                self.waiter.set_exception(ConnectionClosed(reason))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        parsed = self._parse()
        if parsed is not None:
            self.waiter.set_result(parsed)

    # -- parsing
    def _parse(self) -> tuple[int, bytes] | None:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buf[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        i = head.find(b"\r\ncontent-length:")
        if status in (204, 304) or 100 <= status < 200:
            body = b""
            del buf[:start]
        elif i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17 : j if j >= 0 else len(head)])
            if len(buf) < start + length:
                return None
            body = bytes(buf[start : start + length])
            del buf[: start + length]
        elif b"\r\ntransfer-encoding: chunked" in head:
            body_parts, pos = [], start
            while True:
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
                if size == 0:  # then optional trailers, then an empty line
                    trailer_end = buf.find(b"\r\n\r\n", line_end)
                    if trailer_end < 0:
                        return None
                    body = b"".join(body_parts)
                    del buf[: trailer_end + 4]
                    break
                if len(buf) < line_end + 2 + size + 2:
                    return None
                body_parts.append(bytes(buf[line_end + 2 : line_end + 2 + size]))
                pos = line_end + 2 + size + 2
        else:  # no framing: the body lasts until the connection closes (not expected here)
            if not self.closed:
                return None
            body = bytes(buf[start:])
            del buf[:]
        if b"\r\nconnection: close" in head:
            self.keep_alive = False
        return status, body

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.closed or not self.keep_alive:
            raise ConnectionClosed("connection not reusable")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)  # type: ignore[union-attr]
        if self.buf:  # unlikely: bytes arrived before the request (a stray response)
            parsed = self._parse()
            if parsed is not None:
                self.waiter.set_result(parsed)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(HttpConnection, host, port)
    sock = conn.transport.get_extra_info("socket")  # type: ignore[union-attr]
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def build_request(method: str, path: str, host: str, key: str, body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {key}", "Accept: */*"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


# --------------------------------------------------------------------------------------------
# Load phases
# --------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    backend: str
    phase: str
    requests: int = 0
    wall_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    machine_busy_s: float = 0.0

    @property
    def other_cpu_s(self) -> float:
        """CPU used during the phase by processes other than the client, server and database."""
        return max(0.0, self.machine_busy_s - self.client_cpu_s - self.server_cpu_s - self.db_cpu_s)

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[rank] * 1000


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def server_cpu(pid: int) -> float:
    """utime + stime of the server process and every live descendant (uvicorn workers), seconds."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
        todo.extend(_children(p))
    return total / CLK_TCK


def database_cpu(dbname: str | None) -> float:
    """CPU of the PostgreSQL backends serving `dbname` (their titles name it), seconds; 0 for SQLite,
    whose work runs on the server's own threads."""
    if not dbname:
        return 0.0
    needle = f" {dbname} ".encode()
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if needle not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine has spent not idle (from /proc/stat), to spot other load."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


RequestFactory = Callable[[int, int], bytes]  # (worker index, request number) -> request bytes
OnResponse = Callable[[bytes], None]


async def run_phase(
    *,
    backend: str,
    phase: str,
    host: str,
    port: int,
    concurrency: int,
    warmup_s: float,
    seconds: float,
    server_pid: int,
    dbname: str | None,
    make_request: RequestFactory,
    on_response: OnResponse | None = None,
) -> PhaseResult:
    """`concurrency` connections loop requests: a warm-up (not counted), then `seconds` measured.

    A request counts when it completes inside the measured window; CPU is read at both ends of that
    window, so requests still in flight at the deadline (drained afterwards) count for neither."""
    result = PhaseResult(backend, phase)
    loop = asyncio.get_running_loop()
    conns: list[HttpConnection | None] = [None] * concurrency
    # Connections are opened one by one, a little apart: with several server workers sharing the
    # listening socket, one worker's accept loop would otherwise take a burst of them all.
    for i in range(concurrency):
        try:
            conns[i] = await connect(host, port)
        except OSError:
            pass  # the worker loop retries
        await asyncio.sleep(0.003)
    measure_from = loop.time() + warmup_s
    deadline = measure_from + seconds

    async def worker(index: int) -> None:
        conn = conns[index]
        n = 0
        latencies = result.latencies
        perf = time.perf_counter
        while loop.time() < deadline:
            n += 1
            t0 = perf()
            try:
                if conn is None or conn.closed or not conn.keep_alive:
                    if conn is not None:
                        conn.close()
                    conn = conns[index] = await connect(host, port)
                status, body = await conn.request(make_request(index, n))
            except (OSError, ConnectionClosed) as exc:
                status, body = 0, repr(exc).encode()
            elapsed = perf() - t0
            if 200 <= status < 300:
                if on_response is not None:
                    on_response(body)
                if measure_from <= loop.time() < deadline:
                    result.requests += 1
                    latencies.append(elapsed)
            else:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{status}: {body[:300].decode(errors='replace')}")
                if status == 0:
                    await asyncio.sleep(0.05)  # do not spin on a dead server

    def sample() -> tuple[float, ...]:
        return (time.perf_counter(), client_cpu(), server_cpu(server_pid), database_cpu(dbname),
                machine_busy_cpu())  # fmt: skip

    async def measure() -> tuple[tuple[float, ...], tuple[float, ...]]:
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        first = sample()
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        return first, sample()

    tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
    marks = await measure()
    # Bounded: whatever is still in flight 30 s after the deadline counts as failed.
    done, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:
        task.cancel()
        result.errors += 1
        if len(result.error_samples) < 5:
            result.error_samples.append("no response within 30 s after the phase deadline")
    for task in done:
        if task.exception() is not None:
            result.errors += 1
            result.error_samples.append(f"client error: {task.exception()!r}")
    for conn in conns:
        if conn is not None:
            conn.close()
    (t0, client0, server0, db0, busy0), (t1, client1, server1, db1, busy1) = marks
    result.wall_s = t1 - t0
    result.client_cpu_s = client1 - client0
    result.server_cpu_s = server1 - server0
    result.db_cpu_s = db1 - db0
    result.machine_busy_s = busy1 - busy0
    return result


def create_bodies(count: int, due_now: bool) -> list[bytes]:
    """Realistic POST /call bodies: distinct numbers, an inline assistant whose prompt uses {{name}}.

    By default the orders are scheduled a week ahead, so the server's own dispatcher finds nothing
    due and the numbers measure the API alone, whatever the time of day; with `due_now` they are
    due at once (force_now) and the dispatcher dials them (sandbox carrier) during the run."""
    when = datetime.now(UTC) + timedelta(days=7)
    bodies = []
    for i in range(count):
        body = {
            "phone_number": f"+1202555{100 + i % 100:04d}",
            "assistant": {
                "prompt": (
                    "You are Ava, calling {{name}} on behalf of Acme Dental to confirm the appointment "
                    "on {{date}}. Be brief and polite; if {{name}} wants to reschedule, offer the next "
                    "two free slots and note the preferred one."
                ),
                "first_sentence": "Hi {{name}}, this is Ava from Acme Dental.",
                "first_sentence_mode": "static",
                "voice": {"id": "sonic-english-female", "provider": "cartesia", "speed": 1.0},
                "max_call_duration_secs": 300,
                "call_retry_config": {
                    "calling_windows": [
                        {
                            "calling_window_start_time": "09:00",
                            "calling_window_end_time": "18:00",
                            "retry_delay_seconds": 3600,
                        }
                    ],
                    "max_retry_attempts": 2,
                    "timezone": "America/New_York",
                },
            },
            "prompt_variables": {"name": f"Customer {i}", "date": "Tuesday 3pm"},
            "metadata": {"customer_id": f"cus_{i:06d}", "source": "bench", "campaign": "reminders"},
            "concurrency": {"key": f"clinic-{i % 8}", "max": 5},
        }
        if due_now:
            body["force_now"] = True
        else:
            body["scheduled_at"] = (when + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def extract_call_id(body: bytes) -> str:
    """The id of {"call": {"id": ...}}; a cheap slice when the server's compact JSON puts it first."""
    marker = b'{"call":{"id":"'
    if body.startswith(marker):
        end = body.find(b'"', len(marker))
        return body[len(marker) : end].decode()
    return json.loads(body)["call"]["id"]


async def bench_server(
    backend: str, host: str, port: int, key: str, server_pid: int, dbname: str | None,
    args: argparse.Namespace,
) -> list[PhaseResult]:
    host_header = f"{host}:{port}"
    common = dict(
        backend=backend, host=host, port=port, concurrency=args.concurrency,
        warmup_s=args.warmup, seconds=args.seconds, server_pid=server_pid, dbname=dbname,
    )  # fmt: skip
    results = []

    health_req = build_request("GET", "/health", host_header, key)
    results.append(await run_phase(phase="health", make_request=lambda i, n: health_req, **common))

    bodies = [build_request("POST", "/call", host_header, key, b) for b in create_bodies(1000, args.due_now)]
    nbodies = len(bodies)
    created: list[str] = []

    def on_created(body: bytes) -> None:
        created.append(extract_call_id(body))

    results.append(
        await run_phase(
            phase="create",
            make_request=lambda i, n: bodies[(i * 7919 + n) % nbodies],
            on_response=on_created,
            **common,
        )
    )

    if not created:
        failed = PhaseResult(backend, "retrieve", errors=1, error_samples=["no call was created to retrieve"])
        results.append(failed)
        return results
    retrieve_reqs = [build_request("GET", f"/call/{cid}", host_header, key) for cid in created]
    nids = len(retrieve_reqs)
    results.append(
        await run_phase(
            phase="retrieve",
            make_request=lambda i, n: retrieve_reqs[(i * 104729 + n * 31) % nids],
            **common,
        )
    )
    return results


# --------------------------------------------------------------------------------------------
# Server and databases
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_database(admin_url: str, needed: int = 32):
    import psycopg

    name = f"openrevox_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        free = conn.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        ).fetchone()[0]
    if free < needed:
        print(f"warning: PostgreSQL has {free} free connection slots; the server's pools may open {needed}")
    parts = urllib.parse.urlsplit(admin_url)
    try:
        yield urllib.parse.urlunsplit(parts._replace(path="/" + name))
    finally:
        for attempt in range(5):  # the server just stopped: its connection slots free up shortly
            try:
                with psycopg.connect(admin_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.OperationalError as exc:
                if attempt == 4:
                    print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
                time.sleep(1)


@contextmanager
def running_server(database_url: str, workdir: Path, key: str, workers: int, pool_size: int | None = None):
    env = {
        **os.environ,
        "OPENREVOX_DATABASE_URL": database_url,
        "OPENREVOX_DATA_DIR": str(workdir / "data"),
        "OPENREVOX_API_KEY": key,
        "PYTHONUNBUFFERED": "1",
        "OPENREVOX_DRAIN_SECONDS": "0",  # with --due-now, calls are live at the end: hang up on them
    }
    if pool_size is not None:
        env["OPENREVOX_DB_POOL_SIZE"] = str(pool_size)
    cmd = [PYTHON, "-m", "openrevox.cli", "serve", "--no-access-log"]
    if workers > 1:  # serve migrates and stores the key once, then starts the workers
        cmd += ["--workers", str(workers)]
    with _server(cmd, env, workdir / "server.log", workers) as started:
        yield started


@contextmanager
def _server(cmd: list[str], env: dict[str, str], log_path: Path, workers: int = 1):
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(proc, port, log_path, workers)
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_ready(
    proc: subprocess.Popen, port: int, log_path: Path, workers: int = 1, timeout: float = 60.0
) -> None:
    """GET /health answers 200 and, with several workers, every one has logged its start-up."""
    deadline = time.monotonic() + timeout
    request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200") and (
                    workers <= 1 or log_path.read_text().count("Application startup complete") >= workers
                ):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


class Interrupted(Exception):
    pass


def _on_sigterm(*_: object) -> None:
    raise Interrupted("SIGTERM")


def install_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the server is stopped and the database dropped. Outside the
    event loop a Python handler raises; inside it, the loop's handler cancels the main task (an
    exception raised in a protocol callback would be swallowed by the loop)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def run_in_loop(coro) -> list[PhaseResult]:  # noqa: ANN001
    async def main() -> list[PhaseResult]:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
        try:
            return await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise Interrupted("SIGTERM") from None
    finally:
        install_sigterm()


def run_backend(backend: str, args: argparse.Namespace) -> list[PhaseResult]:
    workdir = Path(tempfile.mkdtemp(prefix=f"openrevox-bench-{backend}-"))
    key = "sk_bench_" + secrets.token_urlsafe(24)
    try:
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'openrevox.db'}"
            with running_server(url, workdir, key, args.workers, args.pool_size or None) as (proc, port):
                results = run_in_loop(bench_server(backend, "127.0.0.1", port, key, proc.pid, None, args))
        else:
            pool = args.pool_size or 10  # 0: the server's default, OPENREVOX_DB_POOL_SIZE=10
            with postgres_database(args.postgres_url, needed=args.workers * 2 * pool + 2) as url:
                dbname = urllib.parse.urlsplit(url).path.lstrip("/")
                with running_server(url, workdir, key, args.workers, args.pool_size or None) as (proc, port):
                    results = run_in_loop(
                        bench_server(backend, "127.0.0.1", port, key, proc.pid, dbname, args)
                    )
        if any(r.errors for r in results):
            server_errors(backend, workdir / "server.log")
        return results
    except Exception:
        server_errors(backend, workdir / "server.log")
        raise
    finally:
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def server_errors(backend: str, log_path: Path, limit: int = 5) -> None:
    """The distinct exception lines of the server's log, so a failed run says why."""
    seen: dict[str, int] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        skip = (" ", "\t", "Traceback", "INFO", "The above", "During handling")
        if line and not line.startswith(skip) and ("Error" in line or "Exception" in line):
            seen[line] = seen.get(line, 0) + 1
    for line, count in list(seen.items())[-limit:]:
        print(f"server log ({backend}, {count}x): {line[:300]}")


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def report(results: list[PhaseResult], args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 1
    header = (
        f"{'backend':<9} {'phase':<9} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'client cpu s':>13} {'server cpu s':>13} {'db cpu s':>9} {'other cpu s':>12} {'idle cpu s':>11}"
    )
    print()
    print(
        f"concurrency {args.concurrency}, {args.seconds:g} s per phase after {args.warmup:g} s warm-up, "
        f"server workers {args.workers}, database pool {args.pool_size or 'default'} per process, "
        f"{cores} cores, client loop {args.loop_name}, "
        f"orders {'due now' if args.due_now else 'scheduled a week ahead'}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        idle = max(0.0, r.wall_s * cores - r.machine_busy_s)
        print(
            f"{r.backend:<9} {r.phase:<9} {r.requests:>9} {r.rps:>9.1f} {r.percentile_ms(50):>8.2f}"
            f" {r.percentile_ms(99):>8.2f} {r.errors:>7} {r.client_cpu_s:>13.2f} {r.server_cpu_s:>13.2f}"
            f" {r.db_cpu_s:>9.2f} {r.other_cpu_s:>12.2f} {idle:>11.2f}"
        )
    print()
    for backend in dict.fromkeys(r.backend for r in results):
        phases = {r.phase: r for r in results if r.backend == backend}
        health, create, retrieve = phases.get("health"), phases.get("create"), phases.get("retrieve")
        if health and create and health.rps:
            ratio = create.rps / health.rps
            p99 = create.percentile_ms(99)
            ok_ratio, ok_p99 = ratio >= GOAL_CREATE_RATIO, p99 < GOAL_CREATE_P99_MS
            print(
                f"{backend}: create/health = {ratio:.1%} (goal >= {GOAL_CREATE_RATIO:.0%}: "
                f"{'met' if ok_ratio else 'NOT met'}); create p99 = {p99:.1f} ms "
                f"(goal < {GOAL_CREATE_P99_MS:.0f} ms: {'met' if ok_p99 else 'NOT met'})"
            )
            if retrieve and retrieve.rps:
                print(f"{backend}: retrieve/health = {retrieve.rps / health.rps:.1%}")
        for r in phases.values():
            if r.requests:
                per_req_server = r.server_cpu_s / r.requests * 1000
                per_req_client = r.client_cpu_s / r.requests * 1000
                per_req_db = r.db_cpu_s / r.requests * 1000
                share = r.server_cpu_s / (r.wall_s * cores) if r.wall_s else 0
                print(
                    f"{backend}: {r.phase:<8} CPU per request: server {per_req_server:.2f} ms "
                    f"(server used {share:.0%} of the machine), database processes {per_req_db:.2f} ms, "
                    f"client {per_req_client:.2f} ms"
                )
    for r in results:
        for sample in r.error_samples:
            print(f"error ({r.backend} {r.phase}): {sample}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before each phase")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--pool-size", type=int, default=None,
        help="OPENREVOX_DB_POOL_SIZE for the server (default: concurrency / workers, so "
        "every client's request finds a kept connection; 0: the server's own default)",
    )  # fmt: skip
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "OPENREVOX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL used to create and drop the benchmark database",
    )
    parser.add_argument(
        "--due-now", action="store_true",
        help="create orders due at once (the server's dispatcher dials them during the run)",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="run the client on the stdlib event loop")
    args = parser.parse_args(argv)
    if args.pool_size is None:
        args.pool_size = -(-args.concurrency // max(1, args.workers))
    install_sigterm()
    args.loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            args.loop_name = "uvloop"
        except ImportError:
            pass

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[PhaseResult] = []
    try:
        for backend in backends:
            print(f"running {backend} ...", flush=True)
            results += run_backend(backend, args)
    except (Interrupted, KeyboardInterrupt) as exc:
        print(f"interrupted ({exc.__class__.__name__}); server stopped and database dropped", file=sys.stderr)
        return 130
    report(results, args)
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
