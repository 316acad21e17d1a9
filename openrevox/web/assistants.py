"""Assistants: list, create, edit (the API's models check the form), clone, and a test call to a
sandbox number whose page streams the transcript in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from openrevox.api.deps import Db
from openrevox.api.errors import field_messages
from openrevox.assistants import service
from openrevox.errors import InvalidRequest
from openrevox.orders import service as orders_service
from openrevox.postcall.safety import check_webhook_url
from openrevox.schemas.assistants import AssistantFieldsIn
from openrevox.schemas.calls import CallCreateIn
from openrevox.schemas.common import placeholders
from openrevox.voices.catalog import list_voices
from openrevox.web import assistant_form
from openrevox.web.auth import CheckedForm, CurrentOrg
from openrevox.web.pages import PREFIX, render
from openrevox.web.session import flash

router = APIRouter()

SANDBOX_NUMBER = "+12025550100"  # the sandbox's human who answers


def _form_page(
    request: Request, assistant: dict | None, values: dict, errors: list, status_code: int = 200, form: FormData | None = None
) -> Response:
    controls = {k: v for k, v in (form or {}).items() if assistant_form.is_form_control(k) and isinstance(v, str)}
    return render(request, "assistant_form.html", {
        "assistant": assistant, "values": values, "errors": errors,
        "field_errors": {param: message for param, message in errors if param},
        "rows": assistant_form.rows_to_show(values, controls), "voices": list_voices(),
    }, status_code=status_code)  # fmt: skip


def _submitted(form: FormData) -> dict[str, str]:
    return {
        k: v for k, v in form.items() if k != "csrf_token" and not assistant_form.is_form_control(k) and isinstance(v, str)
    }


def _adding_a_row(form: FormData) -> bool:
    """An "add" button was pressed: the form comes back with one more row, nothing is saved."""
    return form.get(assistant_form.ADD_ROW) in assistant_form.ROW_FIELDS


async def _checked(
    request: Request, form: FormData, *, creating: bool
) -> tuple[AssistantFieldsIn | None, list[tuple[str | None, str]]]:
    """The API's model of the form, or the errors as the API words them."""
    model, errors = assistant_form.validate(_submitted(form), creating=creating)
    if model is not None and model.webhook_url is not None:
        try:
            await check_webhook_url(
                str(model.webhook_url), allow_private=request.app.state.settings.allow_private_webhooks,
                unresolvable_ok=True,
            )  # fmt: skip
        except InvalidRequest as unsafe:
            return None, [(unsafe.param, unsafe.message)]
    return model, errors


@router.get("/assistants")
async def assistants_page(request: Request, conn: Db, org_id: CurrentOrg) -> Response:
    return render(request, "assistants.html", {"assistants": await service.list_all(conn, org_id)})


@router.get("/assistants/new")
async def new_assistant(request: Request, org_id: CurrentOrg) -> Response:
    return _form_page(request, None, {}, [])


@router.post("/assistants/new")
async def create_assistant(request: Request, conn: Db, org_id: CurrentOrg, form: CheckedForm) -> Response:
    if _adding_a_row(form):
        return _form_page(request, None, _submitted(form), [], form=form)
    model, errors = await _checked(request, form, creating=True)
    if model is None:
        return _form_page(request, None, _submitted(form), errors, status_code=422, form=form)
    assistant = await service.create(conn, org_id, model)
    flash(request, f"Assistant '{assistant['name']}' created")
    return RedirectResponse(f"{PREFIX}/assistants/{assistant['id']}", status_code=303)


@router.get("/assistants/{assistant_id}")
async def edit_assistant(request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    assistant = await service.fetch(conn, org_id, assistant_id)
    return _form_page(request, assistant, assistant_form.form_values(assistant), [])


@router.post("/assistants/{assistant_id}")
async def update_assistant(
    request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    assistant = await service.fetch(conn, org_id, assistant_id)
    if _adding_a_row(form):
        return _form_page(request, assistant, _submitted(form), [], form=form)
    model, errors = await _checked(request, form, creating=False)
    if model is None:
        return _form_page(request, assistant, _submitted(form), errors, status_code=422, form=form)
    await service.update(conn, org_id, assistant_id, model)
    flash(request, "Saved")
    return RedirectResponse(f"{PREFIX}/assistants/{assistant_id}", status_code=303)


@router.post("/assistants/{assistant_id}/clone")
async def clone_assistant(
    request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    copy = await service.clone(conn, org_id, assistant_id)
    flash(request, f"Cloned as '{copy['name']}'")
    return RedirectResponse(f"{PREFIX}/assistants/{copy['id']}", status_code=303)


@router.post("/assistants/{assistant_id}/delete")
async def delete_assistant(
    request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    """Calls already placed keep their copy of the assistant and go on."""
    deleted = await service.delete(conn, org_id, assistant_id)
    flash(request, f"Deleted '{deleted['name']}'; calls already placed with it go on")
    return RedirectResponse(f"{PREFIX}/assistants", status_code=303)


def _variables(assistant: dict) -> list[str]:
    """The prompt variables a call with this assistant needs."""
    return list(dict.fromkeys(n for f in orders_service.INTERPOLATED_FIELDS for n in placeholders(assistant.get(f))))


def _test_call_page(request: Request, assistant: dict, values: dict, errors: list, status_code: int = 200) -> Response:
    return render(request, "test_call.html", {
        "assistant": assistant, "variables": _variables(assistant), "values": values, "errors": errors,
        "field_errors": {param: message for param, message in errors if param},
    }, status_code=status_code)  # fmt: skip


@router.get("/assistants/{assistant_id}/test-call")
async def test_call_page(request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    assistant = await service.fetch(conn, org_id, assistant_id)
    return _test_call_page(request, assistant, {"phone_number": SANDBOX_NUMBER}, [])


@router.post("/assistants/{assistant_id}/test-call")
async def place_test_call(
    request: Request, assistant_id: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    """A call now (outside calling windows too), then its page, where the transcript streams in."""
    assistant = await service.fetch(conn, org_id, assistant_id)
    variables = _variables(assistant)
    values = _submitted(form)
    try:
        body = CallCreateIn(
            phone_number=values.get("phone_number", ""), assistant_id=assistant_id, force_now=True,
            prompt_variables={name: values.get(f"prompt_variables.{name}", "") for name in variables} or None,
        )  # fmt: skip
        call = await orders_service.create(
            conn, org_id, body, default_from_number=request.app.state.settings.default_from_number,
            idempotency_key=None,
        )  # fmt: skip
    except ValidationError as invalid:
        errors = field_messages(invalid.errors())
    except InvalidRequest as invalid:
        errors = [(invalid.param, invalid.message)]
    else:
        return RedirectResponse(f"{PREFIX}/calls/{call['id']}", status_code=303)
    return _test_call_page(request, assistant, values, errors, status_code=422)
