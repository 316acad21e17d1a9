"""Assistant request models (SDK 0.1.1 fields) and the Assistant response shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from openrevox.schemas.common import E164, HttpUrl, Number, TimeZoneName, WholeNumber, WindowTime, WireModel, iso

DEFAULT_LLM_MODEL = {"type": "dedicated-instance", "name": "gpt-4.1"}
DEFAULT_FIRST_SENTENCE_DELAY_MS = 400
DEFAULT_MAX_CALL_DURATION_SECS = 600.0
# The spec's defaults when neither the assistant nor the order gives a retry config.
DEFAULT_RETRY_CONFIG_WIRE = {
    "calling_windows": [
        {"calling_window_start_time": "10:00", "calling_window_end_time": "18:00", "retry_delay_seconds": 7200}
    ],
    "max_retry_attempts": 3,
    "timezone": None,
}
VOICE_SPEED_RANGE = {"cartesia": (0.6, 1.5), "elevenlabs": (0.7, 1.2)}


class CallingWindowIn(WireModel):
    calling_window_start_time: WindowTime
    calling_window_end_time: WindowTime
    retry_delay_seconds: WholeNumber = Field(ge=0, le=30 * 86400)


class CallRetryConfigIn(WireModel):
    calling_windows: list[CallingWindowIn] = Field(min_length=1, max_length=24)
    max_retry_attempts: WholeNumber = Field(ge=0, le=50)
    timezone: TimeZoneName | None = None


class VoiceIn(WireModel):
    id: str = Field(min_length=1, max_length=200)
    provider: Literal["cartesia", "elevenlabs"]
    speed: Number | None = None

    @model_validator(mode="after")
    def _speed_in_provider_range(self) -> VoiceIn:
        low, high = VOICE_SPEED_RANGE[self.provider]
        if self.speed is not None and not low <= self.speed <= high:
            raise ValueError(f"speed {self.speed} is out of range for {self.provider}: {low}–{high}")
        return self


class CalendlyIn(WireModel):
    connection_id: str = Field(min_length=1)
    event_type_id: str = Field(min_length=1)


class StructuredOutputFieldIn(WireModel):
    name: str = Field(min_length=1, max_length=100)
    required: StrictBool
    type: Literal["string", "number", "boolean", "enum", "date", "datetime"]
    description: str | None = None
    enum_options: list[Annotated[str, Field(min_length=1)]] | None = None

    @model_validator(mode="after")
    def _enum_options_only_for_enum(self) -> StructuredOutputFieldIn:
        if self.type == "enum" and not self.enum_options:
            raise ValueError(f"field '{self.name}' is an enum: enum_options must list its values")
        if self.type != "enum" and self.enum_options is not None:
            raise ValueError(f"field '{self.name}' is a {self.type}: enum_options is only for enum fields")
        return self


class FaqItemIn(WireModel):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class DedicatedInstanceModel(WireModel):
    type: Literal["dedicated-instance"]
    name: Literal["gpt-4.1", "ministral-3-8b-instruct"]


class OpenRouterModel(WireModel):
    type: Literal["openrouter"]
    openrouter_model_id: str = Field(min_length=1)
    openrouter_provider: str = Field(min_length=1)


LlmModelIn = Annotated[DedicatedInstanceModel | OpenRouterModel, Field(discriminator="type")]


class AssistantFieldsIn(WireModel):
    """The optional fields shared by every way of giving an assistant."""

    background_sound: Literal["audio/office.ogg"] | None = None
    calendly: CalendlyIn | None = None
    call_retry_config: CallRetryConfigIn | None = None
    end_of_call_sentence: str | None = None
    faq_items: list[FaqItemIn] | None = None
    first_sentence: str | None = None
    first_sentence_delay_ms: WholeNumber | None = Field(None, ge=0, le=60_000)
    first_sentence_mode: Literal["generated", "static", "none"] | None = None
    ivr_navigation_enabled: StrictBool | None = None
    llm_model: LlmModelIn | None = None
    max_call_duration_secs: Number | None = Field(None, gt=0, le=4 * 3600)
    structured_output_config: list[StructuredOutputFieldIn] | None = None
    transfer_phone_number: E164 | None = None
    voice: VoiceIn | None = None
    voicemail_message: str | None = None
    webhook_url: HttpUrl | None = None

    @field_validator("structured_output_config")
    @classmethod
    def _unique_output_names(cls, fields: list[StructuredOutputFieldIn] | None) -> list | None:
        names = [f.name for f in fields or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"names must be unique: {', '.join(duplicates)} repeated")
        return fields


class InlineAssistantIn(AssistantFieldsIn):
    prompt: str = Field(min_length=1)


class AssistantCreateIn(AssistantFieldsIn):
    name: str = Field(min_length=1, max_length=500)
    prompt: str = Field(min_length=1)


class AssistantUpdateIn(AssistantFieldsIn):
    name: str | None = Field(None, min_length=1, max_length=500)
    prompt: str | None = Field(None, min_length=1)

    @field_validator("name", "prompt")
    @classmethod
    def _required_fields_not_nulled(cls, value: str | None) -> str:
        # Runs only for fields the client sent: an explicit null would erase a required value.
        if value is None:
            raise ValueError("cannot be null; leave it out to keep the current value")
        return value


def assistant_values(body: AssistantFieldsIn, *, only_given: bool) -> dict:
    """Column values from a request; with `only_given`, just what the client sent (PATCH)."""
    values = body.model_dump(exclude={"faq_items"}, exclude_unset=only_given)
    if only_given:
        # A PATCH that sends null for a required-with-default field resets it to its default.
        defaults = assistant_defaults()
        return {k: defaults[k] if v is None and k in defaults else v for k, v in values.items()}
    return {k: v for k, v in values.items()} | {
        k: default for k, default in assistant_defaults().items() if values.get(k) is None
    }


def assistant_defaults() -> dict:
    return {
        "first_sentence_delay_ms": DEFAULT_FIRST_SENTENCE_DELAY_MS,
        "first_sentence_mode": "generated",
        "ivr_navigation_enabled": False,
        "llm_model": dict(DEFAULT_LLM_MODEL),
        "max_call_duration_secs": DEFAULT_MAX_CALL_DURATION_SECS,
    }


ALL_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def render_retry_config(config: dict | None) -> dict | None:
    """A retry config as SDK 0.2+ also reads it: we call on every day and never twice in a row."""
    if config is None:
        return None
    return {"allowed_days": ALL_DAYS, "call_twice_in_a_row": False, **config}


# Assistant fields SDK 0.5.0 requires, at the values that say what openrevox does: no SMS, no
# thinking sounds, full background volume, one standalone assistant.
LATER_SDK_ASSISTANT_FIELDS = {
    "type": "standalone",
    "background_sound_volume": 1.0,
    "sms_enabled": False,
    "stt_model": "stt-rt-v4",
    "thinking_sound_probability": 0.0,
    "thinking_sound_volume": 0.0,
}


def render_faq_item(item: dict) -> dict:
    return {
        "id": item["id"],
        "question": item["question"],
        "answer": item["answer"],
        "source": item.get("source"),
        "needs_human_answer": item.get("needs_human_answer"),
    }


def render_assistant(row: dict, faq_items: list[dict]) -> dict:
    """The Assistant as SDK 0.1.1 models it: every key present, `null` where unset."""
    return {
        "id": row["id"],
        "name": row["name"],
        "organization_id": row["organization_id"],
        "prompt": row["prompt"],
        "background_sound": row["background_sound"],
        "calendly": row["calendly"],
        "call_retry_config": render_retry_config(row["call_retry_config"]),
        "end_of_call_sentence": row["end_of_call_sentence"],
        "first_sentence": row["first_sentence"],
        "first_sentence_delay_ms": row["first_sentence_delay_ms"],
        "first_sentence_mode": row["first_sentence_mode"],
        "ivr_navigation_enabled": row["ivr_navigation_enabled"],
        "llm_model": row["llm_model"],
        "max_call_duration_secs": row["max_call_duration_secs"],
        "structured_output_config": row["structured_output_config"],
        "transfer_phone_number": row["transfer_phone_number"],
        "voice": row["voice"],
        "voicemail_message": row["voicemail_message"],
        "webhook_url": row["webhook_url"],
        "faq_items": [render_faq_item(item) for item in faq_items],
        "pending_faq_count": sum(1 for item in faq_items if item.get("needs_human_answer")),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        **LATER_SDK_ASSISTANT_FIELDS,
    }
