"""Field types shared by the request models, each with a message a user can act on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, get_args

import phonenumbers
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from openrevox.scheduling.windows import is_valid_timezone, parse_window_time


def _check_text(value: object) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text is not valid Unicode (a lone surrogate escape)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _holds_models(annotation: object) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


@cache
def _fields_holding_models(model: type[BaseModel]) -> frozenset[str]:
    # Worked out once per model: walking the annotations on every request was a fifth of the
    # CPU of a POST /call.
    return frozenset(name for name, field in model.model_fields.items() if _holds_models(field.annotation))


class WireModel(BaseModel):
    """Unknown fields are refused (named in the error), never silently dropped; text that no
    database or JSON encoder stores faithfully (NUL, lone surrogates) is refused too."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: object) -> object:
        if isinstance(data, dict):
            for key, value in data.items():
                try:
                    _check_text(key)
                except ValueError as bad:  # the key itself cannot be printed: name no field
                    raise ValueError(str(bad)) from None
                if key in _fields_holding_models(cls):
                    continue  # a nested model checks its own fields, naming them
                try:
                    _check_text(value)
                except ValueError as bad:
                    raise ValueError(f"{key}: {bad}") from None
        return data


def normalize_e164(value: str) -> str:
    if not value.startswith("+"):
        raise ValueError(f"'{value}' is not in E.164 format: it must start with '+' and the country code, e.g. +14155550123")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{value}' is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        region = phonenumbers.region_code_for_number(number) or "its country"
        raise ValueError(f"'{value}' is not a possible phone number for {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _window_time(value: str) -> str:
    parse_window_time(value)
    return value


def _timezone(value: str) -> str:
    if not is_valid_timezone(value):
        raise ValueError(f"'{value}' is not an IANA time zone name, e.g. 'Europe/Paris' or 'America/New_York'")
    return value


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
        raise ValueError(f"'{value}' is not an http(s) URL")
    return value


def _refuse_text_and_bool(kind: str):  # noqa: ANN202
    # JSON 2.0 is a whole number (the SDK types some counts as float), but true and "2" are not numbers.
    def check(value: object) -> object:
        if isinstance(value, bool | str):
            raise PydanticCustomError(
                f"{kind}_type", f"Input should be a valid {kind}, not {{given}}", {"given": type(value).__name__}
            )
        return value

    return BeforeValidator(check)


E164 = Annotated[str, AfterValidator(normalize_e164)]
WholeNumber = Annotated[int, _refuse_text_and_bool("integer")]
Number = Annotated[float, _refuse_text_and_bool("number")]
WindowTime = Annotated[str, AfterValidator(_window_time)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds and Z, as decisions.md fixes for the wire."""
    if moment is None:
        return None
    # isoformat: ~40 % cheaper than strftime, and every call order renders several of these.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")


def placeholders(text: str | None) -> list[str]:
    return PLACEHOLDER.findall(text or "")


def interpolate(text: str | None, variables: dict[str, str]) -> str | None:
    if text is None:
        return None
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
