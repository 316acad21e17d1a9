"""The official SDK revox==0.5.0 for what 0.1.1 lacks: call cancel / pause / resume / search,
auth_status and assistants.clone.

0.5.0 is the same package as the 0.1.1 this process imports, so it is installed on its own in
`<repo>/.sdk050` (git-ignored) and each scenario runs as a small script in a subprocess with
PYTHONPATH pointing there. The script prints JSON; the tests assert on it. Data is set up over raw
HTTP, and each test makes its own: the server is shared by the session.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant_fields import FULL_ASSISTANT as ALL_FIELDS

REPO = Path(__file__).resolve().parents[2]
SDK050 = REPO / ".sdk050"
SDK_VERSION = "0.5.0"

PRELUDE = """
import json
import revox
from revox import Revox

client = Revox()  # REVOX_BASE_URL and REVOX_API_KEY from the environment
out = {}


def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except revox.APIStatusError as exc:
        return {"class": type(exc).__name__, "status": exc.status_code}
    return None

"""
EPILOGUE = """
print(json.dumps({"__version__": revox.__version__, "__file__": revox.__file__, **out}))
"""
NOT_FOUND = {"class": "NotFoundError", "status": 404}
BAD_REQUEST = {"class": "BadRequestError", "status": 400}
UNPROCESSABLE = {"class": "UnprocessableEntityError", "status": 422}

# The SDK 0.1.1 suite's assistant; these tests name theirs.
FULL_ASSISTANT = {k: v for k, v in ALL_FIELDS.items() if k != "name"}


def _installed_version() -> str | None:
    version_file = SDK050 / "revox" / "_version.py"
    if not (SDK050 / "revox" / "__init__.py").exists() or not version_file.exists():
        return None
    namespace: dict = {}
    exec(version_file.read_text(), namespace)  # noqa: S102 - the SDK's own two-line version file
    return namespace.get("__version__")


@pytest.fixture(scope="session", autouse=True)
def sdk050() -> Path:
    """revox==0.5.0 under <repo>/.sdk050; its dependencies are those of 0.1.1, already in the venv."""
    if _installed_version() != SDK_VERSION:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--no-deps", "--upgrade", "--quiet",
             "--target", str(SDK050), f"revox=={SDK_VERSION}"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0 or _installed_version() != SDK_VERSION:
            pytest.fail(f"could not install revox=={SDK_VERSION} into {SDK050}:\n{done.stdout}\n{done.stderr}")
    return SDK050


def run_sdk050(server, code: str, api_key: str | None = None) -> dict:
    """Run `code` with revox 0.5.0 as `client` (and `revox`, `Revox`, `error_of`); returns its `out`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(SDK050),
        "REVOX_BASE_URL": server.base_url,
        "REVOX_API_KEY": api_key or server.api_key,
    }
    script = PRELUDE + textwrap.dedent(code) + EPILOGUE
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"SDK 0.5.0 script failed:\n{done.stderr}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.pop("__version__") == SDK_VERSION
    assert Path(result.pop("__file__")).is_relative_to(SDK050)
    return result


def unique_phones(count: int) -> list[str]:
    return [f"+1202555{n:04d}" for n in random.sample(range(1000, 10000), count)]


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def place_call(server, api_key: str | None = None, **body: object) -> dict:
    body.setdefault("phone_number", unique_phones(1)[0])
    if "assistant_id" not in body:
        body.setdefault("assistant", {"prompt": "Say hello"})
    with server.client(api_key) as http:
        response = http.post("/call", json=body)
    assert response.status_code == 200, response.text
    return response.json()["call"]


def future_call(server, api_key: str | None = None, **body: object) -> dict:
    """An order due in two days: no dialer touches it during the test."""
    call = place_call(server, api_key, scheduled_at=in_days(2), **body)
    assert call["status"] == "scheduled"
    return call


def immediate_call(server, **body: object) -> dict:
    call = place_call(server, force_now=True, **body)
    assert call["status"] == "queued_for_calling"
    return call


