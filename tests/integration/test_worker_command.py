"""`openrevox worker --port`: a dispatcher that serves its carrier's media sockets (and /health),
registered where inbound calls look for room, gone from there when it stops; nothing of the API.
What it does with calls is told over real sockets in tests/acceptance/test_process_capacity.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import free_port

TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "secret",
          "OPENREVOX_PUBLIC_URL": "https://calls.example.com"}  # fmt: skip


def worker_env(tmp_path, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENREVOX_", "TWILIO_", "TELNYX_"))}
    return {**env, "OPENREVOX_DATABASE_URL": f"sqlite:///{tmp_path / 'openrevox.db'}", **settings}


def run_worker(env: dict[str, str], port: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "openrevox.cli", "worker", "--port", str(port)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_it_refuses_to_serve_a_port_where_no_carrier_would_stream(tmp_path) -> None:
    sandbox = run_worker(worker_env(tmp_path), free_port())
    assert sandbox.returncode != 0 and "the sandbox carrier has no media sockets" in sandbox.stderr

    no_address = run_worker(worker_env(tmp_path, **TWILIO), free_port())
    assert no_address.returncode != 0 and "set OPENREVOX_MEDIA_URL" in no_address.stderr


def test_it_serves_media_sockets_registered_while_it_runs(tmp_path) -> None:
    port = free_port()
    media_url = f"ws://127.0.0.1:{port}"
    env = worker_env(tmp_path, **TWILIO, OPENREVOX_MEDIA_URL=media_url, OPENREVOX_MAX_LIVE_CALLS="7")
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        command = [sys.executable, "-m", "openrevox.cli", "worker", "--port", str(port), "--log-level", "warning"]
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    engine = sa.create_engine(env["OPENREVOX_DATABASE_URL"])
    try:
        registered = wait_for(lambda: registrations(engine), process, log_path)
        assert [(url, cap) for url, cap in registered] == [(media_url, 7)]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/health").status_code == 200
            assert http.get("/call").status_code == 404  # no API here
        with connect(f"{media_url}/telephony/twilio/media") as media:  # a stream that names no call of ours
            media.send(json.dumps({"event": "start", "start": {"callSid": "CA1", "customParameters": {}}}))
            assert media_closed_with(media) == 1008
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn stops cleanly, then raises the signal it caught again: the exit status says SIGTERM.
        assert process.wait(30) in (0, -signal.SIGTERM), log_path.read_text()
    assert registrations(engine) == []  # inbound calls stop coming at once
    engine.dispose()


def registrations(engine: sa.Engine) -> list[tuple[str, int]]:
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text("SELECT media_url, max_live_calls FROM media_hosts"))]
    except sa.exc.OperationalError:  # not migrated yet
        return []


def media_closed_with(media) -> int | None:  # noqa: ANN001
    try:
        media.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    return None


def wait_for(found, process: subprocess.Popen, log_path, timeout: float = 60):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while not (result := found()):
        assert process.poll() is None, log_path.read_text()
        assert time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.1)
    return result
