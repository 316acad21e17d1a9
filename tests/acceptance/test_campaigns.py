"""Campaigns through the official SDK revox==0.1.1, on SQLite and PostgreSQL.

The first part uses the session's shared server, with campaigns scheduled far in the future so
nothing is dialed. The second runs sandbox campaigns to completion on a server of this module's
own (sandbox a hundred times faster than real time, all-day windows, 1 s retries) and checks, from
the stored attempts, what the personas imply and that `max_concurrent_calls` was never exceeded.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import io
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
import revox
import sqlalchemy as sa
from conftest import BACKENDS, LiveServer, live_server
from revox import Revox

FAR_FUTURE = datetime(2099, 1, 1, 9, 0, tzinfo=UTC)
# Area codes in the Eastern time zone: with the last four digits they make distinct persona numbers.
AREAS = [201, 202, 203, 207, 212, 215, 239, 240, 267, 301, 302, 304, 305, 315, 321, 336, 347, 352, 386, 401,
         404, 407, 410, 412, 413, 434, 443, 470, 478, 484, 508, 516, 518, 540, 551, 561, 570, 585, 603, 607]  # fmt: skip
CAMPAIGN_FIELDS = {
    "id", "assistant_id", "name", "organization_id", "created_at", "updated_at", "is_cancelled", "status",
    "assistant", "call_retry_config", "from_phone_number", "max_concurrent_calls", "row_stats", "scheduled_at",
}  # fmt: skip


def persona(area: int, last_four: str) -> str:
    return f"+1{area}555{last_four}"


@pytest.fixture
def client(sdk_env) -> Revox:
    return Revox()


@pytest.fixture
def assistant_id(client: Revox) -> str:
    return client.assistants.create(name="Campaign agent", prompt="Call {{name}} about {{topic}}.").assistant.id


def contacts(n: int, last_four: str = "0100") -> list[dict]:
    return [
        {"to_phone_number": persona(AREAS[i % len(AREAS)], last_four), "prompt_variables": {"name": f"N{i}", "topic": "x"}}
        for i in range(n)
    ]


# -- the API, nothing dialed -----------------------------------------------------------------


def test_create_returns_the_campaign_with_every_field_and_its_rows_pending(client: Revox, assistant_id: str):
    retry = {"calling_windows": [{"calling_window_start_time": "9am", "calling_window_end_time": "17:00",
                                  "retry_delay_seconds": 600}], "max_retry_attempts": 2, "timezone": None}  # fmt: skip
    created = client.campaigns.create(
        assistant_id=assistant_id, name="Spring", contacts=contacts(12), call_retry_config=retry,
        from_phone_number="+12025550199", max_concurrent_calls=3, scheduled_at=FAR_FUTURE,
    ).campaign  # fmt: skip
    raw = created.model_dump()
    assert CAMPAIGN_FIELDS <= raw.keys()
    assert (created.name, created.assistant_id, created.status, created.is_cancelled) == (
        "Spring", assistant_id, "running", False
    )
    assert created.assistant.id == assistant_id
    assert created.max_concurrent_calls == 3 and created.from_phone_number == "+12025550199"
    assert created.call_retry_config.max_retry_attempts == 2
    assert created.scheduled_at == "2099-01-01T09:00:00.000Z"
    assert created.row_stats.model_dump() == {"calling": 0, "completed": 0, "failed": 0, "pending": 12, "retry": 0, "total": 12}

    assert client.campaigns.retrieve(created.id).campaign.row_stats.total == 12
    assert created.id in [c.id for c in client.campaigns.list().campaigns]

    page = client.campaigns.get_rows(created.id, page=1, page_size=5)
    assert (page.page, page.page_size, page.total) == (1, 5, 12)
    assert [r.row_index for r in page.rows] == [5, 6, 7, 8, 9]
    row = page.rows[0]
    assert row.phone_number == persona(AREAS[5], "0100")
    assert row.input_data == {"name": "N5", "topic": "x"}
    assert row.call.id == row.id and row.call.status == "scheduled"
    assert (row.call.campaign.id, row.call.campaign.name) == (created.id, "Spring")
    # The order, read as a call, names its campaign too.
    call = client.call.retrieve(row.call.id).call
    assert (call.campaign.id, call.campaign.name) == (created.id, "Spring")
    assert row.call.scheduled_at == "2099-01-01T09:00:00.000Z"
    assert row.call.from_phone_number == "+12025550199"
    assert row.call.call_retry_config.max_retry_attempts == 2


def test_rows_filter_on_text_status_and_result(client: Revox, assistant_id: str):
    campaign = client.campaigns.create(
        assistant_id=assistant_id, name="Filters", contacts=contacts(20), scheduled_at=FAR_FUTURE
    ).campaign
    found = client.campaigns.get_rows(campaign.id, page=0, page_size=50, query="N13")
    assert [r.row_index for r in found.rows] == [13] and found.total == 1
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=50, query=f"{AREAS[3]}555").total == 1
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=50, statuses="scheduled,calling").total == 20
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=50, statuses="completed").total == 0
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=50, result="none").total == 20
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=50, result="human").total == 0
    with pytest.raises(revox.UnprocessableEntityError):
        client.campaigns.get_rows(campaign.id, page=0, page_size=50, statuses="nonsense")


def test_export_is_csv_of_every_row_in_input_order(client: Revox, assistant_id: str):
    campaign = client.campaigns.create(
        assistant_id=assistant_id, name="Export me", contacts=contacts(7), scheduled_at=FAR_FUTURE
    ).campaign
    exported = client.campaigns.export_rows(campaign.id)
    assert exported.filename.endswith(".csv") and exported.filename.startswith("export-me-")
    rows = list(csv.DictReader(io.StringIO(exported.csv)))
    assert [int(r["row_index"]) for r in rows] == list(range(7))
    assert rows[2]["phone_number"] == persona(AREAS[2], "0100")
    assert (rows[2]["name"], rows[2]["topic"], rows[2]["status"], rows[2]["calls_count"]) == ("N2", "x", "scheduled", "0")


def test_bad_contacts_are_all_reported_by_index(client: Revox, assistant_id: str):
    bad = contacts(5)
    bad[1]["to_phone_number"] = "0612345678"
    bad[3]["prompt_variables"] = {"name": "no topic"}
    bad[4]["to_phone_number"] = "+1202555"
    bad.append({"to_phone_number": "+12025550100", "prompt_variables": {"name": "a\x00b", "topic": "x"}})
    with pytest.raises(revox.UnprocessableEntityError) as caught:
        client.campaigns.create(assistant_id=assistant_id, name="Bad", contacts=bad)
    error = caught.value.body["error"]
    assert error["param"] == "contacts.1.to_phone_number"
    assert [e["param"] for e in error["errors"]] == [
        "contacts.1.to_phone_number", "contacts.3.prompt_variables.topic", "contacts.4.to_phone_number",
        "contacts.5.prompt_variables.name",
    ]  # fmt: skip
    assert error["error_count"] == 4
    assert all(c.name != "Bad" for c in client.campaigns.list().campaigns)


def test_unknown_assistant_and_other_organizations_campaign_are_not_found(client: Revox, assistant_id: str, server):
    with pytest.raises(revox.NotFoundError) as caught:
        client.campaigns.create(assistant_id="nope", name="x", contacts=contacts(1))
    assert caught.value.body["error"]["param"] == "assistant_id"
    campaign = client.campaigns.create(assistant_id=assistant_id, name="Mine", contacts=contacts(1), scheduled_at=FAR_FUTURE).campaign
    other = Revox(api_key=server.other_api_key, base_url=server.base_url)
    for call in (other.campaigns.retrieve, other.campaigns.cancel, other.campaigns.delete, other.campaigns.export_rows):
        with pytest.raises(revox.NotFoundError):
            call(campaign.id)
    assert campaign.id not in [c.id for c in other.campaigns.list().campaigns]


def test_cancel_cancels_every_call_and_the_campaign_completes(client: Revox, assistant_id: str):
    campaign = client.campaigns.create(assistant_id=assistant_id, name="Stop", contacts=contacts(30), scheduled_at=FAR_FUTURE).campaign
    assert client.campaigns.cancel(campaign.id).success is True
    after = client.campaigns.retrieve(campaign.id).campaign
    assert (after.is_cancelled, after.status) == (True, "completed")
    assert after.row_stats.failed == 30 and after.row_stats.pending == 0
    assert client.campaigns.get_rows(campaign.id, page=0, page_size=100, statuses="cancelled").total == 30


def test_delete_removes_the_campaign_and_cancels_its_calls(client: Revox, assistant_id: str):
    campaign = client.campaigns.create(assistant_id=assistant_id, name="Gone", contacts=contacts(3), scheduled_at=FAR_FUTURE).campaign
    call_id = client.campaigns.get_rows(campaign.id, page=0, page_size=10).rows[0].call.id
    assert client.campaigns.delete(campaign.id).success is True
    with pytest.raises(revox.NotFoundError):
        client.campaigns.retrieve(campaign.id)
    assert client.call.retrieve(call_id).call.status == "cancelled"


def test_later_sdk_update_pause_resume_and_statistics(server: LiveServer, client: Revox, assistant_id: str):
    campaign = client.campaigns.create(assistant_id=assistant_id, name="Later", contacts=contacts(4), scheduled_at=FAR_FUTURE).campaign
    with server.client() as http:
        updated = http.patch(f"/campaigns/{campaign.id}", json={"name": "Renamed", "max_concurrent_calls": 2})
        assert updated.status_code == 200, updated.text
        assert (updated.json()["campaign"]["name"], updated.json()["campaign"]["max_concurrent_calls"]) == ("Renamed", 2)
        assert http.post(f"/campaigns/{campaign.id}/pause").json() == {"success": True}
        assert http.get(f"/campaigns/{campaign.id}").json()["campaign"]["status"] == "paused"
        assert client.campaigns.get_rows(campaign.id, page=0, page_size=10, statuses="paused").total == 4
        assert http.post(f"/campaigns/{campaign.id}/resume").json() == {"success": True}
        assert http.post(f"/campaigns/{campaign.id}/resume").status_code == 400
        assert client.campaigns.get_rows(campaign.id, page=0, page_size=10, statuses="scheduled").total == 4
        stats = http.get(f"/campaigns/{campaign.id}/statistics").json()["statistics"]
    assert stats["funnel"]["called"] == {"count": 0, "imported_rows": 4}
    assert stats["campaign"]["status"] == "running" and stats["campaign"]["has_activity"] is False


def test_ten_thousand_contacts_are_created_in_one_request_in_seconds(client: Revox, assistant_id: str):
    many = [
        {"to_phone_number": f"+1{AREAS[i % len(AREAS)]}{2000000 + i:07d}", "prompt_variables": {"name": str(i), "topic": "t"}}
        for i in range(10_000)
    ]
    started = time.monotonic()
    campaign = client.campaigns.create(assistant_id=assistant_id, name="Big", contacts=many, scheduled_at=FAR_FUTURE).campaign
    assert time.monotonic() - started < 15
    assert campaign.row_stats.total == 10_000
    last = client.campaigns.get_rows(campaign.id, page=9_999, page_size=1).rows[0]
    assert (last.row_index, last.input_data["name"]) == (9_999, "9999")


# -- sandbox campaigns to completion ---------------------------------------------------------

# Every answered sandbox call is a real agent session (a fraction of a second of CPU), so the
# sandbox runs fast and the mix leans on callees the carrier settles alone.
SPEED = 100
MAX_CONCURRENT = 40
ALL_DAY = {
    "calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 1}],
    "max_retry_attempts": 2,
    "timezone": None,
}  # fmt: skip
# Last four digits → (attempts, final call status, outcome), as the sandbox personas behave with
# two retries.
PERSONAS = {
    "0100": (1, "completed", "human"),
    "0103": (3, "completed", "busy"),
    "0104": (3, "completed", "no_answer"),
    "0105": (1, "errored", "number_non_attributed"),
    "0108": (3, "completed", "human"),  # voicemail, voicemail, then a human
}
# How many of each in 50 contacts; 40 such blocks (one area code each) make 2,000.
BLOCK = {"0100": 1, "0108": 1, "0103": 4, "0104": 4, "0105": 40}


def persona_mix() -> list[str]:
    """2,000 distinct numbers: per area code, one exchange per contact, the persona's last four."""
    numbers = []
    for area in AREAS:
        fours = [four for four, n in BLOCK.items() for _ in range(n)]
        numbers += [f"+1{area}{230 + j}{four}" for j, four in enumerate(fours)]
    return numbers


