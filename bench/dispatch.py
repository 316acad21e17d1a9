"""Dispatcher benchmark: attempts dispatched per second and due→dial latency, with and without a
large backlog of future orders in `call_orders`.

For each backend it makes one fresh database per `--future` count (a temporary SQLite file, or a
PostgreSQL database `openrevox_bench_<hex>` dropped WITH (FORCE) at the end), migrated with
`run_migrations`, with one organization (concurrency limit raised out of the way) and the future
orders bulk-loaded inside the database (`INSERT ... SELECT` over generate_series / a recursive CTE,
status `scheduled`, due from a day ahead, one a second). Then the real `Dispatcher` runs against a
recording stand-in carrier (dial records the instant and returns at once; calls never end, as real
calls outlast the run), each scenario after a short warm-up drain, alternating between the
databases so that a change in the machine's load hits both alike:

* drain: `--due` orders (queued_for_calling) all due just before the start; `Dispatcher.tick()`
  in a loop with no sleep (the lease heartbeat running, as in `run()`) until every one is dialed.
  attempts/s = due / time of the last dial; each attempt's latency (dial − start) is its wait in
  the backlog, so p99 ≈ the drain time.
* steady: `--due` orders (scheduled) becoming due at each `--rates` per second (inserted upfront,
  `next_attempt_at` spread over time), dispatched by `Dispatcher.run()` (its own loop, `--interval`
  between passes); latency = dial − next_attempt_at per attempt.

For each run it reports where a busy tick spends its time (recover / hang-up / claim / dial
phases), the idle tick, SQL statements and commits per attempt, this process's CPU share, a
`SELECT 1` round trip and the load average (the machine is shared), and the exceptions `tick()`
would swallow from its dial tasks. The due-orders query's plan is printed (EXPLAIN ANALYZE on
PostgreSQL, EXPLAIN QUERY PLAN on SQLite); `--explain-all` adds the other per-tick queries;
`--profile` prints a cProfile of each drain. `--paused N` / `--history N` add overdue paused orders
/ finished orders with their attempts to every database, to show what else a tick walks.

    .venv/bin/python bench/dispatch.py [--backend sqlite|postgres|both] [--due 1000]
        [--future 0,1000000] [--batch 100] [--rates 200,500] [--interval 0.02] [--repeat 1]
        [--paused 0] [--history 0] [--profile] [--explain-all] [--uvloop] [--max-live-calls N]

Exits non-zero only when an order was not dialed, or dialed twice; missed goals are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import math
import os
import pstats
import re
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from openrevox.db.engine import create_engine, run_migrations, sync_url  # noqa: E402
from openrevox.db.types import new_id  # noqa: E402
from openrevox.orders import service as orders_service  # noqa: E402
from openrevox.orders import store as orders_store  # noqa: E402
from openrevox.orders.tables import call_attempts, call_orders, concurrency_slots  # noqa: E402
from openrevox.orgs import service as orgs_service  # noqa: E402
from openrevox.orgs.tables import organizations  # noqa: E402
from openrevox.scheduling import store as dispatch_store  # noqa: E402
from openrevox.scheduling.dispatcher import Dispatcher  # noqa: E402
from openrevox.schemas.calls import CallCreateIn  # noqa: E402
from openrevox.telephony.base import DialRequest  # noqa: E402

ORG_LIMIT = 100_000
GOAL_ATTEMPTS_PER_S = 500.0
GOAL_P99_MS = 100.0
GOAL_FUTURE_RATIO = 0.20  # the figure with many future orders within 20% of the one with none
LOAD_CHUNK = 100_000  # future orders per INSERT ... SELECT statement


# --------------------------------------------------------------------------------------------
# The stand-in carrier and the instruments
# --------------------------------------------------------------------------------------------


@dataclass
class Dial:
    order_id: str
    wall: datetime
    mono: float


class RecordingCarrier:
    """Dials by recording when it was asked; the call never ends (hang_up and close do nothing)."""

    name = "bench"

    def __init__(self) -> None:
        self.dials: dict[str, Dial] = {}
        self.order_dials: Counter[str] = Counter()
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, n: int) -> None:
        self.dials.clear()
        self.order_dials.clear()
        self.target = n
        self.done = asyncio.Event()

    async def dial(self, request: DialRequest) -> str:
        self.dials[request.attempt_id] = Dial(request.order_id, datetime.now(UTC), time.perf_counter())
        self.order_dials[request.order_id] += 1
        if len(self.order_dials) >= self.target:
            self.done.set()
        return f"bench-{request.attempt_id}"

    async def hang_up(self, attempt_id: str, *args: object, **kwargs: object) -> None:
        return None

    def live_calls(self) -> set[str]:
        """Every call it dialed is still going (the heartbeat renews their leases)."""
        return set(self.dials)

    def forget(self, attempt_ids: set[str]) -> None:
        return None

    async def close(self) -> None:
        return None


_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


class SqlStats:
    """Statements (by verb and table), transactions and time inside the driver, from engine events."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sync = engine.sync_engine
        self.reset()
        sa.event.listen(self.sync, "before_cursor_execute", self._before)
        sa.event.listen(self.sync, "after_cursor_execute", self._after)
        sa.event.listen(self.sync, "commit", self._commit)
        sa.event.listen(self.sync, "savepoint", self._savepoint)

    def reset(self) -> None:
        self.statements: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.commits = 0
        self.savepoints = 0

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        head = statement.lstrip().split(None, 1)
        verb = head[0].upper() if head else "?"
        match = _TABLE.search(statement)
        kind = f"{verb} {match.group(1)}" if match else verb
        self.statements[kind] += 1
        self.seconds[kind] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    def _commit(self, conn) -> None:  # noqa: ANN001
        self.commits += 1

    def _savepoint(self, conn, name) -> None:  # noqa: ANN001
        self.savepoints += 1

    def close(self) -> None:
        sa.event.remove(self.sync, "before_cursor_execute", self._before)
        sa.event.remove(self.sync, "after_cursor_execute", self._after)
        sa.event.remove(self.sync, "commit", self._commit)
        sa.event.remove(self.sync, "savepoint", self._savepoint)


