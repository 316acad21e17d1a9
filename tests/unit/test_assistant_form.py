"""The dashboard's assistant form: inputs named after API parameters become the API's body, are
checked by the API's models, and an assistant reads back into the same inputs."""

from __future__ import annotations

import pytest

from assistant_fields import FULL_ASSISTANT  # noqa: E402  (tests/assistant_fields.py)
from openrevox.schemas.assistants import AssistantCreateIn, render_assistant, assistant_values
from openrevox.web.assistant_form import form_body, form_values, row_count, rows_to_show, validate

BASE = {"name": "Reminder", "prompt": "Remind {{name}}."}


@pytest.mark.parametrize(
    ("form", "body"),
    [
        # Blank inputs are left out; name and prompt always go (so the API can say they are empty).
        ({"name": "", "prompt": "", "first_sentence": " ", "voice.id": ""}, {"name": "", "prompt": "", "ivr_navigation_enabled": False}),
        # Numbers become numbers; a text that is none stays text, for the API to refuse by name.
        ({**BASE, "first_sentence_delay_ms": "250", "max_call_duration_secs": "90.5", "voice.speed": "fast"},
         {**BASE, "first_sentence_delay_ms": 250, "max_call_duration_secs": 90.5, "voice": {"speed": "fast"}, "ivr_navigation_enabled": False}),
        # A checked box is true.
        ({**BASE, "ivr_navigation_enabled": "on"}, {**BASE, "ivr_navigation_enabled": True}),
        # Rows become lists in row order; a row left blank (only its select has a value) is gone.
        ({**BASE, "structured_output_config.1.name": "mood", "structured_output_config.1.type": "enum",
          "structured_output_config.1.enum_options": "calm, angry,", "structured_output_config.1.required": "on",
          "structured_output_config.0.name": "email", "structured_output_config.0.type": "string",
          "structured_output_config.2.type": "string"},
         {**BASE, "ivr_navigation_enabled": False, "structured_output_config": [
             {"name": "email", "type": "string", "required": False},
             {"name": "mood", "type": "enum", "enum_options": ["calm", "angry"], "required": True}]}),
        # Only the chosen model type's inputs are sent.
        ({**BASE, "llm_model.type": "openrouter", "llm_model.name": "gpt-4.1", "llm_model.openrouter_model_id": "m",
          "llm_model.openrouter_provider": "p"},
         {**BASE, "ivr_navigation_enabled": False, "llm_model": {"type": "openrouter", "openrouter_model_id": "m", "openrouter_provider": "p"}}),
        ({**BASE, "call_retry_config.calling_windows.0.calling_window_start_time": "09:00",
          "call_retry_config.calling_windows.0.calling_window_end_time": "12:00",
          "call_retry_config.calling_windows.0.retry_delay_seconds": "600", "call_retry_config.max_retry_attempts": "2"},
         {**BASE, "ivr_navigation_enabled": False, "call_retry_config": {"max_retry_attempts": 2, "calling_windows": [
             {"calling_window_start_time": "09:00", "calling_window_end_time": "12:00", "retry_delay_seconds": 600}]}}),
    ],
)
def test_form_becomes_the_api_body(form: dict, body: dict) -> None:
    assert form_body(form) == body


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"name": "", "prompt": "x"}, [("name", "String should have at least 1 character")]),
        ({**BASE, "voice.id": "amy", "voice.provider": "cartesia", "voice.speed": "3"},
         [("voice", "speed 3.0 is out of range for cartesia: 0.6–1.5")]),
        ({**BASE, "voice.id": "amy", "voice.provider": "cartesia", "voice.speed": "fast"},
         [("voice.speed", "Input should be a valid number, not str")]),
        ({**BASE, "transfer_phone_number": "0612"},
         [("transfer_phone_number", "'0612' is not in E.164 format: it must start with '+' and the country code, e.g. +14155550123")]),
        ({**BASE, "structured_output_config.0.name": "mood", "structured_output_config.0.type": "enum"},
         [("structured_output_config.0", "field 'mood' is an enum: enum_options must list its values")]),
        ({**BASE, "call_retry_config.timezone": "Mars/Olympus"},
         [("call_retry_config.calling_windows", "is required"),
          ("call_retry_config.max_retry_attempts", "is required"),
          ("call_retry_config.timezone", "'Mars/Olympus' is not an IANA time zone name, e.g. 'Europe/Paris' or 'America/New_York'")]),
    ],
)
def test_errors_are_the_apis_named_after_the_inputs(form: dict, errors: list) -> None:
    model, found = validate(form, creating=True)
    assert model is None
    assert found == errors


def test_an_assistant_reads_back_into_the_form_unchanged() -> None:
    created = AssistantCreateIn.model_validate(FULL_ASSISTANT)
    row = {**assistant_values(created, only_given=False), "id": "a1", "organization_id": "o1", "created_at": None, "updated_at": None}
    faqs = [{"id": f"f{i}", **f.model_dump(), "source": "human", "needs_human_answer": False} for i, f in enumerate(created.faq_items or [])]
    values = form_values(render_assistant(row, faqs))
    again, errors = validate(values, creating=True)
    assert errors == []
    assert again.model_dump() == created.model_dump()
    # An edit replaces every field: one the form leaves blank is cleared.
    cleared, errors = validate({**values, "voicemail_message": ""}, creating=False)
    assert errors == [] and cleared.voicemail_message is None and "voicemail_message" in cleared.model_fields_set


def test_rows_shown_are_those_filled_in_and_one_more() -> None:
    values = {"faq_items.0.question": "Q", "faq_items.2.answer": "A", "faq_items.3.question": ""}
    assert row_count(values, "faq_items") == 4
    assert row_count({}, "faq_items") == 1


def test_an_add_button_shows_one_more_row_and_blank_rows_already_shown_stay() -> None:
    values = {"faq_items.0.question": "Q"}
    assert rows_to_show(values)["faq_items"] == 2  # the filled one and a blank one
    # The page showed 2 (row 1 still blank) and "Add a FAQ item" was pressed: 3, the others as they were.
    rows = rows_to_show(values, {"rows.faq_items": "2", "rows.structured_output_config": "1", "add_row": "faq_items"})
    assert rows == {"faq_items": 3, "structured_output_config": 1, "call_retry_config.calling_windows": 1}
    assert rows_to_show(values, {"rows.faq_items": "not a number"})["faq_items"] == 2
