"""Structured output: the assistant's `structured_output_config` fields, read from a transcript.

The order's LLM is asked once for a JSON object matching a schema built from the config (strict
`json_schema` where the provider takes it, JSON mode where it refuses), and its answer is checked
and normalized field by field: dates `YYYY-MM-DD`, datetimes RFC 3339, numbers as numbers,
booleans, enums only from their options. Values that fail are asked again once, with the errors;
what still fails is `null`, with the reason logged. A field the conversation did not give is
`null` too. Extraction never raises: an unreachable or failing endpoint gives `None`, so it can
never keep an order from finishing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass
from datetime import date, datetime

import openai
from openai import AsyncOpenAI

from openrevox.llm import LLMEndpoint

log = logging.getLogger("openrevox.extraction")

SCHEMA_NAME = "structured_output"
SPEAKERS = {"user": "Callee", "assistant": "Agent"}
TRUE_WORDS = {"true", "yes"}
FALSE_WORDS = {"false", "no"}
FORMATS = {
    "date": ("date", "a calendar date as YYYY-MM-DD"),
    "datetime": ("date-time", "a date and time in RFC 3339 with its UTC offset, like 2026-03-05T15:30:00+01:00"),
}
JSON_TYPES = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "enum": "string",
    "date": "string",
    "datetime": "string",
}
INSTRUCTIONS = (
    "You extract data from the transcript of a phone call between an AI agent and the person it called.\n"
    "Answer with one JSON object that has exactly these keys, following this JSON schema:\n{schema}\n"
    "Use only what the conversation says: when it does not give a value, answer null for that key.{when}"
)


class InvalidValue(ValueError):
    """A value the model gave that the field's type does not allow; the message says why."""


def output_schema(fields: list[dict]) -> dict:
    """A JSON schema for the config, strict-mode shaped: every key listed, each one nullable."""
    return {
        "type": "object",
        "properties": {f["name"]: _property(f) for f in fields},
        "required": [f["name"] for f in fields],
        "additionalProperties": False,
    }


def _property(field: dict) -> dict:
    # Nullable as pydantic writes `X | None` (what OpenAI's own SDK sends): `anyOf` with a null
    # branch, which strict validators take even for enums, unlike a `null` inside `enum`.
    value: dict = {"type": JSON_TYPES[field["type"]]}
    described = [field["description"]] if field.get("description") else []
    if field["type"] == "enum":
        value["enum"] = field["enum_options"]
    if field["type"] in FORMATS:
        value["format"], wording = FORMATS[field["type"]]
        described.append(f"Give {wording}.")
    if field["required"]:
        described.append("Expected in the conversation.")
    prop: dict = {"anyOf": [value, {"type": "null"}]}
    if described:
        prop["description"] = " ".join(described)
    return prop


def normalize(field: dict, value: object) -> object:
    """The value as the field's type stores it, or InvalidValue; None stays None (not given)."""
    if value is None:
        return None
    kind = field["type"]
    if kind == "number":
        return _number(value)
    if kind == "boolean":
        return _boolean(value)
    if not isinstance(value, str):
        raise InvalidValue(f"expected a string, got {json.dumps(value)}")
    text = value.strip()
    if not text:
        return None
    if kind == "enum":
        return _enum_option(field["enum_options"], text)
    if kind == "date":
        return _date(text)
    if kind == "datetime":
        return _datetime(text)
    return text


