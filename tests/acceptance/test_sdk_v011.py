"""The official SDK revox==0.1.1 (the spec's version) against a live server, on SQLite and PostgreSQL.

Every response field the SDK models is read back through the SDK's own models and compared with
what was sent. The server is shared by the whole session, so each test makes its own data and
never assumes an empty list.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pydantic
import pytest
import revox
from revox import Revox
from revox.types import assistant_create_params, call_create_params

from assistant_fields import FULL_ASSISTANT

RFC3339_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DEFAULT_RETRY_CONFIG = {
    "calling_windows": [
        {"calling_window_start_time": "10:00", "calling_window_end_time": "18:00", "retry_delay_seconds": 7200}
    ],
    "max_retry_attempts": 3,
    "timezone": None,
}
DEFAULT_LLM_MODEL = {"type": "dedicated-instance", "name": "gpt-4.1"}

VARIABLES = {"customer_name": "Ada", "order_id": "A-42"}


def unique_phone() -> str:
    return f"+1202555{random.randint(0, 9999):04d}"


def full_assistant(**changes: object) -> dict:
    return {**FULL_ASSISTANT, "name": f"{FULL_ASSISTANT['name']} {uuid.uuid4().hex[:8]}", **changes}


def inline_assistant() -> dict:
    """Every field of the inline `assistant` of `call.create` (the assistant fields without `name`)."""
    fields = dict(FULL_ASSISTANT)
    del fields["name"]
    return fields


def assert_carries(model: object, sent: object, path: str = "") -> None:
    """Every key of `sent` reads back, through the SDK model's attributes, as the value sent."""
    if isinstance(sent, dict):
        for key, value in sent.items():
            assert hasattr(model, key), f"{path}.{key} is missing from the SDK model"
            assert_carries(getattr(model, key), value, f"{path}.{key}")
    elif isinstance(sent, list):
        assert isinstance(model, list), f"{path}: expected a list, got {model!r}"
        assert len(model) == len(sent), f"{path}: {len(model)} items, sent {len(sent)}"
        for i, (got, value) in enumerate(zip(model, sent, strict=True)):
            assert_carries(got, value, f"{path}[{i}]")
    else:
        assert model == sent, f"{path}: got {model!r}, sent {sent!r}"


def assert_timestamp(value: object, *, near: datetime | None = None) -> datetime:
    assert isinstance(value, str) and RFC3339_MS_Z.match(value), f"{value!r} is not RFC 3339 UTC with ms and Z"
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    if near is not None:
        assert abs(moment - near) < timedelta(minutes=2), f"{value} is not near {near.isoformat()}"
    return moment