def get_call(server, call_id: str, api_key: str | None = None) -> dict:
    with server.client(api_key) as http:
        response = http.get(f"/call/{call_id}")
    assert response.status_code == 200, response.text
    return response.json()["call"]


def create_assistant(server, api_key: str | None = None, **fields: object) -> dict:
    with server.client(api_key) as http:
        response = http.post("/assistants", json={"name": f"Assistant {uuid.uuid4().hex[:8]}", **fields})
    assert response.status_code == 200, response.text
    return response.json()["assistant"]


# --- pause / resume --------------------------------------------------------------------------------


def test_paused_immediate_order_stays_paused_and_resume_queues_it_again(server):
    call = immediate_call(server)
    out = run_sdk050(
        server,
        f"""
        cid = {call["id"]!r}
        out["pause"] = client.call.pause(cid).success
        out["after_pause"] = client.call.retrieve(cid).call.status
        out["pause_again"] = client.call.pause(cid).success
        out["after_pause_again"] = client.call.retrieve(cid).call.status
        out["resume"] = client.call.resume(cid).success
        after = client.call.retrieve(cid).call
        out["after_resume"] = after.status
        out["attempts"] = len(after.call_attempts)
        out["resume_again"] = error_of(client.call.resume, cid)
        """,
    )
    assert out["pause"] is True
    assert out["after_pause"] == "paused"
    assert out["pause_again"] is True  # pausing a paused order is not an error
    assert out["after_pause_again"] == "paused"
    assert out["resume"] is True
    # Due again at once; only a dialer that already picked it up may have moved it on.
    assert out["after_resume"] == "queued_for_calling" or out["attempts"] > 0
    assert out["resume_again"] == BAD_REQUEST


def test_resumed_future_order_is_scheduled_again(server):
    call = future_call(server)
    out = run_sdk050(
        server,
        f"""
        cid = {call["id"]!r}
        out["pause"] = client.call.pause(cid).success
        out["after_pause"] = client.call.retrieve(cid).call.status
        out["resume"] = client.call.resume(cid).success
        after = client.call.retrieve(cid).call
        out["after_resume"] = after.status
        out["scheduled_at"] = after.scheduled_at
        out["is_cancelled"] = after.is_cancelled
        """,
    )
    assert (out["pause"], out["after_pause"]) == (True, "paused")
    assert (out["resume"], out["after_resume"]) == (True, "scheduled")
    assert out["scheduled_at"] == call["scheduled_at"]
    assert out["is_cancelled"] is False


def test_resume_of_an_order_that_is_not_paused_is_bad_request(server):
    call = future_call(server)
    out = run_sdk050(server, f'out["resume"] = error_of(client.call.resume, {call["id"]!r})')
    assert out["resume"] == BAD_REQUEST
    assert get_call(server, call["id"])["status"] == "scheduled"


# --- cancel ----------------------------------------------------------------------------------------


def test_cancelled_order_is_cancelled_and_a_second_cancel_is_bad_request(server):
    call = future_call(server)
    paused = future_call(server)
    out = run_sdk050(
        server,
        f"""
        cid, paused_id = {call["id"]!r}, {paused["id"]!r}
        out["cancel"] = client.call.cancel(cid).success
        after = client.call.retrieve(cid).call
        out["status"], out["is_cancelled"], out["is_completed"] = after.status, after.is_cancelled, after.is_completed
        out["cancel_again"] = error_of(client.call.cancel, cid)
        out["pause_cancelled"] = error_of(client.call.pause, cid)
        out["resume_cancelled"] = error_of(client.call.resume, cid)
        client.call.pause(paused_id)
        out["cancel_paused"] = client.call.cancel(paused_id).success
        out["paused_status"] = client.call.retrieve(paused_id).call.status
        """,
    )
    assert out["cancel"] is True
    assert (out["status"], out["is_cancelled"], out["is_completed"]) == ("cancelled", True, False)
    assert out["cancel_again"] == BAD_REQUEST
    assert out["pause_cancelled"] == BAD_REQUEST
    assert out["resume_cancelled"] == BAD_REQUEST
    assert (out["cancel_paused"], out["paused_status"]) == (True, "cancelled")
    assert get_call(server, call["id"])["status"] == "cancelled"


