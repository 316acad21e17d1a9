"""Property-based bad input: whatever arrives, the server answers < 500, and every 4xx carries the
error envelope `{"error": {"type", "message", "param"}}` (decisions.md, "Wire").

Two generators, both against the live server of `conftest.server` (SQLite and PostgreSQL):
- schemathesis, from the server's own /openapi.json: every operation, with data that fits its
  schema and data that breaks it (positive and negative generation), 25 cases per operation;
  checks: not_a_server_error, negative_data_rejection, response_schema_conformance;
- hypothesis, JSON-ish bodies for POST /call and POST /assistants: random keys drawn from the real
  field names with random values of random types, nested; and valid bodies with one change (a
  value replaced, a key dropped, renamed or added). Bodies are serialized here (ASCII, NaN allowed),
  so NaN, lone surrogates and NUL reach the server as sent.

Runs in about a minute for both backends on 2 cores; OPENREVOX_FUZZ_SCALE=N multiplies the cases.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

# Cases per operation / per body test; OPENREVOX_FUZZ_SCALE=10 for a longer hunt (not in CI).
SCALE = int(os.environ.get("OPENREVOX_FUZZ_SCALE", "1"))

FUZZ_SETTINGS = settings(
    max_examples=25 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def assert_answer_is_sound(response: httpx.Response | Any, label: str) -> None:
    """< 500, and a 4xx is a JSON error envelope naming its type and a message."""
    status = response.status_code
    body_text = response.text
    assert status < 500, f"{label} -> {status}: {body_text[:2000]}"
    if 400 <= status < 500:
        content_type = _header(response, "content-type")
        assert content_type.startswith("application/json"), f"{label} -> {status} {content_type}: {body_text[:500]}"
        error = json.loads(body_text)["error"]
        assert set(error) == {"type", "message", "param"}, f"{label} -> {status}: {error}"
        assert isinstance(error["type"], str) and error["type"], error
        assert isinstance(error["message"], str) and error["message"], error
        assert error["param"] is None or isinstance(error["param"], str), error


def _header(response: httpx.Response | Any, name: str) -> str:
    """A header of an httpx response or of a schemathesis one (whose values are lists)."""
    for key, value in response.headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return ""


# ---- schemathesis: every operation of /openapi.json ------------------------------------------


@pytest.fixture
def api_schema(server):
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", config=schemathesis.Config())
    schema.config.update(base_url=server.base_url)
    return schema


def test_openapi_operations_never_answer_5xx(server, api_schema, subtests):
    """Every operation of the live /openapi.json, with data that fits its schema and data that does not.

    schemathesis' own pytest plugin (`schema.parametrize()`) does not run under pytest 9.2
    (it writes `Function._nodeid`), so operations are driven here, one subtest each.
    """
    auth = {"Authorization": f"Bearer {server.api_key}"}
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert len(operations) >= 15, [op.label for op in operations]

    for operation in operations:
        with subtests.test(msg=operation.label):
            modes = [GenerationMode.POSITIVE]
            if operation.path_parameters or operation.query or operation.body:
                modes.append(GenerationMode.NEGATIVE)
            strategy = st.one_of([operation.as_strategy(generation_mode=mode) for mode in modes])

            @FUZZ_SETTINGS
            @given(case=strategy)
            def fuzz(case):
                response = case.call(headers=auth, timeout=30)
                # not_a_server_error: < 500. negative_data_rejection: data that breaks the schema
                # gets a 4xx. response_schema_conformance: what the schema documents, it gets.
                case.validate_response(
                    response,
                    checks=[not_a_server_error, negative_data_rejection, response_schema_conformance],
                    headers=auth,
                )
                assert_answer_is_sound(response, f"{case.method} {case.formatted_path}")

            fuzz()


# ---- hypothesis: JSON-ish bodies for POST /call and POST /assistants -------------------------

VALID_CALL = {
    "phone_number": "+14155550123",
    "assistant": {
        "prompt": "Ask {{name}} about the order",
        "first_sentence": "Hello {{name}}",
        "voice": {"id": "sandbox-en-amy", "provider": "cartesia", "speed": 1.0},
        "llm_model": {"type": "dedicated-instance", "name": "gpt-4.1"},
        "call_retry_config": {
            "calling_windows": [
                {"calling_window_start_time": "9am", "calling_window_end_time": "18:00", "retry_delay_seconds": 3600}
            ],
            "max_retry_attempts": 2,
            "timezone": "Europe/Paris",
        },
        "structured_output_config": [
            {"name": "mood", "required": True, "type": "enum", "enum_options": ["good", "bad"]},
            {"name": "when", "required": False, "type": "datetime", "description": "callback time"},
        ],
        "faq_items": [{"question": "Open on Sunday?", "answer": "No"}],
        "max_call_duration_secs": 300,
        "first_sentence_delay_ms": 0,
        "webhook_url": "https://example.com/hook",
    },
    "prompt_variables": {"name": "Ann"},
    "metadata": {"crm_id": "42"},
    "concurrency": {"key": "line-1", "max": 2},
    "scheduled_at": "2099-01-01T10:00:00Z",
    "force_now": False,
}
VALID_ASSISTANT = {
    "name": "Receptionist",
    **VALID_CALL["assistant"],
    "prompt": "You answer the phone.",  # no {{variables}}: an assistant alone has no values for them
    "first_sentence": "Hello!",
}


def _keys_of(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys_of(item)


def _paths_of(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a value inside `value` (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths_of(item, (*prefix, index))


FIELD_NAMES = sorted(
    set(_keys_of(VALID_CALL))
    | set(_keys_of(VALID_ASSISTANT))
    | {
        "assistant_id", "skip_calling_window", "from_phone_number", "calendly", "connection_id", "event_type_id",
        "background_sound", "first_sentence_mode", "ivr_navigation_enabled", "transfer_phone_number",
        "voicemail_message", "end_of_call_sentence", "openrouter_model_id", "openrouter_provider",
    }
)  # fmt: skip
# Strings that parse as JSON but that no database stores or no JSON encoder writes back.
HOSTILE_STRINGS = ["a\x00b", "\x00", "\ud800", "x\udfffy", "\udc00\ud800", "é" * 5000]
TELLING_STRINGS = [
    "", " ", "+14155550123", "+1415", "14155550123", "+33612345678", "9am", "6:30pm", "25:00", "13pm", "12am",
    "Europe/Paris", "Mars/Base", "../etc/passwd", "cartesia", "elevenlabs", "enum", "string", "openrouter",
    "dedicated-instance", "gpt-4.1", "https://example.com/hook", "ftp://x", "{{name}}", "{{ missing }}",
    "2099-01-01T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "no-such-id",
    "audio/office.ogg", "1e400", "NaN", *HOSTILE_STRINGS,
]  # fmt: skip

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and ±Infinity included: Python's json writes them as NaN / Infinity
    st.text(max_size=20),
    st.sampled_from(TELLING_STRINGS),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8), st.sampled_from(TELLING_STRINGS))
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=15,
)
random_bodies = st.dictionaries(keys, json_values, max_size=8)


def _copy(body: Any) -> Any:
    return json.loads(json.dumps(body))


def _parent(body: Any, path: tuple) -> Any:
    for step in path[:-1]:
        body = body[step]
    return body


def _replaced(body: Any, path: tuple, value: Any) -> Any:
    copy = _copy(body)
    _parent(copy, path)[path[-1]] = value
    return copy


def _dropped(body: Any, path: tuple) -> Any:
    copy = _copy(body)
    del _parent(copy, path)[path[-1]]
    return copy


def _renamed(body: Any, path: tuple, new_key: str) -> Any:
    copy = _copy(body)
    parent = _parent(copy, path)
    parent[new_key] = parent.pop(path[-1])
    return copy


def _added(body: Any, path: tuple, key: str, value: Any) -> Any:
    copy = _copy(body)
    target = _parent(copy, (*path, None))
    target[key] = value
    return copy


def mutated(valid: dict) -> st.SearchStrategy:
    """The valid body with one change: a nested value replaced by anything, a string replaced by a
    telling one, a key dropped, a key renamed, or a key added (to the body or any object in it)."""
    paths = list(_paths_of(valid))
    string_paths = [p for p in paths if isinstance(_parent(valid, p)[p[-1]], str)]
    key_paths = [p for p in paths if isinstance(p[-1], str)]
    object_paths = [()] + [p for p in paths if isinstance(_parent(valid, p)[p[-1]], dict)]
    hostile = st.sampled_from(HOSTILE_STRINGS)
    return st.one_of(
        st.builds(_added, st.just(valid), st.sampled_from(object_paths), keys, json_values),
        st.builds(_added, st.just(valid), st.sampled_from(object_paths), hostile, hostile),
        st.builds(_replaced, st.just(valid), st.sampled_from(paths), json_values),
        st.builds(_replaced, st.just(valid), st.sampled_from(string_paths), st.sampled_from(TELLING_STRINGS)),
        st.builds(_replaced, st.just(valid), st.sampled_from(string_paths), st.sampled_from(HOSTILE_STRINGS)),
        st.builds(_dropped, st.just(valid), st.sampled_from(paths)),
        st.builds(_renamed, st.just(valid), st.sampled_from(key_paths), keys),
    )


def _post(server, path: str, body: Any) -> httpx.Response:
    # Serialized here (ASCII, NaN allowed) so that lone surrogates and NaN reach the server as sent.
    raw = json.dumps(body, ensure_ascii=True, allow_nan=True).encode()
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        return client.post(
            path, content=raw, headers={"Authorization": f"Bearer {server.api_key}", "content-type": "application/json"}
        )


BODY_SETTINGS = settings(FUZZ_SETTINGS, max_examples=120 * SCALE)


@BODY_SETTINGS
@given(body=st.one_of(random_bodies, mutated(VALID_CALL)))
def test_random_call_bodies_never_answer_5xx(server, body):
    response = _post(server, "/call", body)
    assert_answer_is_sound(response, f"POST /call {body!r:.2000}")
    if response.status_code == 200:
        assert response.json()["call"]["id"]


@BODY_SETTINGS
@given(body=st.one_of(random_bodies, mutated(VALID_ASSISTANT)))
def test_random_assistant_bodies_never_answer_5xx(server, body):
    response = _post(server, "/assistants", body)
    assert_answer_is_sound(response, f"POST /assistants {body!r:.2000}")
    if response.status_code == 200:
        assert response.json()["assistant"]["id"]


def test_the_valid_templates_are_accepted(server):
    """The mutations start from bodies the server takes, so each one tests a single change."""
    for path, body in (("/call", VALID_CALL), ("/assistants", VALID_ASSISTANT)):
        response = _post(server, path, body)
        assert response.status_code == 200, response.text