def iso_ms(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def missing_required(model: object, path: str = "") -> list[str]:
    """Paths of the fields the SDK models as required that the response left out (reading one
    raises AttributeError, since the SDK builds responses without validation)."""
    missing: list[str] = []
    if isinstance(model, pydantic.BaseModel):
        for name, info in type(model).model_fields.items():
            key = info.alias or name
            if name in model.model_fields_set:
                missing += missing_required(getattr(model, name), f"{path}.{key}")
            elif info.is_required():
                missing.append(f"{path}.{key}")
    elif isinstance(model, list):
        for i, item in enumerate(model):
            missing += missing_required(item, f"{path}[{i}]")
    return missing


def assert_full_assistant(model: object, sent: dict, organization_id: str) -> None:
    """Each assistant field the SDK models, as sent (or its documented default)."""
    assert_carries(model, sent)
    assert isinstance(model.id, str) and model.id
    assert model.organization_id == organization_id
    for field in sent.get("structured_output_config", []):
        got = next(f for f in model.structured_output_config if f.name == field["name"])
        assert got.description == field.get("description")
        assert got.enum_options == field.get("enum_options")
    for item in model.faq_items:
        assert isinstance(item.id, str) and item.id
        assert item.source == "human"
        assert item.needs_human_answer is False
    assert model.pending_faq_count == 0
    assert_timestamp(model.created_at, near=datetime.now(UTC))
    assert_timestamp(model.updated_at, near=datetime.now(UTC))


@pytest.fixture
def client(sdk_env) -> Revox:
    return Revox()


@pytest.fixture
def other_client(server) -> Revox:
    return Revox(api_key=server.other_api_key, base_url=server.base_url)


@pytest.fixture
def organization_id(client: Revox) -> str:
    return client.users.me.retrieve().user.organization_id


# --- The spec's three examples, as written (only the values adapted) ------------------------------


def test_spec_create_example_without_an_assistant_is_unprocessable(client: Revox):
    with pytest.raises(revox.UnprocessableEntityError) as caught:
        client.call.create(
            phone_number="+12025550100",
        )
    assert caught.value.status_code == 422
    assert caught.value.body["error"]["param"] == "assistant_id"
    # The example's literal value is not E.164 either.
    with pytest.raises(revox.UnprocessableEntityError):
        client.call.create(phone_number="phone_number", assistant={"prompt": "Say hello"})


def test_spec_create_example_with_an_assistant_places_a_call(client: Revox):
    call = client.call.create(
        phone_number="+12025550100",
        assistant={"prompt": "Say hello"},
    )
    print(call.call)
    assert call.call.to_phone_number == "+12025550100"
    # Due now, or waiting for the default 10:00-18:00 window of Washington, DC.
    assert call.call.status in ("queued_for_calling", "scheduled")


def test_spec_retrieve_example_returns_the_call(client: Revox):
    placed = client.call.create(phone_number="+12025550100", assistant={"prompt": "Say hello"}).call
    call = client.call.retrieve(
        placed.id,
    )
    print(call.call)
    assert call.call.id == placed.id


def test_spec_list_example_returns_a_list_of_attempts(client: Revox):
    calls = client.call.list(
        page=1,
        page_size=1,
    )
    print(calls.calls)
    assert isinstance(calls.calls, list)
    assert len(calls.calls) <= 1


# --- Assistants: every field through create, retrieve, list, update, delete -----------------------


def test_full_assistant_uses_every_create_field():
    # Guards the fixture itself: a field added to the SDK's params must be added here too.
    assert set(FULL_ASSISTANT) == set(assistant_create_params.AssistantCreateParams.__annotations__)
    assert set(inline_assistant()) == set(call_create_params.Assistant.__annotations__)


def test_assistant_with_every_field_reads_back_through_create_retrieve_and_list(
    client: Revox, organization_id: str
):
    sent = full_assistant()
    created = client.assistants.create(**sent).assistant
    assert_full_assistant(created, sent, organization_id)

    retrieved = client.assistants.retrieve(created.id)  # the bare object, no envelope
    assert retrieved.id == created.id
    assert_full_assistant(retrieved, sent, organization_id)
    assert [f.id for f in retrieved.faq_items] == [f.id for f in created.faq_items]
    assert retrieved.to_dict() == created.to_dict()

    listed = [a for a in client.assistants.list().assistants if a.id == created.id]
    assert len(listed) == 1
    assert_full_assistant(listed[0], sent, organization_id)
    assert listed[0].to_dict() == created.to_dict()


def test_assistant_with_only_name_and_prompt_gets_the_documented_defaults(client: Revox, organization_id: str):
    created = client.assistants.create(name=f"Minimal {uuid.uuid4().hex[:6]}", prompt="Say hi").assistant
    for model in (created, client.assistants.retrieve(created.id)):
        assert model.organization_id == organization_id
        assert model.first_sentence_delay_ms == 400
        assert model.first_sentence_mode == "generated"
        assert model.ivr_navigation_enabled is False
        assert model.llm_model.type == "dedicated-instance"
        assert model.llm_model.name == "gpt-4.1"
        assert isinstance(model.max_call_duration_secs, float | int) and model.max_call_duration_secs > 0
        for nullable in (
            "background_sound", "calendly", "call_retry_config", "end_of_call_sentence", "first_sentence",
            "structured_output_config", "transfer_phone_number", "voice", "voicemail_message", "webhook_url",
        ):  # fmt: skip
            assert getattr(model, nullable) is None, nullable
        assert model.faq_items == []


def test_assistant_partial_update_changes_only_what_it_sends(client: Revox, organization_id: str):
    sent = full_assistant()
    created = client.assistants.create(**sent).assistant
    before = client.assistants.retrieve(created.id).to_dict()

    changes = {
        "name": f"Renamed {uuid.uuid4().hex[:6]}",
        "voice": {"id": "sandbox-es-diego", "provider": "elevenlabs", "speed": 0.8},
        "first_sentence_delay_ms": 0,
        "faq_items": [{"question": "Do you ship abroad?", "answer": "Yes, everywhere."}],
    }
    updated = client.assistants.update(created.id, **changes).assistant
    assert_full_assistant(updated, {**sent, **changes}, organization_id)
    assert updated.id == created.id

    after = client.assistants.retrieve(created.id).to_dict()
    assert after == updated.to_dict()
    # faq_items are replaced, not merged: one item now, with a new id.
    assert [(f["question"], f["answer"]) for f in after["faq_items"]] == [
        ("Do you ship abroad?", "Yes, everywhere.")
    ]
    assert after["faq_items"][0]["id"] not in {f["id"] for f in before["faq_items"]}
    untouched = set(before) - set(changes) - {"faq_items", "updated_at"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    assert assert_timestamp(after["updated_at"]) >= assert_timestamp(before["updated_at"])


def test_assistant_update_without_faq_items_keeps_them(client: Revox):
    created = client.assistants.create(**full_assistant()).assistant
    updated = client.assistants.update(created.id, prompt="A new prompt").assistant
    assert updated.prompt == "A new prompt"
    assert [f.id for f in updated.faq_items] == [f.id for f in created.faq_items]


def test_assistant_update_with_null_clears_a_nullable_field(client: Revox):
    created = client.assistants.create(**full_assistant()).assistant
    updated = client.assistants.update(created.id, transfer_phone_number=None, voicemail_message=None).assistant
    assert updated.transfer_phone_number is None
    assert updated.voicemail_message is None
    assert updated.webhook_url == FULL_ASSISTANT["webhook_url"]


def test_deleted_assistant_reads_as_not_found(client: Revox):
    created = client.assistants.create(**full_assistant()).assistant
    assert client.assistants.delete(created.id).success is True
    with pytest.raises(revox.NotFoundError) as caught:
        client.assistants.retrieve(created.id)
    assert caught.value.status_code == 404
    assert caught.value.body["error"]["type"] == "not_found"
    with pytest.raises(revox.NotFoundError):
        client.assistants.update(created.id, name="Ghost")
    with pytest.raises(revox.NotFoundError):
        client.assistants.delete(created.id)
    with pytest.raises(revox.NotFoundError):
        client.call.create(phone_number=unique_phone(), assistant_id=created.id, prompt_variables=VARIABLES)
    assert created.id not in {a.id for a in client.assistants.list().assistants}


def test_invalid_assistant_fields_are_unprocessable(client: Revox):
    bad = [
        {"voice": {"id": "sandbox-en-amy", "provider": "cartesia", "speed": 3.0}},
        {"transfer_phone_number": "0612345678"},
        {"call_retry_config": {"calling_windows": [{"calling_window_start_time": "25:00",
                                                    "calling_window_end_time": "18:00",
                                                    "retry_delay_seconds": 60}],
                               "max_retry_attempts": 1}},
        {"call_retry_config": {**FULL_ASSISTANT["call_retry_config"], "timezone": "Mars/Olympus"}},
        {"structured_output_config": [{"name": "x", "required": True, "type": "enum"}]},
    ]  # fmt: skip
    for fields in bad:
        with pytest.raises(revox.UnprocessableEntityError):
            client.assistants.create(name="Bad", prompt="p", **fields)


def test_every_field_the_sdk_requires_is_present_in_every_response(client: Revox):
    created = client.assistants.create(**full_assistant())
    assistant_id = created.assistant.id
    responses = {
        "assistants.create": created,
        "assistants.retrieve": client.assistants.retrieve(assistant_id),
        "assistants.list": client.assistants.list(),
        "assistants.update": client.assistants.update(assistant_id, name="Renamed"),
        "call.create inline": client.call.create(
            phone_number=unique_phone(), assistant=inline_assistant(), prompt_variables=VARIABLES,
            scheduled_at=in_two_days(),
        ),
        "call.create assistant_id": client.call.create(
            phone_number=unique_phone(), assistant_id=assistant_id, prompt_variables=VARIABLES, force_now=True
        ),
        "call.list": client.call.list(page=0, page_size=20),
        "users.me.retrieve": client.users.me.retrieve(),
        "users.me.update": client.users.me.update(has_completed_onboarding=True),
        "voices.list": client.voices.list(),
    }  # fmt: skip
    voice = responses["voices.list"].voices[0]
    responses["voices.retrieve"] = client.voices.retrieve(voice.id, provider=voice.provider)
    responses["call.retrieve"] = client.call.retrieve(responses["call.create inline"].call.id)
    responses["assistants.delete"] = client.assistants.delete(assistant_id)
    missing = {name: missing_required(response) for name, response in responses.items()}
    assert missing == {name: [] for name in responses}


# --- Calls: every Call field through create and retrieve ------------------------------------------


def assert_new_call(
    call: object,
    *,
    to: str,
    assistant_sent: dict,
    organization_id: str,
    retry_config: dict,
    llm_model: dict,
    first_sentence_delay_ms: int,
    from_phone_number: str | None,
    metadata: dict | None,
    status: str,
    scheduled_at: str | None,
) -> None:
    """Every field of the 0.1.1 Call model of a call order that has not been dialed yet."""
    assert isinstance(call.id, str) and call.id
    assert isinstance(call.assistant.id, str) and call.assistant.id
    assert_carries(call.assistant, assistant_sent)
    assert call.assistant.organization_id == organization_id
    assert call.call_attempts == []
    assert call.calls_count == 0
    assert_carries(call.call_retry_config, retry_config)
    assert call.campaign is None
    created_at = assert_timestamp(call.created_at, near=datetime.now(UTC))
    assert call.direction == "outbound"
    assert call.first_sentence_delay_ms == first_sentence_delay_ms
    if from_phone_number is None:
        assert isinstance(call.from_phone_number, str) and call.from_phone_number.startswith("+")
    else:
        assert call.from_phone_number == from_phone_number
    assert call.is_cancelled is False
    assert call.is_completed is False
    assert call.last_call_attempt is None
    assert_carries(call.llm_model, llm_model)
    assert call.metadata == metadata
    assert call.organization_id == organization_id
    assert_timestamp(call.scheduled_at)
    if scheduled_at is None:  # an immediate order is scheduled at its creation
        assert call.scheduled_at == call.created_at
    else:
        assert call.scheduled_at == scheduled_at
        assert assert_timestamp(call.scheduled_at) > created_at
    assert call.status == status
    assert call.to_phone_number == to


def in_two_days() -> datetime:
    return (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=250000)


def window_around_now(start_hours: float, end_hours: float) -> dict:
    """A UTC calling window from now + start_hours to now + end_hours (may span midnight)."""
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=start_hours), now + timedelta(hours=end_hours)
    return {
        "calling_windows": [
            {
                "calling_window_start_time": start.strftime("%H:%M"),
                "calling_window_end_time": end.strftime("%H:%M"),
                "retry_delay_seconds": 600,
            }
        ],
        "max_retry_attempts": 1,
        "timezone": "UTC",
    }


def assert_same_order(created: object, retrieved: object) -> None:
    """GET /call/{id} shows what POST /call answered; only what the dialer changes may differ, and
    only once it has made an attempt."""
    before, after = created.to_dict(), retrieved.to_dict()
    if not after["call_attempts"] and after["status"] == before["status"]:
        assert after == before
        return
    volatile = {"status", "call_attempts", "last_call_attempt", "calls_count", "updated_at", "is_completed"}
    assert {k: v for k, v in after.items() if k not in volatile} == {
        k: v for k, v in before.items() if k not in volatile
    }
    # The dispatcher claimed it: an attempt exists (counted once dialed), the latest one first.
    assert after["call_attempts"], f"status {after['status']} with no attempt"
    assert 0 <= after["calls_count"] <= len(after["call_attempts"])
    assert after["last_call_attempt"] == after["call_attempts"][0]


def test_call_with_inline_assistant_reads_back_every_field(client: Revox, organization_id: str):
    to, assistant, when = unique_phone(), inline_assistant(), in_two_days()
    metadata = {"crm_id": "c-1", "source": "acceptance"}
    created = client.call.create(
        phone_number=to,
        assistant=assistant,
        metadata=metadata,
        prompt_variables=VARIABLES,
        concurrency={"key": f"team-{uuid.uuid4().hex[:6]}", "max": 2},
        force_now=True,  # skips the calling window, not scheduled_at
        from_phone_number="+33612345678",
        scheduled_at=when,
    ).call
    expected = dict(
        to=to,
        assistant_sent=assistant,
        organization_id=organization_id,
        retry_config=assistant["call_retry_config"],
        llm_model=assistant["llm_model"],
        first_sentence_delay_ms=assistant["first_sentence_delay_ms"],
        from_phone_number="+33612345678",
        metadata=metadata,
        status="scheduled",
        scheduled_at=iso_ms(when),
    )
    assert_new_call(created, **expected)
    retrieved = client.call.retrieve(created.id).call
    assert_new_call(retrieved, **expected)
    assert retrieved.to_dict() == created.to_dict()
    # The variables are kept with the order (a field later SDKs model).
    assert retrieved.prompt_variables == VARIABLES


def test_call_with_assistant_id_carries_the_assistants_fields(client: Revox, organization_id: str):
    sent = full_assistant()
    assistant = client.assistants.create(**sent).assistant
    to, when = unique_phone(), in_two_days()
    created = client.call.create(
        phone_number=to, assistant_id=assistant.id, prompt_variables=VARIABLES, metadata={"k": "v"}, scheduled_at=when
    ).call
    assert created.assistant.id == assistant.id
    assert created.assistant.to_dict() == client.assistants.retrieve(assistant.id).to_dict()
    expected = dict(
        to=to,
        assistant_sent=sent,
        organization_id=organization_id,
        retry_config=sent["call_retry_config"],
        llm_model=sent["llm_model"],
        first_sentence_delay_ms=sent["first_sentence_delay_ms"],
        from_phone_number=None,
        metadata={"k": "v"},
        status="scheduled",
        scheduled_at=iso_ms(when),
    )
    assert_new_call(created, **expected)
    retrieved = client.call.retrieve(created.id).call
    assert_new_call(retrieved, **expected)
    assert retrieved.to_dict() == created.to_dict()


def test_immediate_call_with_minimal_inline_assistant_gets_the_defaults(client: Revox, organization_id: str):
    to = unique_phone()
    created = client.call.create(phone_number=to, assistant={"prompt": "Say hello"}, force_now=True).call
    assert_new_call(
        created,
        to=to,
        assistant_sent={"prompt": "Say hello"},
        organization_id=organization_id,
        retry_config=DEFAULT_RETRY_CONFIG,
        llm_model=DEFAULT_LLM_MODEL,
        first_sentence_delay_ms=400,
        from_phone_number=None,
        metadata=None,
        status="queued_for_calling",
        scheduled_at=None,
    )
    assert created.call_retry_config.timezone is None
    assert_same_order(created, client.call.retrieve(created.id).call)


def test_immediate_call_inside_its_calling_window_is_queued(client: Revox):
    open_now = window_around_now(-2, 2)
    assistant = {"prompt": "p", "call_retry_config": open_now}
    call = client.call.create(phone_number=unique_phone(), assistant=assistant).call
    assert call.status == "queued_for_calling"
    assert_carries(call.call_retry_config, open_now)
    assert_same_order(call, client.call.retrieve(call.id).call)


def test_immediate_call_outside_its_calling_window_waits_as_scheduled(client: Revox):
    closed_now = window_around_now(3, 4)
    assistant = {"prompt": "p", "call_retry_config": closed_now}
    call = client.call.create(phone_number=unique_phone(), assistant=assistant).call
    assert call.status == "scheduled"
    assert call.scheduled_at == call.created_at  # it was asked for now; the window delays the dial
    assert client.call.retrieve(call.id).call.to_dict() == call.to_dict()
    # force_now skips the window for the first attempt.
    forced = client.call.create(
        phone_number=unique_phone(), assistant={"prompt": "p", "call_retry_config": closed_now}, force_now=True
    ).call
    assert forced.status == "queued_for_calling"


def test_call_keeps_its_assistant_snapshot_after_the_assistant_changes(client: Revox):
    assistant = client.assistants.create(name="Snapshot", prompt="Original prompt").assistant
    call = client.call.create(phone_number=unique_phone(), assistant_id=assistant.id).call
    client.assistants.update(assistant.id, prompt="Changed prompt")
    client.assistants.delete(assistant.id)
    assert client.call.retrieve(call.id).call.assistant.prompt == "Original prompt"


def test_future_scheduled_call_is_scheduled_and_keeps_its_time_to_the_millisecond(
    client: Revox, organization_id: str
):
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=987654)
    to = unique_phone()
    created = client.call.create(phone_number=to, assistant={"prompt": "Later"}, scheduled_at=when).call
    expected = dict(
        to=to,
        assistant_sent={"prompt": "Later"},
        organization_id=organization_id,
        retry_config=DEFAULT_RETRY_CONFIG,
        llm_model=DEFAULT_LLM_MODEL,
        first_sentence_delay_ms=400,
        from_phone_number=None,
        metadata=None,
        status="scheduled",
        scheduled_at=iso_ms(when),
    )
    assert iso_ms(when).endswith(".987Z")
    assert_new_call(created, **expected)
    assert_new_call(client.call.retrieve(created.id).call, **expected)

    # The same moment sent as an RFC 3339 string with Z reads back identically.
    as_text = client.call.create(phone_number=to, assistant={"prompt": "Later"}, scheduled_at=iso_ms(when)).call
    assert as_text.scheduled_at == iso_ms(when)
    assert client.call.retrieve(as_text.id).call.scheduled_at == iso_ms(when)


