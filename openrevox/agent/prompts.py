"""What the agent is told: the assistant's prompt after `{{variable}}` interpolation, its FAQ, and
the rules of a phone call."""

from __future__ import annotations

import logging
import re

log = logging.getLogger("openrevox.agent")

VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")

PHONE_RULES = (
    "You are on a phone call. Speak naturally, in short sentences, without lists or markup. "
    "When the conversation is over, call the end_call tool."
)


def interpolate(text: str | None, variables: dict[str, str] | None) -> str | None:
    """Replace `{{name}}` with its prompt variable; an unknown name is left as written (and
    logged), so a missing variable shows instead of silently vanishing."""
    if text is None:
        return None
    variables = variables or {}

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in variables:
            return str(variables[name])
        log.warning("prompt variable %r is not set; left as written", name)
        return match.group(0)

    return VARIABLE.sub(replace, text)


def system_prompt(assistant: dict, variables: dict[str, str] | None) -> str:
    parts = [interpolate(assistant.get("prompt") or "", variables), PHONE_RULES]
    if assistant.get("transfer_phone_number"):
        parts.append("If the person asks to speak to a human, call the transfer_call tool.")
    if assistant.get("ivr_navigation_enabled"):
        parts.append(
            "If you reach a phone menu (IVR), navigate it: press keys with send_dtmf, and call "
            "skip_turn to stay silent while the menu is still speaking."
        )
    faq = [item for item in assistant.get("faq_items") or [] if item.get("answer")]
    if faq:
        lines = "\n".join(f"Q: {item['question']}\nA: {item['answer']}" for item in faq)
        parts.append("Answer these questions with these answers:\n" + lines)
    return "\n\n".join(p for p in parts if p)
