"""When PostgreSQL restarts under a running server, its pooled connections die: the request that
meets a dead one answers 503 with Retry-After (never a 500), the pool reconnects, and the request
sent again succeeds — the official SDK does that by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from conftest import POSTGRES_ADMIN_URL, live_server
from revox import Revox

# The background loops make one pass at start, then rest: only the requests touch the pool.
QUIET = {"OPENREVOX_DISPATCH_INTERVAL": "600", "OPENREVOX_WEBHOOK_INTERVAL": "600"}


def drop_connections(database_url: str) -> int:
    """What a PostgreSQL restart does to the server's connections: every one of them ends."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
def test_a_lost_database_connection_answers_503_and_the_request_sent_again_succeeds(tmp_path):
    with live_server("postgres", tmp_path, QUIET) as live, live.client() as http:
        week_ahead = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        created = http.post("/call", json={"phone_number": "+12025550123", "assistant": {"prompt": "Hi"}, "scheduled_at": week_ahead})
        call_id = created.json()["call"]["id"]

        assert drop_connections(live.database_url) >= 1
        lost = http.get(f"/call/{call_id}")
        assert lost.status_code == 503
        assert lost.headers["retry-after"] == "1"
        assert lost.json()["error"]["type"] == "service_unavailable"
        again = http.get(f"/call/{call_id}")
        assert again.status_code == 200 and again.json()["call"]["id"] == call_id

        # The SDK retries the 503 by itself: its caller never sees the restart.
        assert drop_connections(live.database_url) >= 1
        revox = Revox(api_key=live.api_key, base_url=live.base_url)
        assert revox.call.retrieve(call_id).call.id == call_id