def test_scheduled_at_with_a_utc_offset_reads_back_as_the_same_moment_in_utc(client: Revox):
    paris_summer = timezone(timedelta(hours=2))
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=123456).astimezone(paris_summer)
    created = client.call.create(phone_number=unique_phone(), assistant={"prompt": "Later"}, scheduled_at=when).call
    retrieved = client.call.retrieve(created.id).call
    assert {"create": created.scheduled_at, "retrieve": retrieved.scheduled_at} == {
        "create": iso_ms(when),
        "retrieve": iso_ms(when),
    }
    assert created.status == retrieved.status == "scheduled"


def test_past_scheduled_call_is_due_now(client: Revox):
    when = datetime.now(UTC) - timedelta(hours=1)
    assistant = {"prompt": "Now", "call_retry_config": window_around_now(-2, 2)}
    call = client.call.create(phone_number=unique_phone(), assistant=assistant, scheduled_at=when).call
    assert call.status == "queued_for_calling"
    assert call.scheduled_at == iso_ms(when)
    assert_same_order(call, client.call.retrieve(call.id).call)


def test_call_with_a_missing_prompt_variable_is_unprocessable(client: Revox):
    with pytest.raises(revox.UnprocessableEntityError) as caught:
        client.call.create(
            phone_number=unique_phone(), assistant=inline_assistant(), prompt_variables={"customer_name": "Ada"}
        )
    assert "order_id" in caught.value.body["error"]["message"]