@pytest.fixture(scope="module", params=BACKENDS)
def sandbox_server(request, tmp_path_factory) -> LiveServer:
    env = {"OPENREVOX_SANDBOX_SPEED": str(SPEED), "OPENREVOX_DISPATCH_INTERVAL": "0.05",
           "OPENREVOX_ORG_CONCURRENCY_LIMIT": str(2 * MAX_CONCURRENT)}  # fmt: skip
    with live_server(request.param, tmp_path_factory.mktemp(f"campaigns-{request.param}"), env) as live:
        yield live


@pytest.fixture
def sandbox(sandbox_server: LiveServer) -> Revox:
    return Revox(api_key=sandbox_server.api_key, base_url=sandbox_server.base_url)


def sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite", "sqlite")


def stored_attempts(server: LiveServer, campaign_id: str) -> list[dict]:
    engine = sa.create_engine(sync_url(server.database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT a.started_at, a.ended_at, a.status FROM call_attempts a "
                    "JOIN call_orders o ON o.id = a.order_id WHERE o.campaign_id = :id AND a.started_at IS NOT NULL"
                ),
                {"id": campaign_id},
            )
            return [r._asdict() for r in rows]
    finally:
        engine.dispose()


def as_datetime(value: object) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def most_at_once(attempts: list[dict]) -> int:
    """Sweep line over [started_at, ended_at): the most attempts live at one instant."""
    events = sorted(
        [(as_datetime(a["started_at"]), 1) for a in attempts] + [(as_datetime(a["ended_at"]), -1) for a in attempts],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    live = peak = 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    return peak


def wait_completed(client: Revox, campaign_id: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign = client.campaigns.retrieve(campaign_id).campaign
        if campaign.status == "completed":
            return campaign
        time.sleep(0.25)
    raise AssertionError(f"campaign not completed in {timeout} s: {campaign.row_stats}")


def test_two_thousand_contacts_complete_as_the_personas_imply_within_the_campaign_concurrency(
    sandbox_server: LiveServer, sandbox: Revox
):
    assistant = sandbox.assistants.create(name="Sandbox", prompt="Say hello to {{name}}.").assistant
    numbers = persona_mix()
    assert len(set(numbers)) == 2_000
    body = [{"to_phone_number": n, "prompt_variables": {"name": n[-4:]}} for n in numbers]
    campaign = sandbox.campaigns.create(
        assistant_id=assistant.id, name="Personas", contacts=body, call_retry_config=ALL_DAY,
        max_concurrent_calls=MAX_CONCURRENT,
    ).campaign  # fmt: skip
    done = wait_completed(sandbox, campaign.id, timeout=300)

    per_persona = Counter(n[-4:] for n in numbers)
    finished = sum(n for four, n in per_persona.items() if PERSONAS[four][1] == "completed")
    assert done.row_stats.model_dump() == {
        "calling": 0, "completed": finished, "failed": len(numbers) - finished, "pending": 0, "retry": 0,
        "total": len(numbers),
    }  # fmt: skip
    for page in range(len(numbers) // 100):
        for row in sandbox.campaigns.get_rows(campaign.id, page=page, page_size=100).rows:
            attempts, status, _ = PERSONAS[row.phone_number[-4:]]
            assert (row.call.status, row.call.calls_count) == (status, attempts), row.phone_number

    with httpx.Client(base_url=sandbox_server.base_url, headers={"Authorization": f"Bearer {sandbox_server.api_key}"}) as http:
        stats = http.get(f"/campaigns/{campaign.id}/statistics").json()["statistics"]
    reached = per_persona["0100"] + per_persona["0108"]
    assert stats["funnel"]["called"] == {"count": len(numbers), "imported_rows": len(numbers)}
    assert stats["funnel"]["reached"]["count"] == reached
    # Every human persona speaks its lines to the agent: each reached contact had a conversation.
    assert stats["funnel"]["conversations"]["count"] == reached
    expected_outcomes = Counter()
    expected_attempts = Counter()
    for four, n in per_persona.items():
        attempts, _, outcome = PERSONAS[four]
        expected_outcomes[outcome] += n
        expected_attempts[attempts] += n
    assert {o["outcome"]: o["count"] for o in stats["outcome_breakdown"]} == expected_outcomes
    assert {a["attempts"]: a["contacts"] for a in stats["attempts_per_contact"]} == expected_attempts
    total_attempts = sum(n * PERSONAS[four][0] for four, n in per_persona.items())
    assert stats["effort"]["calls_total"] == total_attempts
    assert stats["campaign"]["status"] == "completed"

    attempts = stored_attempts(sandbox_server, campaign.id)
    assert len(attempts) == total_attempts
    assert 1 < most_at_once(attempts) <= MAX_CONCURRENT


def test_no_attempt_starts_after_cancel_returns(sandbox_server: LiveServer, sandbox: Revox):
    assistant = sandbox.assistants.create(name="Sandbox", prompt="Hello.").assistant
    body = [{"to_phone_number": persona(area, "0100"), "prompt_variables": {}} for area in AREAS * 2]
    campaign = sandbox.campaigns.create(
        assistant_id=assistant.id, name="Cancel me", contacts=body, call_retry_config=ALL_DAY, max_concurrent_calls=3
    ).campaign
    deadline = time.monotonic() + 60
    while sandbox.campaigns.retrieve(campaign.id).campaign.row_stats.completed < 5:
        assert time.monotonic() < deadline, "no call completed in 60 s"
        time.sleep(0.1)
    sandbox.campaigns.cancel(campaign.id)
    cancelled_at = datetime.now(UTC)
    time.sleep(1.5)  # well past several dispatcher passes and any call that was live

    after = sandbox.campaigns.retrieve(campaign.id).campaign
    assert after.is_cancelled and after.status == "completed"
    assert after.row_stats.completed + after.row_stats.failed == len(body)
    assert after.row_stats.failed > 0
    # Every human persona completes once called: the rest were cancelled, and the rows say so.
    assert sandbox.campaigns.get_rows(campaign.id, page=0, page_size=100, statuses="cancelled").total == after.row_stats.failed
    attempts = stored_attempts(sandbox_server, campaign.id)
    assert attempts and max(as_datetime(a["started_at"]) for a in attempts) <= cancelled_at
    assert all(a["ended_at"] is not None and a["status"] in ("completed", "error") for a in attempts)  # none live


def test_pause_holds_every_call_until_resume_and_the_campaign_then_completes(sandbox_server: LiveServer, sandbox: Revox):
    assistant = sandbox.assistants.create(name="Sandbox", prompt="Hello.").assistant
    body = [{"to_phone_number": persona(area, "0100"), "prompt_variables": {}} for area in AREAS]
    campaign = sandbox.campaigns.create(
        assistant_id=assistant.id, name="Pause me", contacts=body, call_retry_config=ALL_DAY, max_concurrent_calls=2
    ).campaign
    deadline = time.monotonic() + 60
    while sandbox.campaigns.retrieve(campaign.id).campaign.row_stats.completed < 3:
        assert time.monotonic() < deadline, "no call completed in 60 s"
        time.sleep(0.1)
    with httpx.Client(base_url=sandbox_server.base_url, headers={"Authorization": f"Bearer {sandbox_server.api_key}"}) as http:
        assert http.post(f"/campaigns/{campaign.id}/pause").status_code == 200
        paused_at = datetime.now(UTC)
        time.sleep(1.5)  # the live calls (0.3 s each) finish; nothing new starts
        held = sandbox.campaigns.retrieve(campaign.id).campaign
        assert held.status == "paused" and held.row_stats.calling == 0
        assert held.row_stats.completed < len(body)
        assert max(as_datetime(a["started_at"]) for a in stored_attempts(sandbox_server, campaign.id)) <= paused_at
        assert http.post(f"/campaigns/{campaign.id}/resume").status_code == 200
    done = wait_completed(sandbox, campaign.id, timeout=120)
    assert done.row_stats.completed == len(body) and not done.is_cancelled
    assert len(stored_attempts(sandbox_server, campaign.id)) == len(body)


# -- the command line -----------------------------------------------------------------------


def run_campaign_cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    env = {**server.env, "OPENREVOX_API_KEY": server.api_key}
    return subprocess.run(
        [sys.executable, "-m", "openrevox.cli", "campaign", *args, "--base-url", server.base_url],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_creates_a_campaign_from_csv_and_watches_it_complete(sandbox_server: LiveServer, sandbox: Revox, tmp_path):
    assistant = sandbox.assistants.create(name="CLI", prompt="Hello {{first_name}}.", call_retry_config=ALL_DAY).assistant
    path = tmp_path / "contacts.csv"
    path.write_text("phone,first_name\n" + "".join(f"{persona(a, '0100')},Ann {a}\n" for a in AREAS[:6]))
    created = run_campaign_cli(sandbox_server, "create", "--assistant", assistant.id, "--name", "From CSV", str(path))
    assert created.returncode == 0, created.stderr
    assert "uploading" in created.stderr and "6 contacts" in created.stdout
    campaign_id = created.stdout.split()[1]
    row = sandbox.campaigns.get_rows(campaign_id, page=0, page_size=10).rows[2]
    assert (row.phone_number, row.input_data) == (persona(AREAS[2], "0100"), {"first_name": f"Ann {AREAS[2]}"})

    watched = run_campaign_cli(sandbox_server, "watch", campaign_id, "--interval", "0.2")
    assert watched.returncode == 0, watched.stderr
    assert "completed" in watched.stdout.splitlines()[-1] and "completed 6" in watched.stdout


def test_cli_refuses_a_csv_with_bad_numbers_and_sends_nothing(sandbox_server: LiveServer, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("phone,name\n+12025550100,A\n0612345678,B\n")
    done = run_campaign_cli(sandbox_server, "create", "--assistant", "x", "--name", "Bad", str(path))
    assert done.returncode != 0
    assert "line 3" in done.stderr and "E.164" in done.stderr
