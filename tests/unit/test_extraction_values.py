"""What a model's value becomes in `structured_output` (openrevox.postcall.extraction.normalize)."""

from __future__ import annotations

import pytest

from openrevox.postcall.extraction import InvalidValue, normalize, output_schema

STATUS = {"name": "status", "type": "enum", "required": True, "enum_options": ["interested", "not interested"]}


def field(kind: str) -> dict:
    return STATUS if kind == "enum" else {"name": "x", "type": kind, "required": False}


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        ("string", "  Ada Lovelace ", "Ada Lovelace"),  # trimmed
        ("string", "", None),  # an empty string says nothing
        ("string", None, None),  # not given
        ("number", 42, 42),
        ("number", 2.5, 2.5),
        ("number", "42", 42),  # a numeric string is a number
        ("number", " 3.75 ", 3.75),
        ("number", "1e3", 1000),
        ("number", 12.0, 12),  # whole numbers stay whole
        ("boolean", True, True),
        ("boolean", "yes", True),  # the words a model writes for them
        ("boolean", "False", False),
        ("enum", "interested", "interested"),
        ("enum", "Not Interested", "not interested"),  # an option in another case is that option
        ("date", "2026-03-05", "2026-03-05"),
        ("date", "20260305", "2026-03-05"),  # ISO basic format
        ("date", "2026-03-05T15:30:00+01:00", "2026-03-05"),  # a datetime's calendar date
        ("datetime", "2026-03-05T15:30:00+01:00", "2026-03-05T15:30:00+01:00"),
        ("datetime", "2026-03-05T14:30:00Z", "2026-03-05T14:30:00+00:00"),
        ("datetime", "2026-03-05 15:30+01:00", "2026-03-05T15:30:00+01:00"),  # RFC 3339 allows the space
    ],
)
def test_valid_values_are_normalized(kind, given, stored):
    assert normalize(field(kind), given) == stored
    assert type(normalize(field(kind), given)) is type(stored)


@pytest.mark.parametrize(
    ("kind", "given", "why"),
    [
        ("number", "forty-two", "expected a number"),
        ("number", "1,234", "expected a number"),  # ambiguous between locales: asked again
        ("number", True, "expected a number"),  # JSON booleans are not 1 and 0
        ("number", "nan", "expected a number"),
        ("boolean", "maybe", "expected true or false"),
        ("boolean", 1, "expected true or false"),
        ("enum", "very interested", "not one of the options"),
        ("string", ["a"], "expected a string"),
        ("date", "March 5th", "YYYY-MM-DD"),
        ("date", "2026-02-30", "YYYY-MM-DD"),  # no such day
        ("datetime", "2026-03-05T15:30:00", "no UTC offset"),  # a time somewhere
        ("datetime", "2026-03-05", "only the date"),
        ("datetime", "tomorrow at 3pm", "RFC 3339"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(kind, given, why):
    with pytest.raises(InvalidValue, match=why):
        normalize(field(kind), given)


def test_schema_lists_every_field_nullable_with_its_type_and_options():
    fields = [
        {"name": "name", "type": "string", "required": True, "description": "The callee's name"},
        STATUS,
        {"name": "callback_at", "type": "datetime", "required": False},
        {"name": "budget", "type": "number", "required": False},
    ]
    schema = output_schema(fields)
    assert schema["required"] == ["name", "status", "callback_at", "budget"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["name"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["name"]["description"].startswith("The callee's name")
    assert props["status"]["anyOf"] == [{"type": "string", "enum": ["interested", "not interested"]}, {"type": "null"}]
    assert props["callback_at"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert "RFC 3339" in props["callback_at"]["description"]
    assert props["budget"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}
