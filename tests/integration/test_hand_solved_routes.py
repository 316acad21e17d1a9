"""POST /call and GET /call/{id} solve their parameters by hand (api/calls.py `_CreateCallRoute`,
`_RetrieveCallRoute`): each must answer every request exactly as FastAPI's own solving of the same
endpoint does, errors and their order included (for a create: the body decoded first, then the
key, then the header and body validated)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from openrevox.api import calls
from openrevox.app import create_app
from openrevox.config import Settings
from openrevox.orgs import service as orgs

KEY = "sk_route_test_key_0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
JSON = {**AUTH, "content-type": "application/json"}
VALID = {"phone_number": "+12025550100", "assistant": {"prompt": "Hi {{name}}"}, "prompt_variables": {"name": "A"}}

CASES = [
    ({"content-type": "application/json"}, b"{bad"),  # malformed JSON is reported before the missing key
    ({"content-type": "application/json"}, json.dumps(VALID).encode()),
    ({"authorization": "Bearer sk_unknown", "content-type": "application/json"}, json.dumps(VALID).encode()),
    (AUTH, json.dumps(VALID).encode()),  # no content type: not read as JSON
    ({**AUTH, "content-type": "text/plain"}, json.dumps(VALID).encode()),
    ({**AUTH, "content-type": "application/json"}, b""),
    ({**AUTH, "content-type": "application/json"}, b"\xff\xfe{}"),
    (JSON, b"[1, 2]"),
    (JSON, b"null"),
    (JSON, b'{"phone_number": "x", "assistant_id": 3, "surprise": 1}'),
    (JSON, json.dumps({**VALID, "prompt_variables": {}}).encode()),
    (JSON, json.dumps({**VALID, "assistant": None, "assistant_id": "nope"}).encode()),
    ({**JSON, "idempotency-key": "k" * 300}, b"{}"),
    ({**JSON, "idempotency-key": "k" * 300}, b""),
    ({**AUTH, "content-type": "application/vnd.api+json; charset=utf-8"}, b'{"phone_number": "+1"}'),
]


@pytest.fixture
def app(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", data_dir=tmp_path, api_key=KEY),
                     run_services=False)  # fmt: skip
    orgs.key_cache.clear()  # a key read from another test's database would name its organization
    # The same endpoints, their parameters solved by FastAPI (the default route class).
    app.router.add_api_route("/reference/call", calls.create_call, methods=["POST"])
    app.router.add_api_route("/reference/call/{call_id}", calls.retrieve_call, methods=["GET"])
    return app


@pytest.fixture
def client(app):
    async def exchange(requests: list[tuple[str, dict, bytes]], method: str) -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return [
                    await http.request(method, path, headers=headers, content=body)
                    for path, headers, body in requests
                ]

    return lambda requests, method="POST": asyncio.run(exchange(requests, method))


@pytest.fixture
def other_org(app) -> dict[str, str]:
    """The authorization header of another organization's key."""

    async def create() -> str:
        async with app.router.lifespan_context(app), app.state.engine.begin() as conn:
            return await orgs.create_key(conn, "other")

    return {"authorization": f"Bearer {asyncio.run(create())}"}


def test_refusals_are_those_of_fastapis_own_parameter_solving(client):
    responses = client([(path, h, b) for h, b in CASES for path in ("/call", "/reference/call")])
    for (headers, body), ours, reference in zip(CASES, responses[::2], responses[1::2], strict=True):
        assert ours.status_code in (400, 401, 404, 422), (headers, body, ours.text)
        assert (ours.status_code, ours.json()) == (reference.status_code, reference.json()), (headers, body)


def test_a_valid_create_answers_the_same_document(client):
    body = json.dumps(VALID).encode()
    once = {**JSON, "idempotency-key": "once"}
    ours, reference, ours_once, reference_once = client([
        ("/call", JSON, body), ("/reference/call", JSON, body), ("/call", once, body), ("/reference/call", once, body),
    ])  # fmt: skip
    assert ours.status_code == reference.status_code == 200
    volatile = ("id", "created_at", "updated_at", "scheduled_at")
    strip = lambda call: {k: v for k, v in call.items() if k not in volatile and k != "assistant"}  # noqa: E731
    assert strip(ours.json()["call"]) == strip(reference.json()["call"])
    assert ours_once.json() == reference_once.json()  # one idempotency key, one order, whichever route


def test_a_retrieve_answers_as_fastapis_own_parameter_solving(client, other_org):
    created = client([("/call", JSON, json.dumps(VALID).encode())])[0].json()["call"]["id"]
    asks = [
        (f"/call/{created}", {}),  # no key
        (f"/call/{created}", {"authorization": "Basic abc"}),
        (f"/call/{created}", {"authorization": "Bearer sk_unknown"}),
        ("/call/no-such-call", AUTH),
        (f"/call/{created}", other_org),  # another organization's order is not found
        (f"/call/{created}", AUTH),
    ]
    responses = client([(path, h, b"") for path, h in asks for path in (path, "/reference" + path)], "GET")
    for (path, headers), ours, reference in zip(asks, responses[::2], responses[1::2], strict=True):
        assert (ours.status_code, ours.json()) == (reference.status_code, reference.json()), (path, headers)
    assert [r.status_code for r in responses[::2]] == [401, 401, 401, 404, 404, 200]
    assert responses[-2].json()["call"]["id"] == created