def _number(value: object) -> int | float:
    if isinstance(value, bool):
        raise InvalidValue(f"expected a number, got {json.dumps(value)}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidValue(f"expected a number, got {json.dumps(value)}") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidValue(f"expected a number, got {json.dumps(value)}")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise InvalidValue(f"expected true or false, got {json.dumps(value)}")


def _enum_option(options: list[str], text: str) -> str:
    for option in options:
        if option.casefold() == text.casefold():
            return option
    raise InvalidValue(f"{json.dumps(text)} is not one of the options {json.dumps(options)}")


def _date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:  # a datetime where a date was asked: its calendar date
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise InvalidValue(f"expected a date as YYYY-MM-DD, got {json.dumps(text)}") from None


def _datetime(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"expected an RFC 3339 date and time, got {json.dumps(text)}") from None
    if len(text) <= len("YYYY-MM-DD"):
        raise InvalidValue(f"expected a date and a time, got only the date {json.dumps(text)}")
    if moment.tzinfo is None:
        raise InvalidValue(f"{json.dumps(text)} has no UTC offset (RFC 3339 needs one, e.g. +01:00 or Z)")
    return moment.isoformat()


@dataclass(frozen=True)
class Answer:
    """One model answer, read: the values kept and, per refused field, why."""

    values: dict
    refused: dict[str, str]
    unusable: str | None = None  # why the whole answer could not be read

    def corrected_by(self, second: Answer) -> Answer:
        """Only the refused fields are taken from a second answer: what was valid stays."""
        fixed = {name: second.values[name] for name in self.refused if name not in second.refused}
        still = {
            name: f"{why}; asked again: {second.refused[name]}"
            for name, why in self.refused.items()
            if name in second.refused
        }
        return Answer(self.values | fixed, still)


def read_answer(fields: list[dict], content: str | None) -> Answer:
    names = [f["name"] for f in fields]
    try:
        answer = json.loads(content or "")
    except json.JSONDecodeError as exc:
        answer, why = None, f"the answer is not valid JSON ({exc})"
    else:
        why = f"the answer is JSON but not an object: {content[:200]}"
    if not isinstance(answer, dict):
        return Answer(dict.fromkeys(names), dict.fromkeys(names, why), unusable=why)
    values, refused = {}, {}
    for field in fields:
        try:
            values[field["name"]] = normalize(field, answer.get(field["name"]))
        except InvalidValue as exc:
            values[field["name"]], refused[field["name"]] = None, str(exc)
    return Answer(values, refused)


def correction(answer: Answer) -> str:
    if answer.unusable:
        return f"That answer was not usable: {answer.unusable}. Answer again with the whole JSON object only."
    listed = "\n".join(f"- {name}: {why}" for name, why in answer.refused.items())
    return f"These values were refused:\n{listed}\nAnswer again with the whole JSON object, corrected."


def render_transcript(transcript: list[dict]) -> str:
    """One line per entry; a tool line shows its arguments too (a booking's time is data)."""
    lines = []
    for entry in transcript:
        speaker = SPEAKERS.get(entry["role"])
        if speaker is None:
            arguments = entry.get("tool_arguments")
            called = f" {json.dumps(arguments, ensure_ascii=False)}" if arguments else ""
            speaker = f"Tool {entry.get('tool_name') or ''}{called}"
        lines.append(f"{speaker}: {entry.get('content') or ''}")
    return "\n".join(lines)


def extraction_messages(
    fields: list[dict], transcript: list[dict], call_started_at: datetime | None
) -> list[dict]:
    when = f"\nThe call took place at {call_started_at.isoformat()}." if call_started_at else ""
    schema = json.dumps(output_schema(fields), ensure_ascii=False)
    return [
        {"role": "system", "content": INSTRUCTIONS.format(schema=schema, when=when)},
        {"role": "user", "content": f"Transcript:\n{render_transcript(transcript)}"},
    ]


async def extract_structured_output(
    fields: list[dict],
    transcript: list[dict],
    endpoint: LLMEndpoint,
    *,
    timeout: float = 30.0,
    call_started_at: datetime | None = None,
) -> dict | None:
    """{field name: value or None} for every configured field; None when there is nothing to
    extract or the endpoint failed. `call_started_at` (aware, best in the callee's time zone) lets
    the model turn "tomorrow at 3pm" into a date."""
    if not fields:
        return None
    client = AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key or "unused", timeout=timeout)
    try:
        async with client, asyncio.timeout(timeout):
            messages = extraction_messages(fields, transcript, call_started_at)
            answer = await _ask_and_correct(Model(client, endpoint, output_schema(fields)), fields, messages)
    except (openai.OpenAIError, TimeoutError) as exc:
        log.warning("structured output not extracted: %s from %s: %s", type(exc).__name__, endpoint.base_url, exc)
        return None
    except Exception:  # a bug here must still never keep the order from finishing
        log.exception("structured output not extracted")
        return None
    for name, why in answer.refused.items():
        log.warning("structured output field %r is null: %s", name, why)
    for field in fields:
        name = field["name"]
        if field["required"] and answer.values[name] is None and name not in answer.refused:
            log.warning("structured output field %r is null: required, but the conversation did not give it", name)
    return answer.values


async def _ask_and_correct(model: Model, fields: list[dict], messages: list[dict]) -> Answer:
    content = await model.ask(messages)
    answer = read_answer(fields, content)
    if not answer.refused:
        return answer
    told = [{"role": "assistant", "content": content or ""}, {"role": "user", "content": correction(answer)}]
    return answer.corrected_by(read_answer(fields, await model.ask([*messages, *told])))


class Model:
    """The endpoint as extraction asks it: a strict JSON schema, or JSON mode (the schema then
    only in the instructions) once the provider refuses schemas."""

    def __init__(self, client: AsyncOpenAI, endpoint: LLMEndpoint, schema: dict) -> None:
        self.client, self.endpoint = client, endpoint
        self.response_format = {
            "type": "json_schema",
            "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": schema},
        }

    async def ask(self, messages: list[dict]) -> str | None:
        try:
            return await self._complete(messages)
        except openai.BadRequestError as exc:
            if self.response_format["type"] != "json_schema":
                raise
            log.info("%s refused a JSON schema (%s): asking in JSON mode", self.endpoint.base_url, exc)
            self.response_format = {"type": "json_object"}
            return await self._complete(messages)

    async def _complete(self, messages: list[dict]) -> str | None:
        completion = await self.client.chat.completions.create(
            model=self.endpoint.model,
            messages=messages,
            response_format=self.response_format,
            temperature=0,
            extra_body=self.endpoint.extra_body or None,
        )
        return completion.choices[0].message.content
