"""The assistant form: its inputs are named after the API's parameters (`voice.speed`,
`faq_items.0.question`, `call_retry_config.calling_windows.1.retry_delay_seconds`), so a form
becomes the JSON body the API takes, is checked by the API's own models, and every error the API
would name lands beside the input of that name.

Pure: form values in, a body or values to show out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import ValidationError

from openrevox.api.errors import field_messages
from openrevox.schemas.assistants import AssistantCreateIn, AssistantFieldsIn, AssistantUpdateIn

# Inputs whose text is a number in the API (a text that is no number is passed on as text, so the
# API's own message says so).
NUMBER_FIELDS = re.compile(
    r"^(first_sentence_delay_ms|max_call_duration_secs|voice\.speed|call_retry_config\.max_retry_attempts"
    r"|call_retry_config\.calling_windows\.\d+\.retry_delay_seconds)$"
)
CHECKBOXES = ("ivr_navigation_enabled",)
ROW_CHECKBOXES = {"structured_output_config": ("required",)}
# A row holding nothing but these (a select and a checkbox always have a value) was left blank.
ROW_CONTROLS = {"structured_output_config": {"type", "required"}}
LIST_FIELDS = {"structured_output_config.enum_options"}  # comma-separated in one input
REQUIRED_TEXT = ("name", "prompt")  # sent even when empty, so the API's message says what is wrong
# Which llm_model inputs belong to each type: the others are left out.
LLM_MODEL_KEYS = {"dedicated-instance": ("name",), "openrouter": ("openrouter_model_id", "openrouter_provider")}
INDEX = re.compile(r"\.(\d+)(?=\.|$)")
ROW_FIELDS = ("call_retry_config.calling_windows", "structured_output_config", "faq_items")  # lists of rows


def _number(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _put(tree: dict, parts: list[str], value: object) -> None:
    for i, part in enumerate(parts[:-1]):
        tree = tree.setdefault(part, {})
        if not isinstance(tree, dict):
            return
    tree[parts[-1]] = value


def _lists(node: object) -> object:
    """Dicts keyed by row numbers become lists in row order (rows left blank are gone already)."""
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _value(name: str, text: str) -> object:
    if NUMBER_FIELDS.match(name):
        return _number(text)
    if INDEX.sub("", name) in LIST_FIELDS:
        return [option.strip() for option in text.split(",") if option.strip()]
    return text


def form_body(form: Mapping[str, str]) -> dict:
    """The JSON body the form stands for: only what was filled in (a row or an object left blank is
    absent), checkboxes as booleans."""
    body: dict = {}
    for name, raw in form.items():
        text = raw.strip() if isinstance(raw, str) else ""
        if name in CHECKBOXES:
            continue
        if text or name in REQUIRED_TEXT:
            _put(body, name.split("."), _value(name, text))
    for name in CHECKBOXES:
        body[name] = name in form
    for field, checkboxes in ROW_CHECKBOXES.items():
        for index, row in body.get(field, {}).items():
            for box in checkboxes:
                row[box] = f"{field}.{index}.{box}" in form
    for field, controls in ROW_CONTROLS.items():
        rows = body.get(field, {})
        for index in [i for i, row in rows.items() if set(row) <= controls]:
            del rows[index]
        if field in body and not rows:
            del body[field]
    body = _lists(body)
    model = body.get("llm_model")
    if isinstance(model, dict):
        body["llm_model"] = {k: v for k, v in model.items() if k == "type" or k in LLM_MODEL_KEYS.get(model.get("type"), ())}
    return body


def validate(form: Mapping[str, str], *, creating: bool) -> tuple[AssistantFieldsIn | None, list[tuple[str | None, str]]]:
    """The API's model of the form (create, or a full replacement through update), or the errors
    the API would answer with, as (param, message)."""
    body = form_body(form)
    model = AssistantCreateIn if creating else AssistantUpdateIn
    if not creating:
        # The form shows every field: one left blank is cleared (or reset to its default).
        body = {name: body.get(name) for name in AssistantUpdateIn.model_fields} | {
            name: body.get(name, "") for name in REQUIRED_TEXT
        }
    try:
        return model.model_validate(body), []
    except ValidationError as invalid:
        return None, field_messages(invalid.errors())


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for index, item in enumerate(value):
            _flatten(f"{prefix}.{index}", item, out)
    elif isinstance(value, list):
        out[prefix] = ", ".join(str(v) for v in value)
    elif isinstance(value, bool):
        if value:
            out[prefix] = "on"
    elif value is not None:
        out[prefix] = str(value)


# Rendered fields the form does not edit.
READ_ONLY = {"id", "organization_id", "created_at", "updated_at", "pending_faq_count"}


def form_values(assistant: dict) -> dict[str, str]:
    """An assistant as the form's input values (what `form_body` reads back)."""
    fields = set(AssistantCreateIn.model_fields)
    values: dict[str, str] = {}
    for name, value in assistant.items():
        if name not in fields:
            continue
        if name == "faq_items":
            value = [{"question": f["question"], "answer": f["answer"]} for f in value]
        if name == "call_retry_config" and value:
            value = {k: value[k] for k in ("calling_windows", "max_retry_attempts", "timezone")}
        _flatten(name, value, values)
    return values


def row_count(values: Mapping[str, str], field: str, blank_rows: int = 1) -> int:
    """How many rows of a list field to show: those filled in, and `blank_rows` more to add."""
    pattern = re.compile(rf"^{re.escape(field)}\.(\d+)\.")
    indexes = [int(m.group(1)) for name, value in values.items() if value and (m := pattern.match(name))]
    return (max(indexes) + 1 if indexes else 0) + blank_rows


# The page says how many rows of each list it showed (`rows.<field>`), and an "add" button
# (`add_row=<field>`) asks for the same form again with one more: no script needed.
SHOWN_ROWS = "rows."
ADD_ROW = "add_row"


def is_form_control(name: str) -> bool:
    """Inputs that steer the form itself, not fields of the assistant."""
    return name == ADD_ROW or name.startswith(SHOWN_ROWS)


def rows_to_show(values: Mapping[str, str], controls: Mapping[str, str] | None = None) -> dict[str, int]:
    """Rows per list field: those filled in and a blank one, never fewer than the page showed,
    and one more where an "add" button was pressed."""
    controls = controls or {}
    rows = {}
    for field in ROW_FIELDS:
        shown = controls.get(SHOWN_ROWS + field, "")
        shown_rows = int(shown) if shown.isdigit() else 0
        rows[field] = max(row_count(values, field), shown_rows + (controls.get(ADD_ROW) == field))
    return rows