def test_call_with_both_assistant_and_assistant_id_is_unprocessable(client: Revox):
    assistant = client.assistants.create(name="Both", prompt="p").assistant
    with pytest.raises(revox.UnprocessableEntityError):
        client.call.create(phone_number=unique_phone(), assistant_id=assistant.id, assistant={"prompt": "p"})


def test_unknown_call_id_reads_as_not_found(client: Revox):
    with pytest.raises(revox.NotFoundError):
        client.call.retrieve(str(uuid.uuid4()))


# --- call.list -------------------------------------------------------------------------------------


def test_call_list_returns_attempts_filtered_by_order_status(client: Revox):
    client.call.create(phone_number=unique_phone(), assistant={"prompt": "Listed"})
    everything = client.call.list(page=0, page_size=100)
    assert isinstance(everything.calls, list)
    filtered = client.call.list(page=0, page_size=5, statuses=["queued_for_calling", "scheduled"])
    assert isinstance(filtered.calls, list)
    assert len(filtered.calls) <= 5
    for attempt in everything.calls + filtered.calls:  # attempts, once the dialer has made some
        assert isinstance(attempt.id, str)
        assert attempt.status in ("queued", "ringing", "ongoing", "completed", "error")
        assert attempt.phone_number.startswith("+")


def test_call_list_shows_attempts_filtered_by_their_orders_status(client: Revox, other_client: Revox):
    # The sandbox carrier's built-in persona for numbers ending 0105: not attributed, a final error.
    to = "+12025550105"
    placed = client.call.create(phone_number=to, assistant={"prompt": "p"}, force_now=True).call
    deadline = time.monotonic() + 15
    while (call := client.call.retrieve(placed.id).call).status != "errored" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert call.status == "errored"
    assert (call.is_completed, call.is_cancelled, call.calls_count) == (False, False, 1)
    assert len(call.call_attempts) == 1
    attempt = call.call_attempts[0]
    assert call.last_call_attempt.to_dict() == attempt.to_dict()
    assert (attempt.status, attempt.dial_error, attempt.phone_number) == ("error", "number_non_attributed", to)
    assert attempt.answered_at is None
    assert_timestamp(attempt.ended_at, near=datetime.now(UTC))
    assert missing_required(call) == []

    errored = client.call.list(page=0, page_size=100, statuses=["errored"]).calls
    assert attempt.id in {a.id for a in errored}
    listed = next(a for a in errored if a.id == attempt.id)
    assert listed.to_dict() == attempt.to_dict()
    assert attempt.id not in {a.id for a in client.call.list(page=0, page_size=100, statuses=["scheduled"]).calls}
    assert attempt.id not in {a.id for a in other_client.call.list(page=0, page_size=100).calls}