def test_actions_on_another_organizations_or_an_unknown_call_read_as_not_found(server):
    mine = future_call(server)
    out = run_sdk050(
        server,
        f"""
        for cid, label in (({mine["id"]!r}, "mine"), ({str(uuid.uuid4())!r}, "unknown")):
            for action in ("cancel", "pause", "resume"):
                out[f"{{label}}_{{action}}"] = error_of(getattr(client.call, action), cid)
            out[f"{{label}}_retrieve"] = error_of(client.call.retrieve, cid)
        """,
        api_key=server.other_api_key,
    )
    assert out == {
        f"{label}_{action}": NOT_FOUND
        for label in ("mine", "unknown")
        for action in ("cancel", "pause", "resume", "retrieve")
    }
    assert get_call(server, mine["id"])["status"] == "scheduled"  # untouched


# --- auth_status -----------------------------------------------------------------------------------


def test_auth_status_tells_whether_the_key_is_valid(server):
    out = run_sdk050(
        server,
        f"""
        out["good"] = client.auth_status.retrieve().authenticated
        out["other_org"] = Revox(api_key={server.other_api_key!r}).auth_status.retrieve().authenticated
        out["bad"] = Revox(api_key="sk_not_a_real_key").auth_status.retrieve().authenticated
        out["bad_elsewhere"] = error_of(Revox(api_key="sk_not_a_real_key").call.retrieve, "x")
        """,
    )
    assert out == {
        "good": True,
        "other_org": True,
        "bad": False,  # 200 with false, not a 401
        "bad_elsewhere": {"class": "AuthenticationError", "status": 401},
    }


# --- assistants.clone ------------------------------------------------------------------------------


def test_clone_copies_every_field_under_a_new_id_and_name(server):
    source = create_assistant(server, name=f"Sales {uuid.uuid4().hex[:6]}", **FULL_ASSISTANT)
    out = run_sdk050(
        server,
        f"""
        copy = client.assistants.clone({source["id"]!r}).assistant
        out["copy"] = copy.to_dict()
        out["faq"] = [[f.question, f.answer, f.id] for f in copy.faq_items]
        out["second_id"] = client.assistants.clone({source["id"]!r}).assistant.id
        out["listed"] = copy.id in {{a.id for a in client.assistants.list().assistants}}
        """,
    )
    copy = out["copy"]
    assert copy["id"] != source["id"]
    assert out["second_id"] not in (copy["id"], source["id"])
    assert copy["name"] == f"{source['name']} (copy)"
    same = set(source) - {"id", "name", "created_at", "updated_at", "faq_items"}
    assert {k: copy[k] for k in same} == {k: source[k] for k in same}
    assert [(q, a) for q, a, _ in out["faq"]] == [(f["question"], f["answer"]) for f in source["faq_items"]]
    assert not {i for _, _, i in out["faq"]} & {f["id"] for f in source["faq_items"]}
    assert out["listed"] is True
    with server.client() as http:
        assert http.get(f"/assistants/{copy['id']}").json() == copy
        assert http.get(f"/assistants/{source['id']}").json() == source  # the source is untouched


def test_clone_of_another_organizations_assistant_is_not_found(server):
    mine = create_assistant(server, prompt="Mine only")
    out = run_sdk050(
        server,
        f"""
        out["other"] = error_of(client.assistants.clone, {mine["id"]!r})
        out["unknown"] = error_of(client.assistants.clone, {str(uuid.uuid4())!r})
        out["names"] = [a.name for a in client.assistants.list().assistants]
        """,
        api_key=server.other_api_key,
    )
    assert out["other"] == NOT_FOUND
    assert out["unknown"] == NOT_FOUND
    assert f"{mine['name']} (copy)" not in out["names"]


