"""`openrevox serve --workers N`: one migration and one API key, then N processes on one port."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa

from conftest import database_url_for, drop_postgres_database, free_port


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_workers_start_together_with_one_key_created_once(backend, tmp_path):
    url = database_url_for(backend, tmp_path)
    port = free_port()
    env = {**os.environ, "OPENREVOX_DATABASE_URL": url, "OPENREVOX_DATA_DIR": str(tmp_path)}
    env.pop("OPENREVOX_API_KEY", None)  # none configured: one is created and printed, once
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "openrevox.cli", "serve", "--workers", "2", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while log_path.read_text().count("Application startup complete") < 2:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        text = log_path.read_text()
        assert text.count("created API key") == 1, text
        key = text.split("created API key for organization 'default': ")[1].split()[0]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as client:
            ids = set()
            for i in range(20):  # new connections, spread over both workers by the kernel
                response = client.post(
                    "/call", json={"phone_number": "+12125550123", "assistant": {"prompt": "Hi"}},
                    headers={"Connection": "close"},
                )  # fmt: skip
                assert response.status_code == 200, response.text
                ids.add(response.json()["call"]["id"])
            for call_id in ids:
                assert client.get(f"/call/{call_id}").status_code == 200
        engine = sa.create_engine(url)  # sqlite:///... or postgresql+psycopg://...
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT count(*) FROM api_keys")) == 1
            assert conn.scalar(sa.text("SELECT count(*) FROM call_orders")) == 20
        engine.dispose()
    finally:
        process.terminate()
        process.wait(30)
        if backend == "postgres":
            drop_postgres_database(url)