def test_call_list_refuses_an_unknown_status_and_bad_paging(client: Revox):
    with pytest.raises(revox.UnprocessableEntityError) as caught:
        client.call.list(page=0, page_size=10, statuses=["queued_for_calling", "bogus"])
    assert caught.value.body["error"]["param"] == "statuses"
    for page, page_size in ((0, 0), (0, 101), (-1, 10)):
        with pytest.raises(revox.UnprocessableEntityError):
            client.call.list(page=page, page_size=page_size)


# --- users.me and voices ---------------------------------------------------------------------------


def test_users_me_reads_and_updates_onboarding(client: Revox):
    user = client.users.me.retrieve().user
    assert isinstance(user.id, str) and user.id
    assert isinstance(user.email, str) and "@" in user.email
    assert isinstance(user.organization_id, str) and user.organization_id
    assert user.first_name is None or isinstance(user.first_name, str)
    assert user.last_name is None or isinstance(user.last_name, str)
    assert_timestamp(user.created_at)
    assert_timestamp(user.updated_at)

    for value in (True, False, True):
        updated = client.users.me.update(has_completed_onboarding=value).user
        assert updated.has_completed_onboarding is value
        assert updated.id == user.id
        assert client.users.me.retrieve().user.has_completed_onboarding is value


def test_users_me_belongs_to_the_keys_organization(client: Revox, other_client: Revox):
    mine = client.users.me.retrieve().user
    theirs = other_client.users.me.retrieve().user
    assert mine.organization_id != theirs.organization_id
    call = client.call.create(phone_number=unique_phone(), assistant={"prompt": "p"}).call
    assert call.organization_id == mine.organization_id


