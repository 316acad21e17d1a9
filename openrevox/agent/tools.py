"""The tools the agent's LLM may call, from the assistant's fields.

Each handler acts through `CallControl` (the session) and answers the LLM; what the call does
next (hang up, transfer, keep listening) is the session's business, so no handler asks the LLM
to run again except where it must speak next (a failure, or what Calendly answered).
"""

from __future__ import annotations

from typing import Protocol

from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.frames.frames import FunctionCallResultProperties
from pipecat.services.llm_service import FunctionCallParams

from openrevox.agent.calendly import CalendlyTools

END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"
SEND_DTMF = "send_dtmf"
SKIP_TURN = "skip_turn"
CALENDLY_AVAILABILITY = "calendly_availability"
CALENDLY_BOOK = "calendly_book"
SPEAKS_AFTER = {CALENDLY_AVAILABILITY, CALENDLY_BOOK}  # the LLM tells the callee what came back
DTMF_KEYS = set("0123456789*#")


class CallControl(Protocol):
    async def end_call(self, reason: str | None) -> None: ...

    async def transfer_call(self) -> None: ...

    def tool_recorded(self) -> None:
        """The tool call is on record: a call it ends may end now."""

    async def send_dtmf(self, digits: str) -> None: ...

    async def skip_turn(self) -> None: ...

    async def tool_called(self, name: str, arguments: dict, result: str, is_error: bool) -> None: ...


def tool_schemas(assistant: dict, control: CallControl, calendly: CalendlyTools | None = None) -> list[FunctionSchema]:
    schemas = [
        FunctionSchema(
            END_CALL,
            "Hang up: the conversation is over (goal reached, the person said goodbye or asked not to be called).",
            {"reason": {"type": "string", "description": "Why the call ends, in a few words."}},
            [],
            handler=_handler(control, _end_call),
        )
    ]
    if assistant.get("transfer_phone_number"):
        schemas.append(
            FunctionSchema(
                TRANSFER_CALL,
                "Transfer the call to a human colleague when the person asks to speak to a person.",
                {"reason": {"type": "string", "description": "Why the call is transferred."}},
                [],
                handler=_handler(control, _transfer_call),
            )
        )
    if assistant.get("ivr_navigation_enabled"):
        schemas += [
            FunctionSchema(
                SEND_DTMF,
                "Press keys on the phone keypad to navigate a phone menu.",
                {"digits": {"type": "string", "description": "Keys to press: 0-9, * and #."}},
                ["digits"],
                handler=_handler(control, _send_dtmf),
            ),
            FunctionSchema(
                SKIP_TURN,
                "Say nothing this turn: the phone menu is still speaking.",
                {},
                [],
                handler=_handler(control, _skip_turn),
            ),
        ]
    if calendly is not None:
        schemas += [
            FunctionSchema(
                CALENDLY_AVAILABILITY,
                f"Find free appointment times to offer. Dates are the person's own: today is {calendly.today()}. "
                "Without dates: the coming week.",
                {
                    "start_date": {"type": "string", "description": "First day to look at, YYYY-MM-DD."},
                    "end_date": {"type": "string", "description": "Last day to look at, YYYY-MM-DD (default: start_date)."},
                },
                [],
                handler=_handler(control, lambda _, arguments: calendly.availability(arguments)),
            ),
            FunctionSchema(
                CALENDLY_BOOK,
                "Book the appointment time the person chose, once you have their full name and email.",
                {
                    "start_time": {"type": "string", "description": "The chosen time's bracketed value from calendly_availability."},
                    "name": {"type": "string", "description": "The person's full name."},
                    "email": {"type": "string", "description": "The person's email address, for the confirmation."},
                },
                ["start_time", "name", "email"],
                handler=_handler(control, lambda _, arguments: calendly.book(arguments)),
            ),
        ]
    return schemas


def _handler(control: CallControl, act):
    async def handle(params: FunctionCallParams) -> None:
        arguments = dict(params.arguments or {})
        try:
            result = await act(control, arguments)
            is_error = False
        except ValueError as error:
            result, is_error = str(error), True
        await control.tool_called(params.function_name, arguments, result, is_error)
        # A failed call goes back to the LLM so it can correct itself; a done one needs no reply
        # unless its result is for the callee to hear.
        speak = is_error or params.function_name in SPEAKS_AFTER
        await params.result_callback(result, properties=FunctionCallResultProperties(run_llm=speak))
        control.tool_recorded()  # last: a session this call ends stops only once it is on record

    return handle


async def _end_call(control: CallControl, arguments: dict) -> str:
    await control.end_call(arguments.get("reason"))
    return "call ending"


async def _transfer_call(control: CallControl, arguments: dict) -> str:
    await control.transfer_call()
    return "transferring"


async def _send_dtmf(control: CallControl, arguments: dict) -> str:
    digits = str(arguments.get("digits") or "")
    if not digits or not set(digits) <= DTMF_KEYS:
        raise ValueError(f"digits must be keys 0-9, * or #; got {digits!r}")
    await control.send_dtmf(digits)
    return f"pressed {digits}"


async def _skip_turn(control: CallControl, arguments: dict) -> str:
    await control.skip_turn()
    return "listening"
