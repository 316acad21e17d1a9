"""Bad input, one request per row: each gets the right 4xx and a JSON error that names the problem.

Every row asserts the exact status, a JSON content type, the envelope
`{"error": {"type", "message", "param"}}` (decisions.md, "Wire") with the type of its status, the
exact `param`, and a substring of the message (case-insensitive). No row may get a 5xx.

Paths and bodies may hold `{assistant}`, `{call}` and `{cancelled}`: ids of this organization
created once per server (see `ids`). Rows with `OTHER` in their headers are sent with the other
organization's key, so that the ids exist but belong to someone else (decisions.md: 404, never 403).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

PHONE = "+14155550123"
INLINE = {"prompt": "Say hello"}
OTHER = {"_auth": "other"}  # send with the other organization's key
NO_AUTH = {"_auth": "none"}  # send with no Authorization header
JSON = {"content-type": "application/json"}


def call(**fields) -> dict:
    """A valid POST /call body with `fields` added or replaced."""
    return {"phone_number": PHONE, "assistant": dict(INLINE), **fields}


def inline(**fields) -> dict:
    """A valid POST /call body whose inline assistant has `fields` added or replaced."""
    return call(assistant={**INLINE, **fields})


def retry_config(window: dict | None = None, **fields) -> dict:
    """A POST /call body whose inline assistant has this call_retry_config (one window)."""
    base_window = {"calling_window_start_time": "9am", "calling_window_end_time": "6:30pm", "retry_delay_seconds": 3600}
    config = {"calling_windows": [{**base_window, **(window or {})}], "max_retry_attempts": 2, **fields}
    return inline(call_retry_config=config)


def assistant(**fields) -> dict:
    """A valid POST /assistants body with `fields` added or replaced."""
    return {"name": "Receptionist", "prompt": "You answer the phone.", **fields}


SEARCH = {
    "assignee_ids": [],
    "assistant_ids": [],
    "campaign_ids": [],
    "directions": [],
    "from_phone_numbers": [],
    "outcomes": [],
    "results": [],
    "statuses": [],
    "page": 0,
    "page_size": 10,
}


def search(**fields) -> dict:
    return {**SEARCH, **fields}


def without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


class Chunked(bytes):
    """A raw body sent with chunked transfer encoding, so no Content-Length announces its size."""


W = "assistant.call_retry_config.calling_windows.0"

# (id, method, path, body, headers, status, param, message substring)
# body: dict/list -> JSON; bytes -> sent as is; None -> no body.
ROWS = [
    # ---- POST /call: body shape and JSON ------------------------------------------------------
    ("call-empty-object", "POST", "/call", {}, None, 422, "phone_number", "is required"),
    ("call-missing-phone-number", "POST", "/call", {"assistant": INLINE}, None, 422, "phone_number", "is required"),
    ("call-body-json-array", "POST", "/call", [call()], None, 400, None, "JSON object"),
    ("call-body-json-string", "POST", "/call", b'"+14155550123"', JSON, 400, None, "JSON object"),
    ("call-body-json-null", "POST", "/call", b"null", JSON, 400, None, "JSON object"),
    ("call-body-empty", "POST", "/call", b"", JSON, 400, None, "JSON object"),
    ("call-malformed-json", "POST", "/call", b'{"phone_number": "+1415', JSON, 400, None, "JSON"),
    ("call-malformed-json-trailing-comma", "POST", "/call", b'{"phone_number": "+14155550123",}', JSON, 400, None, "JSON"),
    ("call-non-utf8-bytes", "POST", "/call", b'\xff\xfe{"phone_number": "\xe9"}', JSON, 400, None, "JSON"),
    ("call-json-as-text-plain", "POST", "/call", json.dumps(call()).encode(), {"content-type": "text/plain"}, 400, None, "JSON"),
    ("call-body-2mb", "POST", "/call", json.dumps(call(metadata={"x": "a" * 2_000_000})).encode(), JSON, 413, None, "exceeds"),
    ("call-body-2mb-chunked", "POST", "/call", Chunked(b" " * 2_000_000), JSON, 413, None, "exceeds"),
    # ---- POST /call: wrong JSON types, one per top-level field --------------------------------
    ("call-type-phone_number", "POST", "/call", call(phone_number=14155550123), None, 422, "phone_number", "valid string"),
    ("call-type-assistant", "POST", "/call", call(assistant="Say hello"), None, 422, "assistant", "dictionary"),
    ("call-type-assistant_id", "POST", "/call", without(call(assistant_id=5), "assistant"), None, 422, "assistant_id", "valid string"),
    ("call-type-concurrency", "POST", "/call", call(concurrency="line-1"), None, 422, "concurrency", "dictionary"),
    ("call-type-force_now", "POST", "/call", call(force_now="yes"), None, 422, "force_now", "boolean"),
    ("call-type-skip_calling_window", "POST", "/call", call(skip_calling_window=1), None, 422, "skip_calling_window", "boolean"),
    ("call-type-from_phone_number", "POST", "/call", call(from_phone_number=["+14155550123"]), None, 422, "from_phone_number", "valid string"),
    ("call-type-metadata", "POST", "/call", call(metadata=["a"]), None, 422, "metadata", "dictionary"),
    ("call-type-metadata-value", "POST", "/call", call(metadata={"crm_id": 42}), None, 422, "metadata.crm_id", "valid string"),
    ("call-type-prompt_variables", "POST", "/call", call(prompt_variables="name=Ann"), None, 422, "prompt_variables", "dictionary"),
    ("call-type-prompt_variables-value", "POST", "/call", call(prompt_variables={"name": None}), None, 422, "prompt_variables.name", "valid string"),
    ("call-type-scheduled_at", "POST", "/call", call(scheduled_at=[]), None, 422, "scheduled_at", "datetime"),
    # JSON true is not a number (openrevox/scheduling/windows.py says so too), nor is "2".
    ("call-type-voice-speed-boolean", "POST", "/call", inline(voice={"id": "sandbox-en-amy", "provider": "cartesia", "speed": True}), None, 422, "assistant.voice.speed", "valid number"),
    ("call-type-max-retry-attempts-boolean", "POST", "/call", retry_config(max_retry_attempts=True), None, 422, "assistant.call_retry_config.max_retry_attempts", "valid integer"),
    ("call-type-concurrency-max-string", "POST", "/call", call(concurrency={"key": "line-1", "max": "2"}), None, 422, "concurrency.max", "valid integer"),
    ("call-type-max-call-duration-boolean", "POST", "/call", inline(max_call_duration_secs=True), None, 422, "assistant.max_call_duration_secs", "valid number"),
    ("call-type-inline-llm_model", "POST", "/call", inline(llm_model="gpt-4.1"), None, 422, "assistant.llm_model", "dictionary"),
    # ---- POST /call: the validation rules -----------------------------------------------------
    ("call-phone-no-plus", "POST", "/call", call(phone_number="14155550123"), None, 422, "phone_number", "E.164"),
    ("call-phone-not-possible", "POST", "/call", call(phone_number="+1415"), None, 422, "phone_number", "possible"),
    ("call-phone-letters", "POST", "/call", call(phone_number="+abc"), None, 422, "phone_number", "not a phone number"),
    ("call-from-phone-bad", "POST", "/call", call(from_phone_number="abc"), None, 422, "from_phone_number", "E.164"),
    ("call-neither-assistant-nor-id", "POST", "/call", {"phone_number": PHONE}, None, 422, "assistant_id", "exactly one"),
    ("call-both-assistant-and-id", "POST", "/call", call(assistant_id="{assistant}"), None, 422, "assistant_id", "exactly one"),
    ("call-unknown-assistant_id", "POST", "/call", {"phone_number": PHONE, "assistant_id": "no-such-assistant"}, None, 404, "assistant_id", "no-such-assistant"),
    ("call-other-org-assistant_id", "POST", "/call", {"phone_number": PHONE, "assistant_id": "{assistant}"}, OTHER, 404, "assistant_id", "No assistant"),
    ("call-unknown-field", "POST", "/call", call(priority="high"), None, 422, "priority", "is not a known field"),
    ("call-unknown-nested-field", "POST", "/call", inline(temperature=0.2), None, 422, "assistant.temperature", "is not a known field"),
    ("call-inline-assistant-has-no-name", "POST", "/call", inline(name="Bob"), None, 422, "assistant.name", "is not a known field"),
    ("call-inline-prompt-missing", "POST", "/call", call(assistant={"first_sentence": "Hi"}), None, 422, "assistant.prompt", "is required"),
    ("call-scheduled_at-not-a-date", "POST", "/call", call(scheduled_at="tomorrow morning"), None, 422, "scheduled_at", "datetime"),
    ("call-scheduled_at-out-of-range", "POST", "/call", call(scheduled_at="0001-01-01T00:00:00+14:00"), None, 422, "scheduled_at", "between"),
    ("call-voice-speed-above-cartesia", "POST", "/call", inline(voice={"id": "sandbox-en-amy", "provider": "cartesia", "speed": 1.6}), None, 422, "assistant.voice", "1.5"),
    ("call-voice-speed-below-cartesia", "POST", "/call", inline(voice={"id": "sandbox-en-amy", "provider": "cartesia", "speed": 0.5}), None, 422, "assistant.voice", "0.6"),
    ("call-voice-speed-above-elevenlabs", "POST", "/call", inline(voice={"id": "sandbox-en-frank", "provider": "elevenlabs", "speed": 1.3}), None, 422, "assistant.voice", "1.2"),
    ("call-voice-speed-below-elevenlabs", "POST", "/call", inline(voice={"id": "sandbox-en-frank", "provider": "elevenlabs", "speed": 0.65}), None, 422, "assistant.voice", "0.7"),
    ("call-voice-speed-type", "POST", "/call", inline(voice={"id": "sandbox-en-amy", "provider": "cartesia", "speed": "fast"}), None, 422, "assistant.voice.speed", "valid number"),
    ("call-voice-provider-unknown", "POST", "/call", inline(voice={"id": "v1", "provider": "polly"}), None, 422, "assistant.voice.provider", "'cartesia' or 'elevenlabs'"),
    ("call-variable-missing-in-prompt", "POST", "/call", inline(prompt="Ask for {{name}}"), None, 422, "prompt_variables.name", "{{name}}"),
    ("call-variable-missing-in-first_sentence", "POST", "/call", inline(first_sentence="Hi {{ first_name }}!"), None, 422, "prompt_variables.first_name", "first_sentence"),
    ("call-variable-missing-in-end_of_call_sentence", "POST", "/call", inline(end_of_call_sentence="Bye {{name}}"), None, 422, "prompt_variables.name", "end_of_call_sentence"),
    ("call-variable-missing-in-voicemail_message", "POST", "/call", {**inline(prompt="Call {{name}}", voicemail_message="Call {{agency}} back"), "prompt_variables": {"name": "Ann"}}, None, 422, "prompt_variables.agency", "voicemail_message"),
    ("call-window-start-hour-25", "POST", "/call", retry_config({"calling_window_start_time": "25:00"}), None, 422, f"{W}.calling_window_start_time", "'25:00' is not a time of day"),
    ("call-window-start-13pm", "POST", "/call", retry_config({"calling_window_start_time": "13pm"}), None, 422, f"{W}.calling_window_start_time", "'13pm'"),
    ("call-window-end-17h", "POST", "/call", retry_config({"calling_window_end_time": "17h"}), None, 422, f"{W}.calling_window_end_time", "'17h' is not a time of day"),
    ("call-window-end-type", "POST", "/call", retry_config({"calling_window_end_time": 1700}), None, 422, f"{W}.calling_window_end_time", "valid string"),
    ("call-window-end-missing", "POST", "/call", inline(call_retry_config={"calling_windows": [{"calling_window_start_time": "9:00", "retry_delay_seconds": 60}], "max_retry_attempts": 1}), None, 422, f"{W}.calling_window_end_time", "is required"),
    ("call-window-retry-delay-negative", "POST", "/call", retry_config({"retry_delay_seconds": -1}), None, 422, f"{W}.retry_delay_seconds", "greater than or equal to 0"),
    ("call-window-retry-delay-type", "POST", "/call", retry_config({"retry_delay_seconds": "2h"}), None, 422, f"{W}.retry_delay_seconds", "valid integer"),
    ("call-windows-empty", "POST", "/call", inline(call_retry_config={"calling_windows": [], "max_retry_attempts": 1}), None, 422, "assistant.call_retry_config.calling_windows", "at least 1"),
    ("call-windows-not-a-list", "POST", "/call", inline(call_retry_config={"calling_windows": {}, "max_retry_attempts": 1}), None, 422, "assistant.call_retry_config.calling_windows", "valid list"),
    ("call-windows-timezone-unknown", "POST", "/call", retry_config(timezone="Mars/Olympus_Mons"), None, 422, "assistant.call_retry_config.timezone", "IANA"),
    ("call-max-retry-attempts-negative", "POST", "/call", retry_config(max_retry_attempts=-1), None, 422, "assistant.call_retry_config.max_retry_attempts", "greater than or equal to 0"),
    ("call-max-call-duration-zero", "POST", "/call", inline(max_call_duration_secs=0), None, 422, "assistant.max_call_duration_secs", "greater than 0"),
    ("call-max-call-duration-negative", "POST", "/call", inline(max_call_duration_secs=-30), None, 422, "assistant.max_call_duration_secs", "greater than 0"),
    ("call-first-sentence-delay-negative", "POST", "/call", inline(first_sentence_delay_ms=-1), None, 422, "assistant.first_sentence_delay_ms", "greater than or equal to 0"),
    ("call-first-sentence-delay-fraction", "POST", "/call", inline(first_sentence_delay_ms=1.5), None, 422, "assistant.first_sentence_delay_ms", "integer"),
    ("call-concurrency-max-zero", "POST", "/call", call(concurrency={"key": "line-1", "max": 0}), None, 422, "concurrency.max", "greater than or equal to 1"),
    ("call-concurrency-key-missing", "POST", "/call", call(concurrency={"max": 2}), None, 422, "concurrency.key", "is required"),
    ("call-webhook-url-ftp", "POST", "/call", inline(webhook_url="ftp://example.com/hook"), None, 422, "assistant.webhook_url", "http(s)"),
    ("call-webhook-url-not-a-url", "POST", "/call", inline(webhook_url="my server"), None, 422, "assistant.webhook_url", "http(s)"),
    ("call-enum-without-options", "POST", "/call", inline(structured_output_config=[{"name": "mood", "required": True, "type": "enum"}]), None, 422, "assistant.structured_output_config.0", "enum_options"),
    ("call-llm-model-unknown-name", "POST", "/call", inline(llm_model={"type": "dedicated-instance", "name": "gpt-5"}), None, 422, "assistant.llm_model.dedicated-instance.name", "'gpt-4.1'"),
    ("call-llm-model-unknown-type", "POST", "/call", inline(llm_model={"type": "local"}), None, 422, "assistant.llm_model", "'local'"),
    ("call-idempotency-key-too-long", "POST", "/call", call(), {"Idempotency-Key": "k" * 300}, 422, "idempotency-key", "255"),
    # Strings no database stores and no JSON encoder writes back: a lone surrogate, a NUL.
    ("call-lone-surrogate-in-metadata", "POST", "/call", b'{"phone_number": "+14155550123", "assistant": {"prompt": "Hi"}, "metadata": {"crm_id": "\\ud800"}}', JSON, 422, "metadata", "unicode"),
    ("call-lone-surrogate-in-phone_number", "POST", "/call", b'{"phone_number": "\\ud800", "assistant": {"prompt": "Hi"}}', JSON, 422, "phone_number", "unicode"),
    ("call-nul-in-prompt", "POST", "/call", inline(prompt="Say\u0000hello"), None, 422, "assistant.prompt", "NUL"),
    ("call-nul-in-metadata-key", "POST", "/call", call(metadata={"crm\u0000id": "1"}), None, 422, "metadata", "NUL"),
    # An unknown key that cannot be printed, holding text that cannot be stored: no field to name.
    ("call-lone-surrogate-in-key-and-value", "POST", "/call", b'{"phone_number": "+14155550123", "assistant": {"prompt": "Hi"}, "x\\ud800": "\\udc00"}', JSON, 422, None, "unicode"),
    # ---- POST /assistants ---------------------------------------------------------------------
    ("assistant-missing-name", "POST", "/assistants", without(assistant(), "name"), None, 422, "name", "is required"),
    ("assistant-missing-prompt", "POST", "/assistants", without(assistant(), "prompt"), None, 422, "prompt", "is required"),
    ("assistant-empty-name", "POST", "/assistants", assistant(name=""), None, 422, "name", "at least 1"),
    ("assistant-type-name", "POST", "/assistants", assistant(name=5), None, 422, "name", "valid string"),
    ("assistant-body-json-array", "POST", "/assistants", [assistant()], None, 400, None, "JSON object"),
    ("assistant-voice-provider-unknown", "POST", "/assistants", assistant(voice={"id": "v1", "provider": "google"}), None, 422, "voice.provider", "'cartesia' or 'elevenlabs'"),
    ("assistant-voice-id-missing", "POST", "/assistants", assistant(voice={"provider": "cartesia"}), None, 422, "voice.id", "is required"),
    ("assistant-voice-speed-out-of-range", "POST", "/assistants", assistant(voice={"id": "sandbox-en-frank", "provider": "elevenlabs", "speed": 1.5}), None, 422, "voice", "speed"),
    ("assistant-enum-options-on-string", "POST", "/assistants", assistant(structured_output_config=[{"name": "city", "required": False, "type": "string", "enum_options": ["Paris"]}]), None, 422, "structured_output_config.0", "enum_options is only for enum"),
    ("assistant-structured-output-duplicate-names", "POST", "/assistants", assistant(structured_output_config=[{"name": "city", "required": True, "type": "string"}, {"name": "city", "required": False, "type": "number"}]), None, 422, "structured_output_config", "unique"),
    ("assistant-structured-output-unknown-type", "POST", "/assistants", assistant(structured_output_config=[{"name": "c", "required": True, "type": "color"}]), None, 422, "structured_output_config.0.type", "'string'"),
    ("assistant-structured-output-required-type", "POST", "/assistants", assistant(structured_output_config=[{"name": "c", "required": "yes", "type": "string"}]), None, 422, "structured_output_config.0.required", "boolean"),
    ("assistant-structured-output-not-a-list", "POST", "/assistants", assistant(structured_output_config={"city": "string"}), None, 422, "structured_output_config", "valid list"),
    ("assistant-llm-model-no-type", "POST", "/assistants", assistant(llm_model={"name": "gpt-4.1"}), None, 422, "llm_model", "'type'"),
    ("assistant-llm-model-openrouter-incomplete", "POST", "/assistants", assistant(llm_model={"type": "openrouter"}), None, 422, "llm_model.openrouter.openrouter_model_id", "is required"),
    ("assistant-llm-model-openrouter-empty-id", "POST", "/assistants", assistant(llm_model={"type": "openrouter", "openrouter_model_id": "", "openrouter_provider": "x"}), None, 422, "llm_model.openrouter.openrouter_model_id", "at least 1"),
    ("assistant-llm-model-list", "POST", "/assistants", assistant(llm_model=["gpt-4.1"]), None, 422, "llm_model", "dictionary"),
    ("assistant-transfer-phone-bad", "POST", "/assistants", assistant(transfer_phone_number="+1"), None, 422, "transfer_phone_number", "not a phone number"),
    ("assistant-first-sentence-mode-unknown", "POST", "/assistants", assistant(first_sentence_mode="loud"), None, 422, "first_sentence_mode", "'generated'"),
    ("assistant-ivr-flag-string", "POST", "/assistants", assistant(ivr_navigation_enabled="true"), None, 422, "ivr_navigation_enabled", "boolean"),
    ("assistant-faq-answer-missing", "POST", "/assistants", assistant(faq_items=[{"question": "Open on Sunday?"}]), None, 422, "faq_items.0.answer", "is required"),
    ("assistant-background-sound-unknown", "POST", "/assistants", assistant(background_sound="audio/rain.ogg"), None, 422, "background_sound", "audio/office.ogg"),
    ("assistant-max-call-duration-string", "POST", "/assistants", assistant(max_call_duration_secs="long"), None, 422, "max_call_duration_secs", "valid number"),
    ("assistant-unknown-field", "POST", "/assistants", assistant(id="chosen-id"), None, 422, "id", "is not a known field"),
    ("assistant-nul-in-name", "POST", "/assistants", assistant(name="Recep\u0000tionist"), None, 422, "name", "NUL"),
    # ---- PATCH /assistants/{id} ---------------------------------------------------------------
    ("patch-assistant-name-null", "PATCH", "/assistants/{assistant}", {"name": None}, None, 422, "name", "cannot be null"),
    ("patch-assistant-prompt-null", "PATCH", "/assistants/{assistant}", {"prompt": None}, None, 422, "prompt", "cannot be null"),
    ("patch-assistant-type-name", "PATCH", "/assistants/{assistant}", {"name": 3}, None, 422, "name", "valid string"),
    ("patch-assistant-voice-speed", "PATCH", "/assistants/{assistant}", {"voice": {"id": "sandbox-en-amy", "provider": "cartesia", "speed": 0.5}}, None, 422, "voice", "speed"),
    ("patch-assistant-window-time", "PATCH", "/assistants/{assistant}", {"call_retry_config": {"calling_windows": [{"calling_window_start_time": "noon", "calling_window_end_time": "5pm", "retry_delay_seconds": 60}], "max_retry_attempts": 1}}, None, 422, "call_retry_config.calling_windows.0.calling_window_start_time", "'noon'"),
    ("patch-assistant-unknown-field", "PATCH", "/assistants/{assistant}", {"bogus": 1}, None, 422, "bogus", "is not a known field"),
    ("patch-assistant-body-json-array", "PATCH", "/assistants/{assistant}", [], None, 400, None, "JSON object"),
    ("patch-assistant-malformed-json", "PATCH", "/assistants/{assistant}", b"{name: 'x'}", JSON, 400, None, "JSON"),
    # ---- unknown ids: every /assistants/{id} and /call/{id} route ----------------------------
    ("unknown-assistant-get", "GET", "/assistants/no-such-assistant", None, None, 404, "id", "No assistant with id 'no-such-assistant'"),
    ("unknown-assistant-patch", "PATCH", "/assistants/no-such-assistant", {"name": "x"}, None, 404, "id", "No assistant"),
    ("unknown-assistant-delete", "DELETE", "/assistants/no-such-assistant", None, None, 404, "id", "No assistant"),
    ("unknown-assistant-clone", "POST", "/assistants/no-such-assistant/clone", None, None, 404, "id", "No assistant"),
    ("unknown-assistant-nul-id", "GET", "/assistants/%00", None, None, 404, "id", "No assistant"),
    ("unknown-call-get", "GET", "/call/no-such-call", None, None, 404, "id", "No call with id 'no-such-call'"),
    ("unknown-call-cancel", "POST", "/call/no-such-call/cancel", None, None, 404, "id", "No call"),
    ("unknown-call-pause", "POST", "/call/no-such-call/pause", None, None, 404, "id", "No call"),
    ("unknown-call-resume", "POST", "/call/no-such-call/resume", None, None, 404, "id", "No call"),
    ("unknown-call-nul-id", "GET", "/call/%00", None, None, 404, "id", "No call"),
    ("unknown-call-very-long-id", "GET", "/call/" + "x" * 3000, None, None, 404, "id", "No call"),
    # ---- another organization's ids: 404, as if they did not exist ----------------------------
    ("other-org-assistant-get", "GET", "/assistants/{assistant}", None, OTHER, 404, "id", "No assistant"),
    ("other-org-assistant-patch", "PATCH", "/assistants/{assistant}", {"name": "Mine now"}, OTHER, 404, "id", "No assistant"),
    ("other-org-assistant-delete", "DELETE", "/assistants/{assistant}", None, OTHER, 404, "id", "No assistant"),
    ("other-org-assistant-clone", "POST", "/assistants/{assistant}/clone", None, OTHER, 404, "id", "No assistant"),
    ("other-org-call-get", "GET", "/call/{call}", None, OTHER, 404, "id", "No call"),
    ("other-org-call-cancel", "POST", "/call/{call}/cancel", None, OTHER, 404, "id", "No call"),
    ("other-org-call-pause", "POST", "/call/{call}/pause", None, OTHER, 404, "id", "No call"),
    ("other-org-call-resume", "POST", "/call/{call}/resume", None, OTHER, 404, "id", "No call"),
    # ---- GET /call query parameters -----------------------------------------------------------
    ("list-page-negative", "GET", "/call?page=-1", None, None, 422, "page", "greater than or equal to 0"),
    ("list-page-not-a-number", "GET", "/call?page=first", None, None, 422, "page", "valid integer"),
    ("list-page-size-zero", "GET", "/call?page_size=0", None, None, 422, "page_size", "greater than or equal to 1"),
    ("list-page-size-101", "GET", "/call?page_size=101", None, None, 422, "page_size", "less than or equal to 100"),
    ("list-page-size-fraction", "GET", "/call?page_size=2.5", None, None, 422, "page_size", "valid integer"),
    ("list-statuses-unknown", "GET", "/call?statuses=calling%2Cringing", None, None, 422, "statuses", "'ringing'"),
    # ---- POST /call/search --------------------------------------------------------------------
    ("search-empty-body", "POST", "/call/search", {}, None, 422, "assignee_ids", "is required"),
    ("search-missing-statuses", "POST", "/call/search", without(SEARCH, "statuses"), None, 422, "statuses", "is required"),
    ("search-missing-page", "POST", "/call/search", without(SEARCH, "page"), None, 422, "page", "is required"),
    ("search-page-size-zero", "POST", "/call/search", search(page_size=0), None, 422, "page_size", "greater than or equal to 1"),
    ("search-page-size-101", "POST", "/call/search", search(page_size=101), None, 422, "page_size", "less than or equal to 100"),
    ("search-page-negative", "POST", "/call/search", search(page=-1), None, 422, "page", "greater than or equal to 0"),
    ("search-statuses-not-a-list", "POST", "/call/search", search(statuses="calling"), None, 422, "statuses", "valid list"),
    ("search-direction-unknown", "POST", "/call/search", search(directions=["sideways"]), None, 422, "directions.0", "'inbound' or 'outbound'"),
    ("search-sort-direction-unknown", "POST", "/call/search", search(sort_direction="up"), None, 422, "sort_direction", "'asc' or 'desc'"),
    # ---- PATCH /users/me ----------------------------------------------------------------------
    ("user-onboarding-string", "PATCH", "/users/me", {"has_completed_onboarding": "yes"}, None, 422, "has_completed_onboarding", "boolean"),
    ("user-onboarding-missing", "PATCH", "/users/me", {}, None, 422, "has_completed_onboarding", "is required"),
    ("user-unknown-field", "PATCH", "/users/me", {"has_completed_onboarding": True, "email": "a@b.c"}, None, 422, "email", "is not a known field"),
    # ---- GET /voices/{id} ---------------------------------------------------------------------
    ("voice-provider-missing", "GET", "/voices/sandbox-en-amy", None, None, 422, "provider", "is required"),
    ("voice-provider-unknown", "GET", "/voices/sandbox-en-amy?provider=google", None, None, 422, "provider", "'cartesia' or 'elevenlabs'"),
    ("voice-unknown-id", "GET", "/voices/no-such-voice?provider=cartesia", None, None, 404, "id", "no-such-voice"),
    ("voice-wrong-provider", "GET", "/voices/sandbox-en-amy?provider=elevenlabs", None, None, 404, "id", "sandbox-en-amy"),
    # ---- authentication: checked before anything else -----------------------------------------
    ("auth-missing", "GET", "/assistants", None, NO_AUTH, 401, None, "Missing API key"),
    ("auth-unknown-key", "GET", "/assistants", None, {"Authorization": "Bearer sk_not_a_key"}, 401, None, "Unknown API key"),
    ("auth-basic-scheme", "GET", "/call", None, {"Authorization": "Basic dXNlcjpwYXNz"}, 401, None, "Bearer"),
    ("auth-bearer-without-key", "GET", "/users/me", None, {"Authorization": "Bearer"}, 401, None, "Missing API key"),
    ("auth-missing-before-validation", "POST", "/call", {"phone_number": 1}, NO_AUTH, 401, None, "Missing API key"),
    ("auth-unknown-key-on-call", "GET", "/call/{call}", None, {"Authorization": "Bearer sk_not_a_key"}, 401, None, "Unknown API key"),
    # ---- actions the order's state forbids: 400, never 409 ------------------------------------
    ("state-resume-scheduled-call", "POST", "/call/{call}/resume", None, None, 400, "id", "not paused"),
    ("state-cancel-cancelled-call", "POST", "/call/{cancelled}/cancel", None, None, 400, "id", "already cancelled"),
    ("state-pause-cancelled-call", "POST", "/call/{cancelled}/pause", None, None, 400, "id", "already cancelled"),
    ("state-resume-cancelled-call", "POST", "/call/{cancelled}/resume", None, None, 400, "id", "not paused"),
    # ---- routing ------------------------------------------------------------------------------
    ("route-unknown-path", "GET", "/calls-that-do-not-exist", None, None, 404, None, "Not Found"),
    ("route-method-not-allowed", "PUT", "/call", call(), None, 405, None, "Method Not Allowed"),
]


@pytest.fixture(scope="module")
def ids(server) -> dict[str, str]:
    """Ids of the first organization: an assistant, a call scheduled far ahead, a cancelled call."""
    with server.client() as client:
        created = client.post("/assistants", json=assistant())
        assert created.status_code == 200, created.text
        scheduled = client.post("/call", json=call(scheduled_at="2099-01-01T10:00:00Z"))
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["call"]["status"] == "scheduled"
        cancelled = client.post("/call", json=call(scheduled_at="2099-01-01T10:00:00Z"))
        assert cancelled.status_code == 200, cancelled.text
        cancelled_id = cancelled.json()["call"]["id"]
        assert client.post(f"/call/{cancelled_id}/cancel").status_code == 200
    return {
        "assistant": created.json()["assistant"]["id"],
        "call": scheduled.json()["call"]["id"],
        "cancelled": cancelled_id,
    }


# The type each status carries (openrevox/errors.py), whoever raised the error.
ERROR_TYPES = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
}


def _fill(value, ids: dict[str, str]):
    """Replace the `{assistant}`-style placeholders in a path or JSON body."""
    if isinstance(value, str):
        for name, real in ids.items():
            value = value.replace("{" + name + "}", real)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_table_has_enough_distinct_rows():
    names = [row[0] for row in ROWS]
    assert len(names) == len(set(names))
    assert len(ROWS) >= 45


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "param", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_bad_input(server, ids, method, path, body, headers, status, param, message):
    headers = dict(headers or {})
    auth = headers.pop("_auth", None)
    key = server.other_api_key if auth == "other" else server.api_key
    request_headers = {} if auth == "none" else {"Authorization": f"Bearer {key}"}
    request_headers.update(headers)

    kwargs: dict = {}
    if isinstance(body, Chunked):
        kwargs["content"] = _chunks(bytes(body))
    elif isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = _fill(body, ids)

    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.request(method, _fill(path, ids), headers=request_headers, **kwargs)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) == {"type", "message", "param"}, error
    assert error["type"] == ERROR_TYPES[status], error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["param"] == param, error
    assert message.lower() in error["message"].lower(), error