def test_voices_list_and_retrieve_by_id_and_provider(client: Revox):
    voices = client.voices.list().voices
    assert voices
    for voice in voices:
        assert voice.id and voice.name and isinstance(voice.description, str)
        assert voice.language in ("en", "fr", "es", "de", "it", "pt", "ru", "zh")
        assert voice.provider in ("cartesia", "elevenlabs")
    for voice in voices:
        found = client.voices.retrieve(voice.id, provider=voice.provider).voice
        assert (found.id, found.name, found.description) == (voice.id, voice.name, voice.description)


def test_unknown_voice_reads_as_not_found(client: Revox):
    with pytest.raises(revox.NotFoundError):
        client.voices.retrieve("no-such-voice", provider="cartesia")
    cartesia = next(v for v in client.voices.list().voices if v.provider == "cartesia")
    with pytest.raises(revox.NotFoundError):  # right id, wrong provider
        client.voices.retrieve(cartesia.id, provider="elevenlabs")


# --- Organizations are walls -----------------------------------------------------------------------


def test_other_organizations_assistant_reads_as_not_found(client: Revox, other_client: Revox):
    mine = client.assistants.create(**full_assistant()).assistant
    with pytest.raises(revox.NotFoundError):
        other_client.assistants.retrieve(mine.id)
    with pytest.raises(revox.NotFoundError):
        other_client.assistants.update(mine.id, name="Stolen")
    with pytest.raises(revox.NotFoundError):
        other_client.assistants.delete(mine.id)
    with pytest.raises(revox.NotFoundError):  # clone is not in 0.1.1: the SDK's raw post
        other_client.post(f"/assistants/{mine.id}/clone", cast_to=object)
    # Nothing happened to it.
    assert client.assistants.retrieve(mine.id).to_dict() == mine.to_dict()
    assert mine.id not in {a.id for a in other_client.assistants.list().assistants}
    assert not [a for a in other_client.assistants.list().assistants if a.name == mine.name]


