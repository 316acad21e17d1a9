"""The pure contact checks of a campaign: every bad row named by index, due times per zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from openrevox.campaigns.contacts import NumberChecker, ZoneCache, check_contacts
from openrevox.scheduling.windows import RetryConfig, recipient_timezones
from openrevox.schemas.common import normalize_e164

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday: 07:00 in New York, 13:00 in Paris
OFFICE_HOURS = RetryConfig.from_wire(None)  # 10:00-18:00 in the recipient's zone


def contact(number: str, **variables: str) -> dict:
    return {"to_phone_number": number, "prompt_variables": variables}


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (contact("0612345678"), "contacts.0.to_phone_number"),  # no + and country code
        (contact("+1202555"), "contacts.0.to_phone_number"),  # too short for +1
        (contact(12025550100), "contacts.0.to_phone_number"),  # a number, not a string
        ({"prompt_variables": {}}, "contacts.0.to_phone_number"),  # missing
        ({"to_phone_number": "+12025550100"}, "contacts.0.prompt_variables"),  # missing
        (contact("+12025550100", name="a\x00b"), "contacts.0.prompt_variables.name"),  # NUL
        ({**contact("+12025550100"), "email": "x"}, "contacts.0.email"),  # unknown field
        ("+12025550100", "contacts.0"),  # not an object
    ],
)
def test_a_bad_contact_is_named_by_index_and_field(raw, param):
    contacts, errors = check_contacts([raw], (), OFFICE_HOURS, None, NOW)
    assert contacts == [] and [e.param for e in errors] == [param]


def test_every_bad_row_is_reported_not_only_the_first():
    raw = [contact("+12025550100", name="a"), contact("nope", name="b"), contact("+33612345678"), contact("x")]
    _, errors = check_contacts(raw, ("name",), OFFICE_HOURS, None, NOW)
    assert [e.param for e in errors] == [
        "contacts.1.to_phone_number",
        "contacts.2.prompt_variables.name",  # the assistant uses {{name}}
        "contacts.3.to_phone_number",
        "contacts.3.prompt_variables.name",
    ]


def test_each_contact_is_due_at_its_own_window_opening():
    contacts, errors = check_contacts(
        [contact("+12025550100"), contact("+33612345678"), contact("+1 (415) 555-0100")], (), OFFICE_HOURS, None, NOW
    )
    assert errors == []
    assert [(c.phone_number, c.due_at, c.status) for c in contacts] == [
        ("+12025550100", datetime(2026, 11, 25, 15, 0, tzinfo=UTC), "scheduled"),  # 10:00 in New York
        ("+33612345678", NOW, "queued_for_calling"),  # 13:00 in Paris: now
        ("+14155550100", datetime(2026, 11, 25, 18, 0, tzinfo=UTC), "scheduled"),  # 10:00 in Los Angeles
    ]


@pytest.mark.parametrize(
    "number",
    ["+12025550100", "+33612345678", "+390612345678", "+4407911123456", "+447911123456", "+61412345678", "+1202555"],
)
def test_the_fast_number_check_agrees_with_phonenumbers(number):
    checker = NumberChecker()
    for _ in range(2):  # the second time from its cache
        try:
            expected = normalize_e164(number)
        except ValueError:
            with pytest.raises(ValueError):
                checker.normalize(number)
        else:
            assert checker.normalize(number) == expected


@pytest.mark.parametrize("number", ["+12025550100", "+13105550100", "+33612345678", "+61212345678", "+61412345678"])
def test_cached_zones_are_the_numbers_own(number):
    cache = ZoneCache(None)
    cache.zones_for("+12125550100")
    assert cache.zones_for(number) == recipient_timezones(number, None)
