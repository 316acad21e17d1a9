"""Shared fixtures: a real `openrevox serve` process on SQLite and on PostgreSQL.

PostgreSQL tests skip when no server is reachable, unless OPENREVOX_REQUIRE_POSTGRES=1
(as in CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

# Module fixtures run once per database: `@pytest.fixture(scope="module", params=BACKENDS)`.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
POSTGRES_ADMIN_URL = os.environ.get("OPENREVOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("OPENREVOX_REQUIRE_POSTGRES") == "1"
# Servers the tests start stop at once when told to, whatever calls they run (the tests of the
# drain set their own): a drain would hold each teardown until its calls end.
os.environ["OPENREVOX_DRAIN_SECONDS"] = "0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def fresh_postgres_database() -> str:
    """A new empty database; returns its SQLAlchemy URL."""
    name = f"openrevox_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_url_for(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'openrevox.db'}"
    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (OPENREVOX_REQUIRE_POSTGRES=1) but {POSTGRES_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL is not reachable")
    return fresh_postgres_database()


@dataclass
class LiveServer:
    base_url: str
    api_key: str
    other_api_key: str  # a key of another organization, for the walls between them
    database_url: str
    env: dict[str, str]
    process: subprocess.Popen

    def client(self, api_key: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {api_key or self.api_key}"}, timeout=30
        )


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "openrevox.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def start_server(database_url: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {
        **os.environ,
        "OPENREVOX_DATABASE_URL": database_url,
        "OPENREVOX_DATA_DIR": str(data_dir),
        "OPENREVOX_API_KEY": f"sk_test_{uuid.uuid4().hex}",
        **(extra_env or {}),
    }
    other_key = run_cli(env, "keys", "create", "--org", "other-org")
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "openrevox.cli", "serve", "--port", str(port), "--no-access-log"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("server did not become healthy in 60 s")
    return LiveServer(base_url, env["OPENREVOX_API_KEY"], other_key, database_url, env, process)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@contextmanager
def live_server(
    backend: str, data_dir: Path, extra_env: dict[str, str] | None = None, personas: dict | None = None
) -> Iterator[LiveServer]:
    """A server of the caller's own on a fresh `backend` database (dropped after), with extra
    sandbox `personas` when given."""
    env = dict(extra_env or {})
    if personas:
        path = data_dir / "personas.json"
        path.write_text(json.dumps(personas))
        env["OPENREVOX_SANDBOX_PERSONAS"] = str(path)
    url = database_url_for(backend, data_dir)  # skips (or fails) here when PostgreSQL is unreachable
    try:
        live = start_server(url, data_dir, env)
        try:
            yield live
        finally:
            stop_server(live)
    finally:
        if backend == "postgres":
            drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, tmp_path_factory) -> LiveServer:
    """One live server per backend for the whole session (tests create their own data)."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    url = database_url_for(request.param, data_dir)
    live = start_server(url, data_dir)
    yield live
    stop_server(live)
    if request.param == "postgres":
        drop_postgres_database(url)


@pytest.fixture
def sdk_env(server: LiveServer, monkeypatch) -> LiveServer:
    """REVOX_BASE_URL and REVOX_API_KEY set, as a user of the official SDK would."""
    monkeypatch.setenv("REVOX_BASE_URL", server.base_url)
    monkeypatch.setenv("REVOX_API_KEY", server.api_key)
    return server


@pytest.fixture
def silero_without_gathering(monkeypatch) -> None:
    """For tests that feed a call's audio faster than it plays: a steady call's Silero window
    waiting for other calls' (`SileroBatches.GATHER_SECS`, nothing beside a live call's 40 ms
    frames) would be most of their time. Scores and decisions are the same either way."""
    from openrevox.agent.audio_models import SileroBatches

    monkeypatch.setattr(SileroBatches, "GATHER_SECS", 0.0)