# --- call.search -----------------------------------------------------------------------------------


def test_search_filters_sorts_and_pages_call_orders(server):
    assistant = create_assistant(server, prompt="Search me")
    phones = unique_phones(4)
    orders = [
        future_call(server, assistant_id=assistant["id"], phone_number=phones[0]),
        future_call(server, assistant_id=assistant["id"], phone_number=phones[1], from_phone_number="+33612345678"),
        future_call(server, assistant_id=assistant["id"], phone_number=phones[2]),
        future_call(server, assistant_id=assistant["id"], phone_number=phones[3]),
    ]
    ids = [o["id"] for o in orders]
    with server.client() as http:
        assert http.post(f"/call/{ids[2]}/cancel").status_code == 200
        assert http.post(f"/call/{ids[3]}/pause").status_code == 200
    out = run_sdk050(
        server,
        f"""
        EMPTY = dict(assignee_ids=[], assistant_ids=[], campaign_ids=[], directions=[], from_phone_numbers=[],
                     outcomes=[], results=[], statuses=[], page=0, page_size=100)
        ASSISTANT, IDS, PHONES = {assistant["id"]!r}, {ids!r}, {phones!r}

        def search(**changes):
            found = client.call.search(**{{**EMPTY, "assistant_ids": [ASSISTANT], **changes}})
            return {{"ids": [c.id for c in found.calls], "total": found.total_count,
                     "statuses": [c.status for c in found.calls],
                     "assistants": sorted({{c.assistant.id for c in found.calls}})}}

        out["all"] = search()
        out["scheduled"] = search(statuses=["scheduled"])
        out["cancelled"] = search(statuses=["cancelled"])
        out["paused"] = search(statuses=["paused"])
        out["scheduled_or_paused"] = search(statuses=["scheduled", "paused"])
        out["outbound"] = search(directions=["outbound"])
        out["inbound"] = search(directions=["inbound"])
        out["call_ids"] = search(call_ids=[IDS[0], IDS[2]])
        out["call_ids_alone"] = search(assistant_ids=[], call_ids=[IDS[0], IDS[2]])
        out["to_phone_number"] = search(to_phone_number=PHONES[1])
        out["from_phone_numbers"] = search(from_phone_numbers=["+33612345678"])
        out["results_none"] = search(results=["none"])
        out["results_human"] = search(results=["human"])
        out["results_human_or_none"] = search(results=["human", "none"])
        out["outcomes_none"] = search(outcomes=["none"])
        out["asc"] = search(sort_by="created_at", sort_direction="asc")
        out["desc"] = search(sort_by="created_at", sort_direction="desc")
        out["pages"] = [search(sort_by="created_at", sort_direction="asc", page=p, page_size=3) for p in range(3)]
        out["everything"] = search(assistant_ids=[])
        out["unknown_status"] = error_of(client.call.search, **{{**EMPTY, "statuses": ["bogus"]}})
        out["page_size_zero"] = error_of(client.call.search, **{{**EMPTY, "page_size": 0}})
        """,
    )
    by_ids = lambda *i: sorted(ids[n] for n in i)  # noqa: E731
    assert sorted(out["all"]["ids"]) == by_ids(0, 1, 2, 3)
    assert out["all"]["total"] == 4
    assert out["all"]["assistants"] == [assistant["id"]]
    assert sorted(out["scheduled"]["ids"]) == by_ids(0, 1)
    assert set(out["scheduled"]["statuses"]) == {"scheduled"}
    assert out["scheduled"]["total"] == 2
    assert out["cancelled"]["ids"] == [ids[2]]
    assert out["paused"]["ids"] == [ids[3]]
    assert sorted(out["scheduled_or_paused"]["ids"]) == by_ids(0, 1, 3)
    assert sorted(out["outbound"]["ids"]) == by_ids(0, 1, 2, 3)
    assert (out["inbound"]["ids"], out["inbound"]["total"]) == ([], 0)
    assert sorted(out["call_ids"]["ids"]) == by_ids(0, 2)
    assert sorted(out["call_ids_alone"]["ids"]) == by_ids(0, 2)
    assert out["to_phone_number"]["ids"] == [ids[1]]
    assert out["from_phone_numbers"]["ids"] == [ids[1]]
    assert sorted(out["results_none"]["ids"]) == by_ids(0, 1, 2, 3)  # no attempt yet
    assert (out["results_human"]["ids"], out["results_human"]["total"]) == ([], 0)
    assert sorted(out["results_human_or_none"]["ids"]) == by_ids(0, 1, 2, 3)
    assert sorted(out["outcomes_none"]["ids"]) == by_ids(0, 1, 2, 3)
    assert out["asc"]["ids"] == ids
    assert out["desc"]["ids"] == ids[::-1]
    assert [p["ids"] for p in out["pages"]] == [ids[:3], ids[3:], []]
    assert [p["total"] for p in out["pages"]] == [4, 4, 4]
    assert set(ids) <= set(out["everything"]["ids"]) or out["everything"]["total"] > 100
    assert out["everything"]["total"] >= 4
    assert out["unknown_status"] == UNPROCESSABLE
    assert out["page_size_zero"] == UNPROCESSABLE