def test_other_organizations_call_reads_as_not_found(client: Revox, other_client: Revox):
    mine = client.call.create(phone_number=unique_phone(), assistant={"prompt": "Private"}).call
    with pytest.raises(revox.NotFoundError) as caught:
        other_client.call.retrieve(mine.id)
    assert caught.value.status_code == 404
    mine_ids = {mine.id} | {a.id for a in client.call.list(page=0, page_size=100).calls}
    theirs = other_client.call.list(page=0, page_size=100).calls
    assert not mine_ids & {a.id for a in theirs}


def test_call_with_other_organizations_assistant_id_is_not_found(client: Revox, other_client: Revox):
    mine = client.assistants.create(name="Mine only", prompt="Hello").assistant
    with pytest.raises(revox.NotFoundError):
        other_client.call.create(phone_number=unique_phone(), assistant_id=mine.id)


def test_other_organization_sees_its_own_assistants(client: Revox, other_client: Revox):
    theirs = other_client.assistants.create(name=f"Theirs {uuid.uuid4().hex[:6]}", prompt="Hi").assistant
    assert theirs.organization_id == other_client.users.me.retrieve().user.organization_id
    assert theirs.id in {a.id for a in other_client.assistants.list().assistants}
    assert theirs.id not in {a.id for a in client.assistants.list().assistants}
    with pytest.raises(revox.NotFoundError):
        client.assistants.retrieve(theirs.id)


