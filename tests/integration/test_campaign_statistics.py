"""Campaign statistics from attempts and transcripts written through the stores, as the dispatcher
and the voice agent write them: a conversation is a contact reached by a human who said something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openrevox.assistants import service as assistants
from openrevox.campaigns import service as campaigns
from openrevox.campaigns import store as campaigns_store
from openrevox.db.types import new_id
from openrevox.orders import store as orders_store
from openrevox.orgs.service import ensure_organization
from openrevox.scheduling import store as dispatch_store
from openrevox.schemas.assistants import AssistantCreateIn
from openrevox.schemas.campaigns import CampaignCreateIn

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
NUMBERS = ["+12025550100", "+12125550100", "+13055550100", "+14045550100"]


def attempt(order: dict, n: int, result: str) -> dict:
    at = NOW + timedelta(minutes=n)
    return {
        "id": new_id(), "organization_id": order["organization_id"], "order_id": order["id"],
        "phone_number": order["to_phone_number"], "status": "completed", "result": result, "attempt_number": n,
        "created_at": at, "dial_started_at": at, "started_at": at, "answered_at": at, "ended_at": at + timedelta(seconds=40),
    }  # fmt: skip


def lines(*roles: str) -> list[dict]:
    return [{"role": role, "content": f"{role} speaking"} for role in roles]


def test_conversations_count_contacts_whose_human_answer_has_a_user_turn(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await ensure_organization(conn, "statistics")
            assistant = await assistants.create(conn, org_id, AssistantCreateIn(name="A", prompt="Hi {{name}}"))
            body = CampaignCreateIn(
                assistant_id=assistant["id"], name="Funnel",
                contacts=[{"to_phone_number": n, "prompt_variables": {"name": n}} for n in NUMBERS],
            )  # fmt: skip
            campaign = await campaigns.create(conn, org_id, body, default_from_number="+12025550199", now=NOW)
            orders = {o["to_phone_number"]: o for o in await campaigns_store.order_states(conn, campaign["id"])}
            orders = {n: await orders_store.get_order_by_id(conn, o["id"]) for n, o in orders.items()}
            talked, greeted_only, voicemail, second_try = (orders[n] for n in NUMBERS)
            # (attempt, its transcript) as the dispatcher and the agent would have written them.
            written = [
                (attempt(talked, 1, "human"), lines("assistant", "user", "assistant")),
                (attempt(greeted_only, 1, "human"), lines("assistant")),  # the callee never spoke
                (attempt(voicemail, 1, "voicemail"), lines("user", "assistant")),  # the greeting, not a human
                (attempt(second_try, 1, "voicemail"), lines("user")),  # retried, then a human talks
                (attempt(second_try, 2, "human"), lines("assistant", "user")),
            ]
            await dispatch_store.insert_attempts(conn, [a for a, _ in written])
            for a, transcript in written:
                await orders_store.append_transcript(conn, a["id"], transcript)
            stats = await campaigns.statistics(conn, org_id, campaign["id"])

        funnel = stats["funnel"]
        assert funnel["called"] == {"count": 4, "imported_rows": 4}
        assert funnel["reached"]["count"] == 3
        assert funnel["conversations"] == {"count": 2, "pct_of_reached": 66.7}
        assert stats["effort"]["calls_total"] == 5

    run(story)