class LogCounter(logging.Handler):
    """Counts the dispatcher's warnings and errors (and keeps the first few) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] += 1
        if len(self.samples) < 3:
            self.samples.append(record.getMessage()[:200])


DISPATCHER_LOG = LogCounter()


@contextlib.asynccontextmanager
async def heartbeat(dispatcher: Dispatcher):
    """The lease heartbeat `Dispatcher.run()` keeps, for scenarios that drive `tick()` directly."""
    task = asyncio.create_task(dispatcher._heartbeat(), name="bench-heartbeat")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


PHASES = ("_recover", "_hang_up_cancelled", "_claim")


class TickTimer:
    """Wraps a dispatcher's tick and its phases (instance attributes shadow the methods), and sorts
    each tick's time into busy ticks (it dialed) and idle ones (nothing due: the fixed cost a newly
    due order waits behind)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dial_errors: Counter[str] = Counter()
        self.reset()
        for name in (*PHASES, "tick"):
            setattr(dispatcher, name, self._wrap(name, getattr(dispatcher, name)))
        dial = dispatcher._dial

        async def counted_dial(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            # Count what a dial task raised (the dispatcher logs it and goes on).
            try:
                return await dial(*args, **kwargs)
            except Exception as error:
                self.dial_errors[f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"] += 1
                raise

        dispatcher._dial = counted_dial

    def reset(self) -> None:
        self.busy: defaultdict[str, float] = defaultdict(float)
        self.idle: defaultdict[str, float] = defaultdict(float)
        self.current: defaultdict[str, float] = defaultdict(float)
        self.busy_ticks = self.idle_ticks = 0
        self.max_tick_s = 0.0

    @property
    def ticks(self) -> int:
        return self.busy_ticks + self.idle_ticks

    def _wrap(self, name: str, method):  # noqa: ANN001, ANN202
        async def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if name == "tick":
                self.current = defaultdict(float)
            t0 = time.perf_counter()
            result = await method(*args, **kwargs)
            elapsed = time.perf_counter() - t0
            self.current[name] += elapsed
            if name == "tick":
                bucket = self.busy if result else self.idle
                for key, value in self.current.items():
                    bucket[key] += value
                if result:
                    self.busy_ticks += 1
                else:
                    self.idle_ticks += 1
                self.max_tick_s = max(self.max_tick_s, elapsed)
            return result

        return timed

    def breakdown_ms(self) -> dict[str, float]:
        """Milliseconds per busy tick in each phase (`dial` is the rest: the dial transactions), and
        the mean idle tick."""
        n = max(self.busy_ticks, 1)
        out = {
            "recover": self.busy["_recover"] / n * 1000,
            "hang_up": self.busy["_hang_up_cancelled"] / n * 1000,
            "claim": self.busy["_claim"] / n * 1000,
        }
        out["dial"] = self.busy["tick"] / n * 1000 - sum(out.values())
        out["tick"] = self.busy["tick"] / n * 1000
        out["idle_tick"] = self.idle["tick"] / self.idle_ticks * 1000 if self.idle_ticks else float("nan")
        return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------------------------
# Data: organization, a real order as template, the bulk of future orders, the due ones
# --------------------------------------------------------------------------------------------

PROMPT = (
    "You are Camille, calling on behalf of Dupont Dental to confirm tomorrow's appointment. Greet the "
    "patient by name, confirm the date and time, offer to reschedule if needed, answer questions about "
    "the address and parking, and end the call politely. Never give medical advice. Speak French unless "
    "the patient answers in English. If you reach voicemail, leave the voicemail message and hang up."
)


async def setup_org(engine: AsyncEngine) -> tuple[str, dict]:
    """One organization, and an order made by `orders.service.create` as the row template."""
    async with engine.begin() as conn:
        org_id = await orgs_service.ensure_organization(conn, "bench")
        await conn.execute(
            sa.update(organizations).where(organizations.c.id == org_id).values(concurrency_limit=ORG_LIMIT)
        )
        body = CallCreateIn.model_validate(
            {
                "phone_number": "+33612345678",
                "force_now": True,
                "assistant": {
                    "prompt": PROMPT,
                    "first_sentence": "Bonjour, ici Camille du cabinet Dupont.",
                    "voicemail_message": "Bonjour, c'est le cabinet Dupont, rappelez-nous au 01 23 45 67 89.",
                    "max_call_duration_secs": 300,
                },
                "metadata": {"customer_id": "c-123", "source": "bench"},
            }
        )
        wire = await orders_service.create(conn, org_id, body, default_from_number="+33198765432", idempotency_key=None)
        template = await orders_store.get_order_by_id(conn, wire["id"])
        await conn.execute(sa.delete(call_orders).where(call_orders.c.id == wire["id"]))
    return org_id, template


JSON_COLUMNS = ("assistant", "metadata", "prompt_variables", "call_retry_config", "llm_model")
ORDER_COLUMNS = [c.name for c in call_orders.columns]


def bulk_load(
    url: str, backend: str, template: dict, count: int, first_due: datetime, status: str = "scheduled"
) -> float:
    """`count` orders in `status`, due from `first_due` on, one a second (1,000,000 span 11.6 days),
    generated inside the database in chunks; returns the seconds it took (with checkpoint/ANALYZE)."""
    if count <= 0:
        return 0.0
    t0 = time.perf_counter()
    base = first_due.astimezone(UTC).replace(tzinfo=None)
    created = template["created_at"].astimezone(UTC).replace(tzinfo=None)
    params = {
        "org": template["organization_id"],
        "assistant_id": template["assistant_id"],
        "from_number": template["from_phone_number"],
        "fsd": template["first_sentence_delay_ms"],
        "status": status,
        "has_due": status in ("scheduled", "queued_for_calling", "paused"),
        **{c: json.dumps(template[c]) for c in JSON_COLUMNS},
    }
    cols = ", ".join(ORDER_COLUMNS)
    if backend == "postgresql":
        engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
        select = (
            "SELECT gen_random_uuid()::text, :org, :assistant_id, CAST(:assistant AS jsonb), "
            "'+336' || lpad(g::text, 8, '0'), :from_number, 'outbound', :status, :created, "
            "CAST(:metadata AS jsonb), CAST(:prompt_variables AS jsonb), CAST(:call_retry_config AS jsonb), "
            ":fsd, CAST(:llm_model AS jsonb), NULL, NULL, false, NULL, NULL, 0, "
            "CASE WHEN CAST(:has_due AS boolean) THEN :base + make_interval(secs => g) END, :created, :created "
            "FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS g"
        )
        sql = sa.text(f"INSERT INTO call_orders ({cols}) {select}")
        with engine.begin() as conn:
            for lo in range(1, count + 1, LOAD_CHUNK):
                hi = min(lo + LOAD_CHUNK - 1, count)
                conn.execute(sql, {**params, "created": created, "base": base, "lo": lo, "hi": hi})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum does shortly after such a load; the plans below are the ones in effect.
            conn.execute(sa.text("VACUUM ANALYZE call_orders"))
        engine.dispose()
    else:
        import sqlite3

        path = url.split(":///", 1)[1]
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-262144")  # the loader's own connection only
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        sql = (
            f"INSERT INTO call_orders ({cols}) "
            "WITH RECURSIVE g(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM g WHERE i < :hi) "
            "SELECT lower(printf('%s-%s-4%s-%s-%s', hex(randomblob(4)), hex(randomblob(2)), "
            "substr(hex(randomblob(2)), 2), hex(randomblob(2)), hex(randomblob(6)))), "
            ":org, :assistant_id, :assistant, '+336' || printf('%08d', i), :from_number, 'outbound', "
            ":status, :created, :metadata, :prompt_variables, :call_retry_config, :fsd, :llm_model, "
            "NULL, NULL, 0, NULL, NULL, 0, "
            "CASE WHEN :has_due THEN strftime('%Y-%m-%d %H:%M:%S', :base_epoch + i, 'unixepoch') || :base_frac END, "
            ":created, :created "
            "FROM g"
        )
        db.execute("BEGIN")
        for lo in range(1, count + 1, LOAD_CHUNK):
            hi = min(lo + LOAD_CHUNK - 1, count)
            db.execute(
                sql,
                {
                    **params,
                    "created": created.strftime(fmt),
                    "base_epoch": int(base.replace(tzinfo=UTC).timestamp()),
                    "base_frac": "." + base.strftime("%f"),
                    "lo": lo,
                    "hi": hi,
                },
            )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    return time.perf_counter() - t0


SQLITE_UUID = (
    "lower(printf('%s-%s-4%s-%s-%s', hex(randomblob(4)), hex(randomblob(2)), "
    "substr(hex(randomblob(2)), 2), hex(randomblob(2)), hex(randomblob(6))))"
)


def load_history(url: str, backend: str, template: dict, count: int) -> float:
    """`count` finished orders, each with one completed attempt (lease released, as
    `attempts.finish` leaves it): the history a long-lived database accumulates."""
    if count <= 0:
        return 0.0
    t0 = time.perf_counter()
    bulk_load(url, backend, template, count, datetime.now(UTC) - timedelta(days=30), "completed")
    uuid = "gen_random_uuid()::text" if backend == "postgresql" else SQLITE_UUID
    sql = (
        "INSERT INTO call_attempts (id, organization_id, order_id, phone_number, status, result, started_at, "
        "answered_at, ended_at, ended_by, created_at, attempt_number, dial_started_at, carrier_call_id) "
        f"SELECT {uuid}, organization_id, id, to_phone_number, 'completed', 'completed', created_at, "
        "created_at, created_at, 'user', created_at, 1, created_at, 'bench-history' "
        "FROM call_orders WHERE status = 'completed'"
    )
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(sql))
    if backend == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE call_attempts"))
    engine.dispose()
    return time.perf_counter() - t0


async def insert_due(
    engine: AsyncEngine, template: dict, due_times: list[datetime], status: str
) -> dict[str, datetime]:
    """Orders due at the given instants (Core executemany); returns order id → due instant."""
    now = datetime.now(UTC)
    rows, due_by_id = [], {}
    for i, due in enumerate(due_times):
        order_id = new_id()
        due_by_id[order_id] = due
        rows.append(
            {**template, "id": order_id, "status": status, "next_attempt_at": due,
             "to_phone_number": f"+337{i:08d}", "created_at": now, "updated_at": now, "scheduled_at": now}
        )  # fmt: skip
    async with engine.begin() as conn:
        for lo in range(0, len(rows), 10_000):
            await conn.execute(sa.insert(call_orders), rows[lo : lo + 10_000])
    return due_by_id


async def reset_live(engine: AsyncEngine) -> None:
    """Forget the previous phase: its slots, attempts and claimed orders (the future ones stay)."""
    async with engine.begin() as conn:
        await conn.execute(sa.delete(concurrency_slots))
        # The bench's attempts stay live (its calls never end) or fail; the loaded history is completed.
        await conn.execute(sa.delete(call_attempts).where(call_attempts.c.status != "completed"))
        await conn.execute(sa.delete(call_orders).where(call_orders.c.status.in_(("calling", "queued_for_calling"))))
        await conn.execute(
            sa.delete(call_orders).where(
                call_orders.c.status == "scheduled",
                call_orders.c.next_attempt_at < datetime.now(UTC) + timedelta(hours=1),
            )
        )


async def roundtrip_us(engine: AsyncEngine, n: int = 300) -> float:
    """Median microseconds of `SELECT 1` on one pooled connection: calibrates a noisy machine."""
    async with engine.connect() as conn:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            await conn.execute(sa.text("SELECT 1"))
            samples.append(time.perf_counter() - t0)
    return percentile(samples, 50) * 1e6


async def count_waiting(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.select(sa.func.count()).select_from(call_orders).where(call_orders.c.status.in_(dispatch_store.WAITING))
        )


# --------------------------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------------------------


async def explain(engine: AsyncEngine, title: str, query_fn, *args) -> list[str]:  # noqa: ANN001
    """The statement `query_fn(conn, *args)` sends, explained in a transaction rolled back after."""
    captured: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        captured.append((statement, parameters))

    postgres = engine.dialect.name == "postgresql"
    async with engine.connect() as conn:
        tx = await conn.begin()
        sa.event.listen(engine.sync_engine, "before_cursor_execute", grab)
        try:
            await query_fn(conn, *args)
        finally:
            sa.event.remove(engine.sync_engine, "before_cursor_execute", grab)
        statement, parameters = captured[-1]
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        rows = (await conn.exec_driver_sql(prefix + statement, parameters)).all()
        await tx.rollback()
    lines = [f"-- {title}", "   " + " ".join(statement.split())]
    lines += ["   " + (row[0] if postgres else row[-1]) for row in rows]
    return lines


async def explain_due(engine: AsyncEngine, batch: int) -> list[str]:
    return await explain(
        engine, "due orders (store.due_orders)", dispatch_store.due_orders, datetime.now(UTC), batch, set(), set()
    )


async def explain_tick_queries(engine: AsyncEngine, org_id: str, worker: str, batch: int) -> list[str]:
    now = datetime.now(UTC)
    lines = []
    lines += await explain(
        engine, "expired leases (store.expired_attempts)", dispatch_store.expired_attempts, now, batch
    )
    lines += await explain(
        engine,
        "cancelled live attempts (store.cancelled_live_attempts)",
        dispatch_store.cancelled_live_attempts,
        worker,
    )
    lines += await explain(engine, "limits and live slots (store.limits_and_live_slots)", dispatch_store.limits_and_live_slots)
    lines += await explain(
        engine, "used slots of a scope (store.used_slots)", dispatch_store.used_slots, f"org:{org_id}"
    )
    return lines


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    future: int
    scenario: str  # "drain" or "steady N/s"
    due: int
    dialed: int
    double_dials: int
    wall_s: float
    attempts_per_s: float
    latencies_ms: list[float]
    ticks: int
    busy_ticks: int
    breakdown_ms: dict[str, float]
    statements_per_attempt: float
    commits_per_attempt: float
    cpu_share: float
    top_statements: list[tuple[str, int, float]] = field(default_factory=list)
    load_s: float = 0.0
    max_tick_ms: float = 0.0
    dial_errors: Counter[str] = field(default_factory=Counter)  # exceptions tick() swallowed
    roundtrip_us: float = 0.0  # one `SELECT 1` through the engine, just before: the machine's pace
    loadavg: float = 0.0  # 1-minute load average at the start (other processes share the cores)

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def new_dispatcher(engine: AsyncEngine, carrier: RecordingCarrier, args: argparse.Namespace) -> Dispatcher:
    return Dispatcher(
        engine, carrier, org_limit=ORG_LIMIT, lease_seconds=args.lease, interval=args.interval, batch=args.batch,
        max_live_calls=args.max_live_calls,
        # Capped, it registers as a process that takes media sockets, as `serve` does: its claims then
        # lock its registration (what an inbound call placed on it waits for).
        media_url="ws://bench.invalid" if args.max_live_calls else None,
    )  # fmt: skip


def summarize_sql(stats: SqlStats, dialed: int) -> tuple[float, float, list[tuple[str, int, float]]]:
    n = max(dialed, 1)
    top = sorted(stats.statements.items(), key=lambda kv: -stats.seconds[kv[0]])
    return (
        sum(stats.statements.values()) / n,
        stats.commits / n,
        [(kind, count, stats.seconds[kind] * 1000) for kind, count in top[:12]],
    )


@dataclass
class Case:
    """One fresh database with `future` orders loaded, measured scenario after scenario."""

    backend: str
    future: int
    url: str
    engine: AsyncEngine
    org_id: str
    template: dict
    load_s: float
    plans: list[str] = field(default_factory=list)


async def prepare_case(backend: str, future: int, url: str, args: argparse.Namespace) -> Case:
    await asyncio.to_thread(run_migrations, url)
    engine = create_engine(url)
    org_id, template = await setup_org(engine)
    print(f"  {backend}: loading {future:,} future orders ...", flush=True)
    load_s = await asyncio.to_thread(
        bulk_load, url, engine.dialect.name, template, future, datetime.now(UTC) + timedelta(days=1)
    )
    waiting = await count_waiting(engine)
    print(f"  {backend}: loaded in {load_s:.1f} s ({waiting:,} waiting orders in call_orders)", flush=True)
    if args.paused:
        # Paused orders keep their next_attempt_at (resume needs it): overdue ones sit in the
        # index range `next_attempt_at <= now` that every claim walks.
        paused_s = await asyncio.to_thread(
            bulk_load, url, engine.dialect.name, template, args.paused,
            datetime.now(UTC) - timedelta(seconds=args.paused + 3600), "paused",
        )  # fmt: skip
        print(f"  {backend}: {args.paused:,} overdue paused orders loaded in {paused_s:.1f} s", flush=True)
    if args.history:
        history_s = await asyncio.to_thread(load_history, url, engine.dialect.name, template, args.history)
        print(
            f"  {backend}: {args.history:,} finished orders with their attempts loaded in {history_s:.1f} s",
            flush=True,
        )
    await engine.dispose()  # two databases are open at once: hold connections only while measured
    return Case(backend, future, url, engine, org_id, template, load_s)


async def warm_up(case: Case, args: argparse.Namespace) -> None:
    """A short drain first, so pools, compiled-statement caches and prepared statements are warm."""
    carrier = RecordingCarrier()
    dispatcher = new_dispatcher(case.engine, carrier, args)
    n = min(args.batch * 2, args.due)
    carrier.expect(n)
    await insert_due(case.engine, case.template, [datetime.now(UTC) - timedelta(seconds=1)] * n, "queued_for_calling")
    deadline = time.perf_counter() + args.timeout
    async with heartbeat(dispatcher):
        while len(carrier.order_dials) < n and time.perf_counter() < deadline:
            await dispatcher.tick()
    await reset_live(case.engine)


async def drain(case: Case, args: argparse.Namespace) -> Result:
    engine = case.engine
    await warm_up(case, args)
    carrier = RecordingCarrier()
    dispatcher = new_dispatcher(engine, carrier, args)
    due_at = datetime.now(UTC) - timedelta(milliseconds=1)
    due_by_id = await insert_due(engine, case.template, [due_at] * args.due, "queued_for_calling")
    if not case.plans:
        case.plans += await explain_due(engine, args.batch)
    rt = await roundtrip_us(engine)
    load = os.getloadavg()[0]
    carrier.expect(args.due)
    timer = TickTimer(dispatcher)
    stats = SqlStats(engine)
    profiler = cProfile.Profile() if args.profile else None
    cpu0 = cpu_seconds()
    start_wall, start = datetime.now(UTC), time.perf_counter()
    progress = start
    async with heartbeat(dispatcher):
        if profiler:
            profiler.enable()
        while len(carrier.order_dials) < args.due:
            if await dispatcher.tick():
                progress = time.perf_counter()
            elif time.perf_counter() - progress > args.lease + 5:
                # An attempt whose dial transaction failed is redialed by recovery once its
                # lease expires; past that, nothing more will come.
                print(f"  drain stalled: {len(carrier.order_dials)}/{args.due} dialed", flush=True)
                break
            else:
                await asyncio.sleep(0.01)  # nothing due now (all claimed, some awaiting recovery)
            if time.perf_counter() - start > args.timeout:
                print(f"  drain timed out: {len(carrier.order_dials)}/{args.due} dialed", flush=True)
                break
        if profiler:
            profiler.disable()
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu0
    stats.close()
    dials = list(carrier.dials.values())
    last = max((d.mono for d in dials), default=start)
    latencies = [(d.wall - start_wall).total_seconds() * 1000 for d in dials if d.order_id in due_by_id]
    if args.explain_all and not any(line.startswith("-- expired") for line in case.plans):
        case.plans += await explain_tick_queries(engine, case.org_id, dispatcher.worker, args.batch)
    if profiler:
        out = io.StringIO()
        ps = pstats.Stats(profiler, stream=out)
        ps.sort_stats("tottime").print_stats(30)
        ps.sort_stats("cumulative").print_stats(r"openrevox", 25)
        case.plans += [f"-- cProfile of a drain ({case.backend}, {case.future:,} future)", *out.getvalue().splitlines()]
    result = result_of(
        case, "drain", args, carrier, timer, stats,
        wall=wall, attempts_per_s=len(dials) / (last - start) if dials and last > start else 0.0,
        latencies=latencies, cpu=cpu, rt=rt, load=load,
    )  # fmt: skip
    await reset_live(engine)
    return result


def result_of(case: Case, scenario: str, args: argparse.Namespace, carrier, timer, stats, *, wall: float,  # noqa: ANN001
              attempts_per_s: float, latencies: list[float], cpu: float, rt: float, load: float) -> Result:  # fmt: skip
    """A scenario's Result from what it measured."""
    per_attempt, commits, top = summarize_sql(stats, len(carrier.dials))
    return Result(
        backend=case.backend,
        future=case.future,
        scenario=scenario,
        due=args.due,
        dialed=len(carrier.order_dials),
        double_dials=sum(1 for c in carrier.order_dials.values() if c > 1),
        wall_s=wall,
        attempts_per_s=attempts_per_s,
        latencies_ms=latencies,
        ticks=timer.ticks,
        busy_ticks=timer.busy_ticks,
        breakdown_ms=timer.breakdown_ms(),
        statements_per_attempt=per_attempt,
        commits_per_attempt=commits,
        cpu_share=cpu / wall if wall else 0.0,
        top_statements=top,
        load_s=case.load_s,
        max_tick_ms=timer.max_tick_s * 1000,
        dial_errors=timer.dial_errors,
        roundtrip_us=rt,
        loadavg=load,
    )


async def steady(case: Case, rate: float, args: argparse.Namespace) -> Result:
    engine = case.engine
    await warm_up(case, args)
    carrier = RecordingCarrier()
    dispatcher = new_dispatcher(engine, carrier, args)
    rt = await roundtrip_us(engine, 100)
    load = os.getloadavg()[0]
    lead = 1.5  # seconds between the insert and the first due order: the insert must finish first
    first = datetime.now(UTC) + timedelta(seconds=lead)
    due_times = [first + timedelta(seconds=i / rate) for i in range(args.due)]
    due_by_id = await insert_due(engine, case.template, due_times, "scheduled")
    late_by = (datetime.now(UTC) - first).total_seconds()
    if late_by > -0.2:
        print(f"  warning: inserting took too long; the first order was due {late_by * 1000:.0f} ms ago", flush=True)
    carrier.expect(args.due)
    timer = TickTimer(dispatcher)
    stats = SqlStats(engine)
    task = asyncio.create_task(dispatcher.run(), name="bench-dispatcher")
    # Count only the ticks from the first due instant on (the lead is idle polling).
    await asyncio.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()))
    timer.reset()
    stats.reset()
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    try:
        await asyncio.wait_for(carrier.done.wait(), args.due / rate + args.timeout)
    except TimeoutError:
        print(f"  steady {rate:g}/s stalled: {len(carrier.order_dials)}/{args.due} dialed", flush=True)
    wall = time.perf_counter() - start
    cpu = cpu_seconds() - cpu0
    dispatcher.stop()
    await task
    stats.close()
    dials = list(carrier.dials.values())
    latencies = [(d.wall - due_by_id[d.order_id]).total_seconds() * 1000 for d in dials if d.order_id in due_by_id]
    result = result_of(
        case, f"steady {rate:g}/s", args, carrier, timer, stats,
        wall=wall, attempts_per_s=len(dials) / wall if wall else 0.0, latencies=latencies, cpu=cpu, rt=rt, load=load,
    )  # fmt: skip
    await reset_live(engine)
    return result