# --- Read after write ------------------------------------------------------------------------------


def test_every_write_is_visible_to_the_very_next_request(client: Revox):
    """Once the API has answered, the change is committed: the next request sees it. (A transaction
    committed only after the response was sent shows up here as 404s and stale reads.)"""
    stale = []
    for i in range(15):
        assistant = client.assistants.create(name=f"Visible {i}", prompt="p").assistant
        try:
            client.assistants.retrieve(assistant.id)
        except revox.NotFoundError:
            stale.append(f"assistant {i} not found right after create")
        renamed = client.assistants.update(assistant.id, name=f"Renamed {i}").assistant
        if client.assistants.retrieve(assistant.id).name != renamed.name:
            stale.append(f"assistant {i} read its old name right after update")
        call = client.call.create(phone_number=unique_phone(), assistant_id=assistant.id, scheduled_at=in_two_days())
        try:
            client.call.retrieve(call.call.id)
        except revox.NotFoundError:
            stale.append(f"call {i} not found right after create")
    assert stale == []


# --- Auth ------------------------------------------------------------------------------------------


def test_bad_api_key_is_unauthenticated(server):
    bad = Revox(api_key="sk_not_a_real_key", base_url=server.base_url)
    with pytest.raises(revox.AuthenticationError) as caught:
        bad.call.list(page=0, page_size=1)
    assert caught.value.status_code == 401
    assert caught.value.body["error"]["type"] == "unauthenticated"
    with pytest.raises(revox.AuthenticationError):
        bad.assistants.list()
    with pytest.raises(revox.AuthenticationError):
        bad.call.create(phone_number="+12025550100", assistant={"prompt": "p"})


def test_missing_api_key_is_unauthenticated(server):
    with server.client() as http:
        response = http.get("/call", params={"page": 0, "page_size": 1}, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthenticated"


# --- Idempotency (raw HTTP: the SDK sends no Idempotency-Key) -------------------------------------


def _post_call(http, key: str | None, phone: str) -> dict:
    headers = {"Idempotency-Key": key} if key else {}
    response = http.post("/call", json={"phone_number": phone, "assistant": {"prompt": "p"}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["call"]


def test_repeated_idempotency_key_returns_the_first_order(server):
    key, phone = f"idem-{uuid.uuid4()}", unique_phone()
    with server.client() as http:
        first = _post_call(http, key, phone)
        again = _post_call(http, key, phone)
        assert again["id"] == first["id"]
        assert again["created_at"] == first["created_at"]
        assert http.get(f"/call/{first['id']}").json()["call"]["id"] == first["id"]
        other_key = _post_call(http, f"idem-{uuid.uuid4()}", phone)
        assert other_key["id"] != first["id"]
        no_key = [_post_call(http, None, phone)["id"] for _ in range(2)]
        assert len(set(no_key) | {first["id"], other_key["id"]}) == 4


def test_same_idempotency_key_in_another_organization_makes_its_own_order(server):
    key, phone = f"idem-{uuid.uuid4()}", unique_phone()
    with server.client() as mine, server.client(server.other_api_key) as theirs:
        first = _post_call(mine, key, phone)
        their_first = _post_call(theirs, key, phone)
        assert their_first["id"] != first["id"]
        assert their_first["organization_id"] != first["organization_id"]
        assert _post_call(theirs, key, phone)["id"] == their_first["id"]
        assert _post_call(mine, key, phone)["id"] == first["id"]
