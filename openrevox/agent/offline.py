"""The built-in offline responder: keeps sandbox calls going when no LLM is configured.

It is a demo aid, not a model: it acknowledges what it hears, follows the assistant's tools on
obvious cues (a goodbye ends the call, a request for a person transfers it when a transfer number
is set, a phone menu gets the first key offered) and says so in every first reply. Configure
OPENAI_BASE_URL / OPENAI_API_KEY (or another provider) for real conversations.
"""

from __future__ import annotations

import re
import uuid

from pipecat.frames.frames import Frame, LLMContextFrame, LLMFullResponseEndFrame, LLMFullResponseStartFrame, LLMTextFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import FunctionCallFromLLM, LLMService
from pipecat.services.settings import LLMSettings

from openrevox.agent import tools

LABEL = "(openrevox offline responder: no LLM is configured) "
GOODBYE = re.compile(r"\b(bye|goodbye|no thanks|not interested)\b", re.IGNORECASE)
ASKS_FOR_PERSON = re.compile(r"\b(real person|human|someone|operator|agent)\b", re.IGNORECASE)
MENU_KEY = re.compile(r"press (\d)", re.IGNORECASE)


class OfflineResponder(LLMService):
    def __init__(self) -> None:
        unsupported = dict.fromkeys(
            ("system_instruction", "temperature", "max_tokens", "top_p", "top_k", "frequency_penalty",
             "presence_penalty", "seed", "filter_incomplete_user_turns", "user_turn_completion_config"),
        )
        super().__init__(settings=LLMSettings(model="openrevox-offline-responder", **unsupported))
        self._replies = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._respond(frame.context)
        else:
            await self.push_frame(frame, direction)

    async def _respond(self, context) -> None:
        heard = _last_user_text(context.messages)
        offered = {t.name for t in getattr(context.tools, "standard_tools", [])}
        call = _tool_for(heard, offered)
        if call is not None:
            name, arguments = call
            await self.run_function_calls(
                [FunctionCallFromLLM(context=context, tool_call_id=f"offline-{uuid.uuid4().hex[:8]}",
                                     function_name=name, arguments=arguments)]
            )
            return
        text = ("Thank you. " if heard else "Hello! ") + "Is now a good time to talk?"
        if self._replies == 0:
            text = LABEL + text
        self._replies += 1
        await self.push_frame(LLMFullResponseStartFrame())
        await self.push_frame(LLMTextFrame(text))
        await self.push_frame(LLMFullResponseEndFrame())


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def _tool_for(heard: str, offered: set[str]) -> tuple[str, dict] | None:
    if tools.SEND_DTMF in offered and (key := MENU_KEY.search(heard)):
        return tools.SEND_DTMF, {"digits": key.group(1)}
    if tools.TRANSFER_CALL in offered and ASKS_FOR_PERSON.search(heard):
        return tools.TRANSFER_CALL, {"reason": "the callee asked for a person"}
    if tools.END_CALL in offered and GOODBYE.search(heard):
        return tools.END_CALL, {"reason": "the callee said goodbye"}
    return None
