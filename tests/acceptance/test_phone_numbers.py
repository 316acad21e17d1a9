"""Phone numbers through the official SDK 0.5.0 against a live server: an organization's numbers
(added by `openrevox numbers add`), their inbound assistant and label, and the caller id rule:
a call goes out from one of them, the first by default."""

from __future__ import annotations

import subprocess
import sys
import uuid

from acceptance.test_sdk_v050 import run_sdk050, sdk050  # noqa: F401 - sdk050 is the fixture installing 0.5.0
from conftest import run_cli


def numbers_org(server) -> tuple[str, str]:
    """A new organization (the shared default one must keep no numbers); returns its name and key."""
    org = f"numbers-{uuid.uuid4().hex[:8]}"
    return org, run_cli(server.env, "keys", "create", "--org", org)


def test_numbers_are_listed_updated_and_deleted_with_the_sdk(server) -> None:
    org, key = numbers_org(server)
    with server.client(key) as http:
        assistant = http.post("/assistants", json={"name": "Reception", "prompt": "Answer calls"}).json()["assistant"]
    run_cli(server.env, "numbers", "add", "+14155550101", "--org", org, "--label", "Main", "--provider", "twilio")
    run_cli(server.env, "numbers", "add", "+14155550102", "--org", org)
    out = run_sdk050(
        server,
        f"""
        numbers = client.phone_numbers.list().phone_numbers
        out["listed"] = [[n.phone_number, n.label, n.provider, n.source, n.type] for n in numbers]
        first, second = numbers
        updated = client.phone_numbers.update(first.id, inbound_assistant_id="{assistant["id"]}", label="Front desk")
        out["updated"] = [updated.phone_number.label, updated.phone_number.inbound_assistant.id]
        out["unknown_assistant"] = error_of(client.phone_numbers.update, first.id, inbound_assistant_id="nope")
        out["deleted"] = client.phone_numbers.delete(second.id).success
        out["deleted_again"] = error_of(client.phone_numbers.delete, second.id)
        out["after"] = [[n.phone_number, n.label, n.inbound_assistant.name] for n in client.phone_numbers.list().phone_numbers]
        out["first_id"] = first.id
        """,
        api_key=key,
    )
    assert out["listed"] == [
        ["+14155550101", "Main", "twilio", "user_imported", "owned_number"],
        ["+14155550102", None, "sip", "user_imported", "owned_number"],  # sandbox server: provider sip
    ]
    assert out["updated"] == ["Front desk", assistant["id"]]
    assert out["unknown_assistant"] == {"class": "UnprocessableEntityError", "status": 422}
    assert out["deleted"] is True
    assert out["deleted_again"] == {"class": "NotFoundError", "status": 404}
    assert out["after"] == [["+14155550101", "Front desk", "Reception"]]
    with server.client(key) as http:  # bad input names its field
        too_long = http.patch(f"/phone-numbers/{out['first_id']}", json={"label": "x" * 201})
        unknown = http.patch(f"/phone-numbers/{out['first_id']}", json={"number": "+1"})
    assert (too_long.status_code, too_long.json()["error"]["param"]) == (422, "label")
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (422, "number")
    with server.client() as http:  # another organization sees none of it
        assert http.get("/phone-numbers").json() == {"phone_numbers": []}
        assert http.patch(f"/phone-numbers/{out['first_id']}", json={"label": "x"}).status_code == 404


def test_calls_go_out_from_one_of_the_organizations_numbers(server) -> None:
    org, key = numbers_org(server)
    run_cli(server.env, "numbers", "add", "+14155550111", "--org", org)
    run_cli(server.env, "numbers", "add", "+14155550112", "--org", org)
    with server.client(key) as http:
        body = {"phone_number": "+12025550100", "assistant": {"prompt": "Hi"}, "scheduled_at": "2099-01-01T10:00:00Z"}
        default = http.post("/call", json=body).json()["call"]
        chosen = http.post("/call", json={**body, "from_phone_number": "+14155550112"}).json()["call"]
        foreign = http.post("/call", json={**body, "from_phone_number": "+14155550199"})
    assert default["from_phone_number"] == "+14155550111"
    assert chosen["from_phone_number"] == "+14155550112"
    assert foreign.status_code == 422
    assert foreign.json()["error"]["param"] == "from_phone_number"


def test_campaigns_call_from_one_of_the_organizations_numbers(server) -> None:
    org, key = numbers_org(server)
    run_cli(server.env, "numbers", "add", "+14155550141", "--org", org)
    with server.client(key) as http:
        assistant = http.post("/assistants", json={"name": "Camp", "prompt": "Hi"}).json()["assistant"]
        body = {"assistant_id": assistant["id"], "name": "Spring", "scheduled_at": "2099-01-01T10:00:00Z",
                "contacts": [{"to_phone_number": "+12025550100", "prompt_variables": {}}]}  # fmt: skip
        default = http.post("/campaigns", json=body)
        foreign = http.post("/campaigns", json={**body, "from_phone_number": "+14155550199"})
        assert default.status_code == 200, default.text
        campaign_id = default.json()["campaign"]["id"]
        (row,) = http.get(f"/campaigns/{campaign_id}/rows").json()["rows"]
        moved = http.patch(f"/campaigns/{campaign_id}", json={"from_phone_number": "+14155550199"})
    assert default.status_code == 200, default.text
    assert row["call"]["from_phone_number"] == "+14155550141"
    assert foreign.status_code == 422 and foreign.json()["error"]["param"] == "from_phone_number"
    assert moved.status_code == 422 and moved.json()["error"]["param"] == "from_phone_number"


def test_a_number_belongs_to_one_organization(server) -> None:
    org, _ = numbers_org(server)
    other, _ = numbers_org(server)
    run_cli(server.env, "numbers", "add", "+14155550121", "--org", org)
    done = subprocess.run(
        [sys.executable, "-m", "openrevox.cli", "numbers", "add", "+1 415 555 0121", "--org", other],
        env=server.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "+14155550121 is already a number of an organization" in done.stderr