async def measure(case: Case, scenario, *args) -> Result:  # noqa: ANN001
    try:
        return await scenario(case, *args)
    finally:
        await case.engine.dispose()


@contextlib.contextmanager
def postgres_database(admin_url: str):  # noqa: ANN201
    import psycopg

    name = f"openrevox_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urllib.parse.urlsplit(admin_url)
    try:
        yield urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg", path="/" + name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def sqlite_database():  # noqa: ANN201
    workdir = Path(tempfile.mkdtemp(prefix="openrevox-bench-dispatch-"))
    try:
        yield f"sqlite+aiosqlite:///{workdir / 'openrevox.db'}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def run_backend(backend: str, args: argparse.Namespace) -> tuple[list[Result], list[Case]]:
    """One fresh database per future count, all loaded first; then every scenario runs on each in
    turn (repeated `--repeat` times), so a change in the machine's load hits both alike."""
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        cases = []
        for future in args.futures:
            url = stack.enter_context(
                postgres_database(args.postgres_url) if backend == "postgres" else sqlite_database()
            )
            cases.append(await prepare_case(backend, future, url, args))
        for rep in range(args.repeat):
            for case in cases:
                print(f"  {backend} {case.future:,} future: drain of {args.due} due (run {rep + 1}) ...", flush=True)
                results.append(await measure(case, drain, args))
            for rate in args.rates:
                for case in cases:
                    print(f"  {backend} {case.future:,} future: steady {rate:g}/s (run {rep + 1}) ...", flush=True)
                    results.append(await measure(case, steady, rate, args))
    return results, cases


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: list[Result], cases: list[Case], args: argparse.Namespace) -> None:
    print()
    print(
        f"batch {args.batch}, interval {args.interval:g} s (steady), lease {args.lease:g} s, {args.due} due per "
        f"scenario, {os.cpu_count()} cores, loop {args.loop_name}, {args.repeat} run(s) each, "
        f"{args.paused:,} overdue paused orders and {args.history:,} finished orders+attempts in every database.\n"
        "drain latency = dial − start (all due before the start, so p99 ≈ drain time); "
        "steady latency = dial − next_attempt_at. ticks = all/busy; per-tick phase times are over busy ticks\n"
        "cpu = this process's CPU / wall, cpu ms/att = its CPU per attempt (what a busy machine does not change); "
        "rt us = median `SELECT 1` round trip just before (the machine's pace); "
        "load = 1-min load average then (shared machine)."
    )
    header = (
        f"{'backend':<9} {'future rows':>11} {'scenario':<13} {'dialed':>7} {'attempts/s':>10}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'ticks':>9} {'claim ms/tick':>13} {'dial ms/tick':>12}"
        f" {'other ms/tick':>13} {'idle tick ms':>12} {'SQL/att':>7} {'commits/att':>11} {'cpu':>5} {'cpu ms/att':>10}"
        f" {'rt us':>6} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        b = r.breakdown_ms
        print(
            f"{r.backend:<9} {r.future:>11,} {r.scenario:<13} {r.dialed:>7} {r.attempts_per_s:>10.1f}"
            f" {r.p(50):>8.1f} {r.p(99):>8.1f} {max(r.latencies_ms, default=float('nan')):>8.1f}"
            f" {f'{r.ticks}/{r.busy_ticks}':>9} {b['claim']:>13.2f} {b['dial']:>12.2f}"
            f" {b['recover'] + b['hang_up']:>13.2f}"
            f" {b['idle_tick']:>12.2f}"
            f" {r.statements_per_attempt:>7.1f} {r.commits_per_attempt:>11.1f} {r.cpu_share:>5.0%}"
            f" {r.cpu_share * r.wall_s / max(r.dialed, 1) * 1000:>10.2f}"
            f" {r.roundtrip_us:>6.0f} {r.loadavg:>5.1f}"
        )

    groups: dict[tuple[str, int, str], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.backend, r.future, r.scenario)].append(r)

    def agg(runs: list[Result]) -> tuple[float, float, float, float]:
        return (
            median([r.attempts_per_s for r in runs]),
            median([r.p(50) for r in runs]),
            median([r.p(99) for r in runs]),
            median([r.breakdown_ms["claim"] for r in runs]),
        )

    print()
    print("summary (median over the runs of each run's attempts/s, p50, p99 and claim ms per busy tick)")
    header = (
        f"{'backend':<9} {'scenario':<13} {'future rows':>11} {'load s':>7} {'attempts/s':>10} {'p50 ms':>8}"
        f" {'p99 ms':>8} {'claim ms/tick':>13} {'vs 0 future':>12}  goals"
    )
    print(header)
    print("-" * len(header))
    loads = {(c.backend, c.future): c.load_s for c in cases}
    base_future = min(args.futures)
    verdicts = []
    for (backend, future, scenario), runs in groups.items():
        rate, p50, p99, claim = agg(runs)
        base = groups.get((backend, base_future, scenario))
        goals = []
        if scenario == "drain":
            goals.append(f"≥{GOAL_ATTEMPTS_PER_S:.0f}/s {'met' if rate >= GOAL_ATTEMPTS_PER_S else 'NOT met'}")
        else:
            goals.append(f"p99<{GOAL_P99_MS:.0f}ms {'met' if p99 < GOAL_P99_MS else 'NOT met'}")
        versus = ""
        if base and future != base_future:
            b_rate, b_p50, b_p99, b_claim = agg(base)
            if scenario == "drain":
                ratio = rate / b_rate if b_rate else float("nan")
                ok = ratio >= 1 - GOAL_FUTURE_RATIO
                versus = f"×{ratio:.2f}/s"
                goals.append(f"within 20% {'met' if ok else 'NOT met'} (claim ×{claim / b_claim:.2f})")
            else:
                ratio = p99 / b_p99 if b_p99 else float("nan")
                ok = ratio <= 1 + GOAL_FUTURE_RATIO
                versus = f"×{ratio:.2f} p99"
                goals.append(f"within 20% {'met' if ok else 'NOT met'} (p50 ×{p50 / b_p50:.2f})")
        print(
            f"{backend:<9} {scenario:<13} {future:>11,} {loads.get((backend, future), 0):>7.1f} {rate:>10.1f}"
            f" {p50:>8.1f} {p99:>8.1f} {claim:>13.2f} {versus:>12}  {'; '.join(goals)}"
        )
        verdicts.append(goals)

    print()
    print("where a busy tick's time goes (ms: recover + hang-up + claim + dial; statement times are")
    print("summed over concurrent connections and include waiting for the event loop, so they exceed wall time):")
    for r in results:
        b = r.breakdown_ms
        print(
            f"  {r.backend} {r.future:,} future {r.scenario}: tick {b['tick']:.2f} = recover {b['recover']:.2f} + "
            f"hang-up {b['hang_up']:.2f} + claim {b['claim']:.2f} + dial {b['dial']:.2f}; "
            f"max tick {r.max_tick_ms:.1f} ms"
        )
        print("    " + ", ".join(f"{kind} ×{count} {ms:.0f} ms" for kind, count, ms in r.top_statements))
    for r in results:
        for error, count in r.dial_errors.items():
            print(
                f"  {r.backend} {r.future:,} future {r.scenario}: {count} dial task(s) raised "
                f"(swallowed by tick): {error}"
            )
    for r in results:
        if r.dialed < r.due or r.double_dials:
            print(
                f"ERROR {r.backend} {r.future:,} {r.scenario}: {r.dialed}/{r.due} dialed, "
                f"{r.double_dials} dialed twice"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--due", type=int, default=1000, help="due orders per scenario")
    parser.add_argument("--future", default="0,1000000", help="comma-separated counts of future orders")
    parser.add_argument("--batch", type=int, default=100, help="the dispatcher's batch (orders claimed per pass)")
    parser.add_argument("--rates", default="200,500", help="comma-separated arrival rates (orders/s) for steady runs")
    parser.add_argument("--interval", type=float, default=0.02, help="the dispatcher's idle interval in steady runs")
    parser.add_argument("--lease", type=float, default=15.0, help="the dispatcher's lease seconds")
    parser.add_argument(
        "--paused", type=int, default=0, help="also load this many paused orders, overdue, into every database"
    )
    parser.add_argument(
        "--history", type=int, default=0,
        help="also load this many finished orders, each with a completed attempt, into every database",
    )
    parser.add_argument(
        "--max-live-calls", type=int, default=None,
        help="the dispatcher's cap on live calls (calls never end here: give it room for every order)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=1, help="runs of every scenario on every database")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a scenario counts as stalled")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each drain")
    parser.add_argument("--explain-all", action="store_true", help="also explain the other per-tick queries")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (as `openrevox serve` under uvicorn)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OPENREVOX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="admin URL used to create and drop the benchmark database",
    )
    args = parser.parse_args(argv)
    args.futures = [int(x) for x in args.future.split(",") if x.strip()]
    args.rates = [float(x) for x in args.rates.split(",") if x.strip()]
    dispatcher_log = logging.getLogger("openrevox.dispatcher")
    dispatcher_log.addHandler(DISPATCHER_LOG)
    dispatcher_log.propagate = False
    args.loop_name = "asyncio"
    if args.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        args.loop_name = "uvloop"

    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[Result] = []
    cases: list[Case] = []
    for backend in backends:
        t0 = time.perf_counter()
        backend_results, backend_cases = asyncio.run(run_backend(backend, args))
        results += backend_results
        cases += backend_cases
        for case in backend_cases:
            print(f"plans on {backend} with {case.future:,} future orders:")
            for line in case.plans:
                print(line)
        print(f"({backend}: {time.perf_counter() - t0:.0f} s in all)", flush=True)
    report(results, cases, args)
    if DISPATCHER_LOG.counts:
        print(f"dispatcher log: {dict(DISPATCHER_LOG.counts)}; first: {DISPATCHER_LOG.samples}")
    return 1 if any(r.dialed < r.due or r.double_dials for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