def test_search_never_shows_another_organizations_orders(server):
    assistant = create_assistant(server, prompt="Private")
    call = future_call(server, assistant_id=assistant["id"])
    out = run_sdk050(
        server,
        f"""
        found = client.call.search(assignee_ids=[], assistant_ids=[{assistant["id"]!r}], campaign_ids=[],
                                   directions=[], from_phone_numbers=[], outcomes=[], results=[], statuses=[],
                                   page=0, page_size=100)
        by_id = client.call.search(assignee_ids=[], assistant_ids=[], campaign_ids=[], directions=[],
                                   from_phone_numbers=[], outcomes=[], results=[], statuses=[],
                                   call_ids=[{call["id"]!r}], page=0, page_size=100)
        out["by_assistant"] = [[c.id for c in found.calls], found.total_count]
        out["by_id"] = [[c.id for c in by_id.calls], by_id.total_count]
        """,
        api_key=server.other_api_key,
    )
    assert out == {"by_assistant": [[], 0], "by_id": [[], 0]}


# Walks a parsed SDK 0.5.0 response and lists every field its models declare required but the
# server did not send: reading any of them through the SDK would raise AttributeError.
MISSING_REQUIRED = """
import typing, pydantic

def missing(model, path=""):
    found = []
    if isinstance(model, list):
        for item in model:
            found += missing(item, path + "[]")
        return found
    if not isinstance(model, pydantic.BaseModel):
        return found
    for name, field in type(model).model_fields.items():
        if field.is_required() and name not in model.model_fields_set:
            found.append(f"{path}.{name}")
        elif name in model.model_fields_set:
            found += missing(getattr(model, name), f"{path}.{name}")
    return sorted(set(found))
"""


def test_sdk050_finds_every_field_it_requires_in_assistants_and_calls(server):
    source = create_assistant(server, name=f"Shapes {uuid.uuid4().hex[:6]}", **FULL_ASSISTANT)
    call_id = future_call(
        server, assistant_id=source["id"], prompt_variables={"customer_name": "Ada", "order_id": "42"}
    )["id"]
    out = run_sdk050(
        server,
        MISSING_REQUIRED
        + f"""
out["assistants.clone"] = missing(client.assistants.clone({source["id"]!r}))
out["assistants.retrieve"] = missing(client.assistants.retrieve({source["id"]!r}))
out["assistants.list"] = missing(client.assistants.list())
out["call.retrieve"] = missing(client.call.retrieve({call_id!r}))
out["call.search"] = missing(client.call.search(assignee_ids=[], assistant_ids=[], campaign_ids=[], directions=[],
    from_phone_numbers=[], outcomes=[], results=[], statuses=[], page=0, page_size=5, call_ids=[{call_id!r}]))
""",
    )
    assert out == {name: [] for name in out}
