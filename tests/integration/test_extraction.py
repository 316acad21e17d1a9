"""Structured output extraction against a scripted OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import free_port  # noqa: E402  (tests/conftest.py)
from openrevox.llm import LLMEndpoint
from openrevox.orders import attempts
from openrevox.orders import service as orders
from openrevox.orgs.service import ensure_organization
from openrevox.postcall.extraction import extract_structured_output
from openrevox.scheduling.dispatcher import Dispatcher
from openrevox.schemas.calls import CallCreateIn
from scripted_llm import Reply, ScriptedLLM
from stories import ScriptedCarrier

FIELDS = [
    {"name": "name", "type": "string", "required": True, "description": "The callee's full name"},
    {"name": "budget", "type": "number", "required": False},
    {"name": "has_car", "type": "boolean", "required": False},
    {"name": "status", "type": "enum", "required": True, "enum_options": ["interested", "not interested"]},
    {"name": "birthday", "type": "date", "required": False},
    {"name": "callback_at", "type": "datetime", "required": False, "description": "When to call back"},
]
TRANSCRIPT = [
    {"role": "assistant", "content": "Hello, this is Sam from Acme. Who am I speaking with?"},
    {"role": "user", "content": "Ada Lovelace. I could spend about 1200 euros."},
    {"role": "assistant", "content": "Can I call you back tomorrow at 3:30 pm?"},
    {"role": "tool", "content": "{\"ok\": true}", "tool_name": "end_call", "tool_arguments": {"reason": "done"}},
    {"role": "tool", "content": None, "tool_name": "skip_turn", "tool_arguments": None},
]
GOOD = {
    "name": "Ada Lovelace",
    "budget": 1200,
    "has_car": False,
    "status": "interested",
    "birthday": "1815-12-10",
    "callback_at": "2026-03-05T15:30:00+01:00",
}


@pytest.fixture
def llm():
    with ScriptedLLM() as server:
        yield server


def extract(llm: ScriptedLLM, fields=FIELDS, transcript=TRANSCRIPT, **options) -> dict | None:
    endpoint = options.pop("endpoint", None) or LLMEndpoint(llm.base_url, "sk-test", "gpt-4.1")
    return asyncio.run(extract_structured_output(fields, transcript, endpoint, **options))


def answer(**changes) -> Reply:
    return Reply.text(json.dumps(GOOD | changes))


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "openrevox.extraction" and r.levelno >= logging.WARNING]


def test_every_type_is_extracted_from_one_strict_schema_request(llm, caplog):
    llm.queue(answer())
    started = datetime(2026, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert extract(llm, call_started_at=started) == GOOD
    [sent] = llm.requests
    assert sent["model"] == "gpt-4.1" and sent["temperature"] == 0 and not sent.get("stream")
    schema = sent["response_format"]["json_schema"]
    assert sent["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["required"] == [f["name"] for f in FIELDS]
    assert schema["schema"]["properties"]["status"]["anyOf"][0]["enum"] == ["interested", "not interested"]
    assert schema["schema"]["properties"]["birthday"]["anyOf"][0]["format"] == "date"
    system, user = sent["messages"]
    assert "2026-03-04T10:00:00+01:00" in system["content"]  # relative dates can be resolved
    assert user["content"].splitlines()[1:] == [
        "Agent: Hello, this is Sam from Acme. Who am I speaking with?",
        "Callee: Ada Lovelace. I could spend about 1200 euros.",
        "Agent: Can I call you back tomorrow at 3:30 pm?",
        'Tool end_call {"reason": "done"}: {"ok": true}',
        "Tool skip_turn: ",
    ]
    assert warnings(caplog) == []


def test_numeric_string_and_loose_spellings_are_normalized_without_asking_again(llm):
    llm.queue(answer(budget="1200.50", has_car="yes", status="Interested", callback_at="2026-03-05T14:30:00Z"))
    output = extract(llm)
    assert output["budget"] == 1200.5 and output["has_car"] is True and output["status"] == "interested"
    assert output["callback_at"] == "2026-03-05T14:30:00+00:00"
    assert len(llm.requests) == 1


def test_fields_the_conversation_did_not_give_are_null_and_only_required_ones_logged(llm, caplog):
    llm.queue(Reply.text(json.dumps({"name": None, "budget": None, "status": "not interested"})))
    output = extract(llm)
    assert output == dict.fromkeys(GOOD) | {"status": "not interested"}
    assert len(llm.requests) == 1  # nothing to correct: not saying is allowed
    assert warnings(caplog) == [
        "structured output field 'name' is null: required, but the conversation did not give it"
    ]


def test_enum_out_of_its_options_is_asked_again_then_null(llm, caplog):
    llm.queue(answer(status="maybe later"), answer(status="undecided", name="Someone Else"))
    output = extract(llm)
    assert output == GOOD | {"status": None}  # the valid values of the first answer stay
    first, second = llm.requests
    assert second["messages"][:2] == first["messages"]
    told = second["messages"][2:]
    assert told[0] == {"role": "assistant", "content": json.dumps(GOOD | {"status": "maybe later"})}
    assert "status" in told[1]["content"] and "not one of the options" in told[1]["content"]
    assert "name" not in told[1]["content"].split("refused:")[1]
    [logged] = warnings(caplog)
    assert "'status' is null" in logged and '"maybe later"' in logged and '"undecided"' in logged


def test_a_refused_value_corrected_on_the_second_try_is_kept(llm, caplog):
    llm.queue(answer(birthday="10 December 1815", budget="lots"), answer(birthday="1815-12-10", budget="lots"))
    output = extract(llm)
    assert output == GOOD | {"budget": None}
    assert "birthday" in llm.requests[1]["messages"][-1]["content"]
    assert warnings(caplog) == [
        "structured output field 'budget' is null: expected a number, got \"lots\"; asked again: expected a number,"
        " got \"lots\""
    ]


def test_malformed_json_is_asked_again_once_then_every_field_null(llm, caplog):
    llm.queue(Reply.raw('{"name": "Ada", "budget": '), Reply.raw("Sure! Here is the data: name=Ada"))
    assert extract(llm) == dict.fromkeys(GOOD)
    assert len(llm.requests) == 2
    assert "not valid JSON" in llm.requests[1]["messages"][-1]["content"]
    assert len(warnings(caplog)) == len(FIELDS)


def test_malformed_json_then_a_good_answer(llm):
    llm.queue(Reply.raw("[1, 2]"), answer())
    assert extract(llm) == GOOD
    assert "not an object" in llm.requests[1]["messages"][-1]["content"]


def test_provider_without_json_schema_is_asked_in_json_mode(llm):
    llm.queue(Reply.error(400, "response_format json_schema is not supported by this model"), answer())
    assert extract(llm) == GOOD
    assert [r["response_format"]["type"] for r in llm.requests] == ["json_schema", "json_object"]
    assert '"status"' in llm.requests[1]["messages"][0]["content"]  # the schema is in the instructions


def test_openrouter_routing_travels_in_the_body(llm):
    llm.queue(answer())
    routing = {"provider": {"order": ["azure"], "allow_fallbacks": False}}
    endpoint = LLMEndpoint(llm.base_url, "or-key", "openai/gpt-4.1", routing)
    assert extract(llm, endpoint=endpoint) == GOOD
    assert llm.requests[0]["provider"] == routing["provider"] and llm.requests[0]["model"] == "openai/gpt-4.1"


def test_server_error_gives_none_and_never_raises(llm, caplog):
    llm.queue(Reply.error(500, "model crashed"))
    assert extract(llm) is None
    assert any("InternalServerError" in m for m in warnings(caplog))


def test_slow_model_times_out_to_none():
    with ScriptedLLM(first_token_delay=2.0) as slow:
        slow.queue(answer())
        assert extract(slow, timeout=0.3) is None


def test_unreachable_endpoint_gives_none(caplog):
    endpoint = LLMEndpoint(f"http://127.0.0.1:{free_port()}/v1", None, "gpt-4.1")
    assert asyncio.run(extract_structured_output(FIELDS, TRANSCRIPT, endpoint, timeout=5)) is None
    assert any("APIConnectionError" in m for m in warnings(caplog))


def test_a_config_it_cannot_read_gives_none_and_never_raises(llm, caplog):
    assert extract(llm, fields=[{"name": "eyes", "type": "colour", "required": False}]) is None
    assert any(r.name == "openrevox.extraction" and r.exc_info for r in caplog.records)


def test_no_config_asks_nothing(llm):
    assert extract(llm, fields=[]) is None
    assert llm.requests == []


def test_human_attempt_output_is_stored_and_shown_on_the_call(run, llm):
    llm.queue(answer())
    now = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # 10:00 in Paris: inside the default window
    assistant = {"prompt": "Qualify the lead.", "structured_output_config": FIELDS}
    body = CallCreateIn(phone_number="+33612345678", assistant=assistant)

    async def story(engine):
        async with engine.begin() as conn:
            org_id = await ensure_organization(conn, "extraction")
            call = await orders.create(
                conn, org_id, body, default_from_number="+12025550199", idempotency_key=None, now=now
            )
        carrier = ScriptedCarrier()
        clock = lambda: now  # noqa: E731
        await Dispatcher(engine, carrier, org_limit=5, lease_seconds=60, interval=0.01, batch=5, clock=clock).tick()
        [dial] = carrier.dials
        async with engine.begin() as conn:
            await attempts.answered(conn, dial.attempt_id, now, "human")
            await attempts.ended(conn, dial.attempt_id, now + timedelta(minutes=2), "user")
        fields = call["assistant"]["structured_output_config"]
        output = await extract_structured_output(fields, TRANSCRIPT, LLMEndpoint(llm.base_url, None, "gpt-4.1"))
        async with engine.begin() as conn:
            await orders.store.set_structured_output(conn, dial.attempt_id, output)
            return await orders.render(conn, await orders.store.get_order_by_id(conn, call["id"]))

    shown = run(story)
    assert shown["status"] == "completed"
    assert shown["last_call_attempt"]["result"] == "human"
    assert shown["last_call_attempt"]["structured_output"] == GOOD
