"""Checking a campaign's contacts in one pass, and each one's first due time.

Pure: no I/O, the clock is an argument. A request may carry 100,000 contacts, so the checks are
written for speed (a dict of zones per number prefix, one window search per distinct zone set),
and every bad row is reported with its index, not only the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from openrevox.orders import policy
from openrevox.scheduling.windows import RetryConfig, recipient_timezones
from openrevox.schemas.common import normalize_e164

CONTACT_FIELDS = frozenset({"to_phone_number", "prompt_variables"})
MAX_REPORTED_ERRORS = 1_000


@dataclass(frozen=True)
class ContactError:
    param: str  # e.g. "contacts.41.to_phone_number"
    message: str


@dataclass(frozen=True)
class Contact:
    phone_number: str  # E.164
    variables: dict[str, str]
    due_at: datetime
    status: str  # queued_for_calling or scheduled


def _text_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if "\x00" in value:
        return "may not contain NUL (\\u0000) characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate escape)"
    return None


def _check_one(
    i: int, raw: object, needed: tuple[str, ...], numbers: NumberChecker, errors: list[ContactError]
) -> tuple[str, dict] | None:
    at = f"contacts.{i}"
    if not isinstance(raw, dict):
        errors.append(ContactError(at, "must be an object with to_phone_number and prompt_variables"))
        return None
    unknown = raw.keys() - CONTACT_FIELDS
    if unknown:
        errors.append(ContactError(f"{at}.{sorted(map(str, unknown))[0]}", "is not a known field"))
        return None
    number, variables = raw.get("to_phone_number"), raw.get("prompt_variables")
    ok = True
    if number is None:
        errors.append(ContactError(f"{at}.to_phone_number", "is required"))
        ok = False
    elif (problem := _text_problem(number)) is not None:
        errors.append(ContactError(f"{at}.to_phone_number", problem))
        ok = False
    else:
        try:
            number = numbers.normalize(number)
        except ValueError as bad:
            errors.append(ContactError(f"{at}.to_phone_number", str(bad)))
            ok = False
    if variables is None:
        errors.append(ContactError(f"{at}.prompt_variables", "is required"))
        return None
    if not isinstance(variables, dict):
        errors.append(ContactError(f"{at}.prompt_variables", "must be an object of strings"))
        return None
    for key, value in variables.items():
        problem = _text_problem(key) or _text_problem(value)
        if problem is not None:
            errors.append(ContactError(f"{at}.prompt_variables.{key}", problem))
            return None
    missing = [name for name in needed if name not in variables]
    if missing:
        errors.append(
            ContactError(
                f"{at}.prompt_variables.{missing[0]}",
                f"the assistant uses {{{{{missing[0]}}}}} but this contact has no value for it",
            )
        )
        return None
    return (number, variables) if ok else None


_E164_DIGITS = re.compile(r"\+[1-9][0-9]{5,14}")


class NumberChecker:
    """`normalize_e164` with a fast path: a number already written as + and digits is E.164 as
    given, and whether it is possible depends only on its country code and length, so that answer
    is computed once per (country code, length). Anything else goes through phonenumbers."""

    def __init__(self) -> None:
        self._possible: dict[tuple[str, int], bool] = {}

    def normalize(self, value: str) -> str:
        if _E164_DIGITS.fullmatch(value):
            cc = next((value[1 : 1 + n] for n in (1, 2, 3) if int(value[1 : 1 + n]) in COUNTRY_CODE_TO_REGION_CODE), None)
            if cc is not None and value[1 + len(cc)] != "0":
                key = (cc, len(value))
                possible = self._possible.get(key)
                if possible is None:
                    try:
                        normalize_e164(value)
                        possible = True
                    except ValueError:
                        possible = False
                    self._possible[key] = possible
                if possible:
                    return value
        return normalize_e164(value)  # raises ValueError with the reason


class ZoneCache:
    """Recipient zones per longest prefix of phonenumbers' time zone table that the number has
    (the table is keyed by such prefixes); computed by `recipient_timezones` once per prefix."""

    def __init__(self, override: str | None) -> None:
        self.override = override
        self._zones: dict[str, tuple] = {}

    def zones_for(self, e164: str) -> tuple:
        if self.override is not None:
            key = ""
        else:
            digits = e164[1 : 1 + TIMEZONE_LONGEST_PREFIX]
            key = next((digits[:n] for n in range(len(digits), 0, -1) if digits[:n] in TIMEZONE_DATA), "?")
        zones = self._zones.get(key)
        if zones is None:
            zones = self._zones[key] = recipient_timezones(e164, self.override)
        return zones


def check_contacts(
    raw_contacts: list, needed: tuple[str, ...], config: RetryConfig, scheduled_at: datetime | None, now: datetime
) -> tuple[list[Contact], list[ContactError]]:
    """Every contact checked; if any is bad, the errors (at most MAX_REPORTED_ERRORS kept, all counted
    in the second value's length only up to that) and no contacts."""
    errors: list[ContactError] = []
    checked: list[tuple[str, dict]] = []
    numbers = NumberChecker()
    for i, raw in enumerate(raw_contacts):
        one = _check_one(i, raw, needed, numbers, errors)
        if one is not None:
            checked.append(one)
    if errors:
        return [], errors
    zone_cache = ZoneCache(config.timezone)
    due_by_zones: dict[tuple, tuple[datetime, str]] = {}
    contacts = []
    for number, variables in checked:
        zones = zone_cache.zones_for(number)
        due = due_by_zones.get(zones)
        if due is None:
            at = policy.first_attempt_at(config, zones, now, scheduled_at, False, now)
            due = due_by_zones[zones] = (at, policy.order_status_when_waiting(at, now))
        contacts.append(Contact(number, variables, *due))
    return contacts, errors
