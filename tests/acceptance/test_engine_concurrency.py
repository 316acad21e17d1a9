"""A concurrency key holds across processes: one `openrevox serve` and four `openrevox worker`s
share one PostgreSQL database; 200 orders with {"key": "k", "max": 3} never have more than three
calls live at once, and every order is dialed exactly once.

The proof is read from the database afterwards: every attempt's [started_at, ended_at] interval
(started_at is written before the carrier is asked to dial, ended_at when the call ended), swept
in time order.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from conftest import LiveServer, database_url_for, drop_postgres_database, start_server, stop_server
import polling

pytestmark = pytest.mark.postgres

ORDERS = 200
LIMIT = 3
WORKERS = 4
# A callee of this test's own: it answers after 0.5 s, says hello, hears the agent's answer (the
# offline responder, ~5 s of speech) and listens 1 s more: at speed 20 a call lasts about 0.4 s,
# an agent session included (~10 ms of CPU). Five processes polling every 0.25 s on a small
# machine keep a freed slot idle well under that.
SPEED = 20
CALLEE = "+12025557777"
PERSONAS = {CALLEE: {"outcomes": ["human"], "ring_secs": 0.5, "talk_secs": 1.0, "lines": ["Hello?"]}}
ENV = {
    "OPENREVOX_SANDBOX_SPEED": str(SPEED),
    "OPENREVOX_DISPATCH_INTERVAL": "0.25",
    "OPENREVOX_ORG_CONCURRENCY_LIMIT": "1000",
    "OPENREVOX_LEASE_SECONDS": "15",
}
ALL_DAY = {
    "calling_windows": [
        {"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 1}
    ],
    "max_retry_attempts": 0,
}


wait_for = functools.partial(polling.wait_for, interval=0.1)


def psycopg_url(database_url: str) -> str:
    return "postgresql://" + database_url.split("://", 1)[1]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 - the child keeps it; closed when the test ends
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "openrevox.cli", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        out.close()


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def worker_id(log: Path) -> str | None:
    for line in log.read_text().splitlines():
        if line.startswith("openrevox worker ") and line.endswith(" running"):
            return line.split()[2]
    return None


@pytest.fixture
def cluster(tmp_path):
    """serve (the API, dispatching too) plus four workers on one fresh database."""
    url = database_url_for("postgres", tmp_path)
    workers: list[subprocess.Popen] = []
    live: LiveServer | None = None
    try:
        personas = tmp_path / "personas.json"
        personas.write_text(json.dumps(PERSONAS))
        live = start_server(url, tmp_path, extra_env={**ENV, "OPENREVOX_SANDBOX_PERSONAS": str(personas)})
        logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
        workers.extend(start_worker(live.env, log) for log in logs)
        ids = wait_for(
            lambda: all(worker_id(log) for log in logs) and [worker_id(log) for log in logs],
            60,
            what="the workers to start",
        )
        yield live, ids
    finally:
        for process in workers:
            stop_process(process)
        if live is not None:
            stop_server(live)
        drop_postgres_database(url)


def max_overlap(intervals: list[tuple]) -> int:
    """The most intervals open at one instant; one ending when another starts does not overlap."""
    events = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    events.sort(key=lambda e: (e[0], e[1]))  # at equal times, ends (-1) before starts (+1)
    live = peak = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def test_concurrency_key_is_never_exceeded_across_processes(cluster):
    live, worker_ids = cluster
    began = time.monotonic()
    with live.client() as http:
        for i in range(ORDERS):
            response = http.post(
                "/call",
                json={
                    "phone_number": CALLEE,
                    "assistant": {"prompt": "Say hello", "call_retry_config": ALL_DAY},
                    "concurrency": {"key": "k", "max": LIMIT},
                    "force_now": True,
                    "metadata": {"n": str(i)},
                },
            )
            assert response.status_code == 200, response.text

    with psycopg.connect(psycopg_url(live.database_url), autocommit=True) as db:

        def completed() -> int:
            return db.execute("SELECT count(*) FROM call_orders WHERE status = 'completed'").fetchone()[0]

        def settled() -> bool:
            return completed() == ORDERS

        deadline = 150
        try:
            wait_for(settled, deadline, interval=0.5, what=f"all {ORDERS} orders to complete")
        except pytest.fail.Exception:
            statuses = db.execute("SELECT status, count(*) FROM call_orders GROUP BY status").fetchall()
            pytest.fail(f"not all completed after {deadline} s: {statuses}")
        elapsed = time.monotonic() - began

        orders = db.execute("SELECT id, status, calls_count FROM call_orders").fetchall()
        attempts = db.execute(
            "SELECT id, order_id, status, result, started_at, ended_at, lease_owner FROM call_attempts"
        ).fetchall()
        dials = db.execute("SELECT attempt_id, worker, dialed_at FROM sandbox_dials").fetchall()
        slots = db.execute("SELECT scope, slot, attempt_id FROM concurrency_slots").fetchall()

    assert len(orders) == ORDERS
    assert {status for _, status, _ in orders} == {"completed"}
    assert all(calls_count == 1 for _, _, calls_count in orders)

    # Exactly one attempt per order, each a conversation the callee ended (no retries).
    per_order = Counter(order_id for _, order_id, *_ in attempts)
    assert len(per_order) == ORDERS and set(per_order.values()) == {1}
    for attempt_id, _, status, result, started_at, ended_at, lease_owner in attempts:
        assert (status, result) == ("completed", "human"), attempt_id
        assert started_at is not None and ended_at is not None and started_at <= ended_at, attempt_id
        assert lease_owner is None, attempt_id

    assert slots == [], f"slots left held: {slots}"

    # Each attempt dialed exactly once, by several processes.
    dialed = Counter(attempt_id for attempt_id, _, _ in dials)
    assert set(dialed) == {a[0] for a in attempts}
    assert set(dialed.values()) == {1}, [a for a, n in dialed.items() if n > 1]
    by_worker = Counter(worker for _, worker, _ in dials)
    print(f"\n{ORDERS} orders completed in {elapsed:.1f} s; dials per process: {dict(by_worker)}")
    assert len(by_worker) >= 2, f"only {set(by_worker)} dialed"
    assert set(by_worker) & set(worker_ids), "no `openrevox worker` process dialed"

    # Never more than LIMIT calls at once, and the limit was actually reached: first as the
    # carrier saw them (from its dial to the end of the call)...
    dialed_at = {attempt_id: at for attempt_id, _, at in dials}
    by_dial = max_overlap([(dialed_at[a[0]], a[5]) for a in attempts])
    assert by_dial <= LIMIT, f"{by_dial} calls were on the line at once with a limit of {LIMIT}"
    assert by_dial == LIMIT, f"at most {by_dial} calls ran at once: the limit of {LIMIT} was never used"

    # ...then as the API reports them: started_at is written just before the carrier is asked to
    # dial, so [started_at, ended_at] must obey the limit too.
    for attempt_id, _, _, _, started_at, _, _ in attempts:
        assert started_at <= dialed_at[attempt_id], attempt_id
    lags = sorted((dialed_at[a[0]] - a[4]).total_seconds() for a in attempts)
    peak = max_overlap([(started_at, ended_at) for _, _, _, _, started_at, ended_at, _ in attempts])
    assert peak <= LIMIT, (
        f"{peak} attempts overlap by [started_at, ended_at] with a limit of {LIMIT} (by dial time: {by_dial}); "
        f"started_at precedes the carrier's dial by {lags[len(lags) // 2]:.3f} s (median), {lags[-1]:.3f} s (max)"
    )
    assert peak == LIMIT
