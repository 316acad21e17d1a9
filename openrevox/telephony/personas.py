"""Sandbox callees: who answers a sandbox number, attempt after attempt.

Built-in numbers are recognised by their last four digits (any country or area code; the US
555-01xx range is fictional). More come from a YAML or JSON file named by
OPENREVOX_SANDBOX_PERSONAS, keyed by full E.164 number or by last four digits:

    "+33612345678": {outcomes: [busy, voicemail, human], ring_secs: 2, talk_secs: 5,
                     greeting: "Hi, it's Ana, leave a message!", lines: ["Hello?", "Yes, Tuesday works."]}

`lines` are what the person says, one per turn; `greeting` is what a voicemail, phone menu or call
screening says first (a default per outcome when absent; a voicemail greeting lasts `talk_secs`);
behind a menu the person answers after `menu_key` is pressed. A person with nothing (left) to say
stays `talk_secs` on the line, then hangs up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# What a callee does on one attempt.
OUTCOMES = (
    "human",  # answers and talks
    "voicemail",  # greeting, beep
    "ivr",  # a phone menu; a human after the right digit
    "busy",
    "no_answer",  # rings until the carrier gives up
    "not_attributed",  # the number does not exist
    "ios_screening",  # iOS call screening asks who is calling
    "hangup",  # a human who hangs up at once
    "asks_for_person",  # a human who asks to speak to a person
)


GREETINGS = {
    "voicemail": "Hi, you've reached this number. Please leave a message after the beep.",
    "ivr": "Welcome. For sales press 1, for support press 2.",
    "ios_screening": "Hi, if you record your name and reason for calling, I'll see if this person is available.",
}


@dataclass(frozen=True)
class Persona:
    outcomes: tuple[str, ...]  # per attempt; the last one repeats
    ring_secs: float = 1.0
    talk_secs: float = 3.0
    lines: tuple[str, ...] = field(default=())
    greeting: str | None = None
    menu_key: str = "1"

    def outcome_for(self, attempt_number: int) -> str:
        return self.outcomes[min(attempt_number, len(self.outcomes)) - 1]

    def greeting_for(self, outcome: str) -> str | None:
        if outcome not in GREETINGS:
            return None
        return self.greeting or GREETINGS[outcome]


BUILT_IN: dict[str, Persona] = {
    "0100": Persona(("human",), lines=("Hello?", "Yes, that works for me.", "Thank you, goodbye.")),
    "0101": Persona(("voicemail",), greeting="Hi, you've reached Sam. Leave a message after the beep."),
    "0102": Persona(("ivr",), lines=("Hello, this is Alex from sales.", "Sure, go ahead.", "Thanks, bye.")),
    "0103": Persona(("busy",), ring_secs=0.2),
    "0104": Persona(("no_answer",), ring_secs=4.0),
    "0105": Persona(("not_attributed",), ring_secs=0.0),
    "0106": Persona(("ios_screening",)),
    "0107": Persona(("hangup",), talk_secs=0.2),
    "0108": Persona(("voicemail", "voicemail", "human"), lines=("Hello?", "Sure.", "Bye.")),
    "0109": Persona(("asks_for_person",), lines=("Hello?", "Can I speak to a real person, please?")),
}
DEFAULT = BUILT_IN["0100"]


def load_personas(path: str | Path | None) -> dict[str, Persona]:
    """Built-in personas plus those of the file, which win on the same key."""
    personas = dict(BUILT_IN)
    if not path:
        return personas
    text = Path(path).read_text()
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    for key, spec in (data or {}).items():
        outcomes = tuple(spec.get("outcomes") or ["human"])
        unknown = [o for o in outcomes if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"sandbox persona {key}: unknown outcome {unknown[0]!r}; use one of {', '.join(OUTCOMES)}")
        personas[str(key)] = Persona(
            outcomes,
            ring_secs=float(spec.get("ring_secs", DEFAULT.ring_secs)),
            talk_secs=float(spec.get("talk_secs", DEFAULT.talk_secs)),
            lines=tuple(spec.get("lines") or ()),
            greeting=spec.get("greeting"),
            menu_key=str(spec.get("menu_key", "1")),
        )
    return personas


def persona_for(personas: dict[str, Persona], e164: str) -> Persona:
    return personas.get(e164) or personas.get(e164[-4:]) or DEFAULT
