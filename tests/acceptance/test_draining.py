"""A real `openrevox serve` told to stop while a call is live: it takes no new call, answers
/health with 503, lets the call end as it would have, then exits; a second signal, a second or
more later, hangs up at once."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import httpx
import pytest
import sqlalchemy as sa

from conftest import LiveServer, start_server
from openrevox.orders.tables import call_attempts, call_orders

a = call_attempts.c

ALL_DAY = {"calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00",
                                "retry_delay_seconds": 60}], "max_retry_attempts": 0}  # fmt: skip
# A callee who says hello, then stays on the line for a few seconds, whatever the agent says.
LISTENER = {"+12025550123": {"outcomes": ["human"], "ring_secs": 0.2, "talk_secs": 6, "lines": ["Hello?"]}}


@pytest.fixture
def server(tmp_path) -> LiveServer:
    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps(LISTENER))
    env = {"OPENREVOX_DRAIN_SECONDS": "60", "OPENREVOX_SANDBOX_PERSONAS": str(personas),
           "OPENREVOX_DISPATCH_INTERVAL": "0.05"}  # fmt: skip
    server = start_server(f"sqlite:///{tmp_path / 'openrevox.db'}", tmp_path, env)
    yield server
    server.process.kill()
    server.process.wait(10)


def create(http: httpx.Client, number: str) -> str:
    assistant = {"prompt": "Hi", "call_retry_config": ALL_DAY}
    response = http.post("/call", json={"phone_number": number, "assistant": assistant})
    assert response.status_code == 200, response.text
    return response.json()["call"]["id"]


def attempt_when(http: httpx.Client, call_id: str, status: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (attempt := http.get(f"/call/{call_id}").json()["call"]["last_call_attempt"]) is None or (
        attempt["status"] != status
    ):
        assert time.monotonic() < deadline, f"call {call_id}: attempt {attempt}"
        time.sleep(0.05)
    return attempt


def exited(process: subprocess.Popen, timeout: float) -> float:
    """Seconds it took `process` to exit."""
    start = time.monotonic()
    process.wait(timeout)
    return time.monotonic() - start


def test_a_stopping_server_lets_its_live_call_end_and_takes_no_new_one(server) -> None:
    with server.client() as http:
        live = create(http, "+12025550123")
        attempt_when(http, live, "ongoing")
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while http.get("/health").status_code != 503:
            assert time.monotonic() < deadline, "/health still says ready"
            time.sleep(0.05)
        assert http.get("/health").json() == {"status": "draining"}
        waiting = create(http, "+12025550199")  # the API still answers; nothing new is dialed
        assert exited(server.process, timeout=30) > 1  # it waited for the call, which had seconds to go
    engine = sa.create_engine(server.database_url)
    with engine.connect() as conn:
        query = sa.select(a.order_id, a.status, a.result, a.ended_by).where(a.order_id.in_([live, waiting]))
        # The call ended as planned (the callee hung up); the order placed while draining was never dialed.
        assert [tuple(row) for row in conn.execute(query)] == [(live, "completed", "human", "user")]
        assert conn.scalar(sa.select(call_orders.c.status).where(call_orders.c.id == live)) == "completed"
    engine.dispose()


def test_a_second_signal_later_hangs_up_at_once(server) -> None:
    with server.client() as http:
        live = create(http, "+12025550123")
        attempt_when(http, live, "ongoing")
        server.process.send_signal(signal.SIGTERM)
        # At the same moment: the same request (Ctrl+C, then uvicorn's supervisor's SIGTERM).
        server.process.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert server.process.poll() is None and http.get("/health").status_code == 503  # still draining
        server.process.send_signal(signal.SIGTERM)
        assert exited(server.process, timeout=10) < 3
    engine = sa.create_engine(server.database_url)
    with engine.connect() as conn:
        query = sa.select(a.status, a.result, a.ended_by).where(a.order_id == live)
        assert [tuple(row) for row in conn.execute(query)] == [("completed", "human", "system")]  # hung up on
    engine.dispose()
