"""Campaign use cases: each runs in the caller's transaction and returns the wire shape.

A campaign's rows are call orders like any other (`call_orders.campaign_id`), created in bulk:
the dispatcher, retries and cancellation need nothing of their own. Every order of a campaign
shares the concurrency key `campaign:<id>`, whose limit is the campaign's `max_concurrent_calls`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from openrevox.assistants import service as assistants_service
from openrevox.campaigns import contacts as contacts_policy
from openrevox.campaigns import store
from openrevox.db.types import new_id, utcnow
from openrevox.errors import BadRequest, InvalidRequest, NotFound
from openrevox.orders import attempts as order_attempts
from openrevox.orders import service as orders_service
from openrevox.phone_numbers import service as phone_numbers
from openrevox.recording_links import RecordingLinks
from openrevox.postcall import service as webhooks
from openrevox.scheduling import store as dispatch_store
from openrevox.scheduling.windows import RetryConfig
from openrevox.schemas.assistants import DEFAULT_RETRY_CONFIG_WIRE
from openrevox.schemas.calls import LATER_ORDER_STATUSES, ORDER_STATUSES
from openrevox.schemas.campaigns import CampaignCreateIn, CampaignUpdateIn, campaign_status, render_campaign
from openrevox.schemas.common import iso, placeholders

INTERPOLATED_FIELDS = ("prompt", "first_sentence", "end_of_call_sentence", "voicemail_message")
# A campaign without max_concurrent_calls is bounded by its organization's limit only.
UNBOUNDED = 10_000


class InvalidContacts(InvalidRequest):
    """Raised when contacts are invalid: names the first in `param`, lists them all in `errors`."""

    def __init__(self, errors: list[contacts_policy.ContactError]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more contact errors)" if len(errors) > 1 else ""
        super().__init__(f"{first.param}: {first.message}{more}", param=first.param)
        self.errors = errors

    def to_body(self) -> dict:
        body = super().to_body()
        shown = self.errors[: contacts_policy.MAX_REPORTED_ERRORS]
        body["error"]["errors"] = [{"param": e.param, "message": e.message} for e in shown]
        body["error"]["error_count"] = len(self.errors)
        return body


def row_stats(counts: list[tuple[str, bool, int]]) -> dict:
    """`pending`: not dialed yet; `retry`: dialed, waiting for its next attempt; `failed`: errored
    or cancelled."""
    stats = {"calling": 0, "completed": 0, "failed": 0, "pending": 0, "retry": 0, "total": 0}
    for status, dialed, count in counts:
        if status == "calling":
            bucket = "calling"
        elif status == "completed":
            bucket = "completed"
        elif status in ("errored", "cancelled"):
            bucket = "failed"
        else:
            bucket = "retry" if dialed else "pending"
        stats[bucket] += count
        stats["total"] += count
    return stats


async def create(
    conn: AsyncConnection, org_id: str, body: CampaignCreateIn, *, default_from_number: str, now: datetime | None = None
) -> dict:
    """Check every contact, then store the campaign, its rows and one order per row."""
    now = now or utcnow()
    try:
        assistant = await assistants_service.fetch(conn, org_id, body.assistant_id)
    except NotFound as missing:
        raise NotFound(missing.message, param="assistant_id") from None
    override = body.call_retry_config.model_dump() if body.call_retry_config else None
    retry_config = override or assistant["call_retry_config"] or DEFAULT_RETRY_CONFIG_WIRE
    config = RetryConfig.from_wire(retry_config)
    needed = tuple(dict.fromkeys(n for f in INTERPOLATED_FIELDS for n in placeholders(assistant.get(f))))
    checked, errors = contacts_policy.check_contacts(body.contacts, needed, config, body.scheduled_at, now)
    if errors:
        raise InvalidContacts(errors)
    campaign_id = new_id()
    campaign = {
        "id": campaign_id,
        "organization_id": org_id,
        "assistant_id": assistant["id"],
        "name": body.name,
        "assistant": assistant,
        "first_sentence_delay_ms": assistant["first_sentence_delay_ms"],
        "llm_model": assistant["llm_model"],
        "call_retry_config": retry_config,
        "call_retry_config_override": override,
        "from_phone_number": body.from_phone_number,
        "dial_from_number": await phone_numbers.caller_id(conn, org_id, body.from_phone_number, default_from_number),
        "max_concurrent_calls": body.max_concurrent_calls,
        "scheduled_at": body.scheduled_at,
        "paused_at": None,
        "cancelled_at": None,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_campaign(conn, campaign)
    naive_due = {c.due_at: c.due_at.astimezone(UTC).replace(tzinfo=None) for c in checked}
    await store.insert_rows(
        conn,
        [
            (new_id(), campaign_id, i, c.phone_number, json.dumps(c.variables), naive_due[c.due_at], c.status)
            for i, c in enumerate(checked)
        ],
    )
    await store.materialize_orders(conn, campaign_id, now)
    await dispatch_store.set_key_limit(
        conn, org_id, store.concurrency_key(campaign_id), body.max_concurrent_calls or UNBOUNDED
    )
    stats = row_stats([(c.status, False, 1) for c in checked])
    return render_campaign(campaign, assistant, stats)


async def fetch(conn: AsyncConnection, org_id: str, campaign_id: str, *, lock: bool = False) -> dict:
    campaign = await store.get_campaign(conn, org_id, campaign_id, lock=lock)
    if campaign is None:
        raise NotFound(f"No campaign with id '{campaign_id}'", param="id")
    return campaign


async def _render_all(conn: AsyncConnection, campaigns: list[dict]) -> list[dict]:
    counts = await store.status_counts(conn, [c["id"] for c in campaigns])
    return [render_campaign(c, c["assistant"], row_stats(counts[c["id"]])) for c in campaigns]


async def retrieve(conn: AsyncConnection, org_id: str, campaign_id: str) -> dict:
    return (await _render_all(conn, [await fetch(conn, org_id, campaign_id)]))[0]


async def list_all(conn: AsyncConnection, org_id: str) -> list[dict]:
    return await _render_all(conn, await store.list_campaigns(conn, org_id))


async def cancel(conn: AsyncConnection, org_id: str, campaign_id: str, now: datetime | None = None) -> None:
    """In this transaction every order not yet over is cancelled: once it commits no attempt
    starts, and the dispatcher hangs up the live ones."""
    now = now or utcnow()
    campaign = await fetch(conn, org_id, campaign_id, lock=True)
    await webhooks.enqueue_completed_orders(conn, await store.cancel_orders(conn, campaign_id, now), now)
    if campaign["cancelled_at"] is None:
        await store.update_campaign(conn, campaign_id, {"cancelled_at": now, "updated_at": now})


async def delete(conn: AsyncConnection, org_id: str, campaign_id: str, now: datetime | None = None) -> None:
    """Irreversible: its orders not yet over are cancelled (they stay, as call records)."""
    now = now or utcnow()
    await fetch(conn, org_id, campaign_id, lock=True)
    await webhooks.enqueue_completed_orders(conn, await store.cancel_orders(conn, campaign_id, now), now)
    await store.delete_campaign(conn, campaign_id)


async def pause(conn: AsyncConnection, org_id: str, campaign_id: str, now: datetime | None = None) -> None:
    """Live attempts finish; no new one starts until resume. Retry timers keep running."""
    now = now or utcnow()
    campaign = await fetch(conn, org_id, campaign_id, lock=True)
    if campaign["cancelled_at"] is not None:
        raise BadRequest("The campaign is cancelled; it cannot be paused", param="id")
    await store.pause_orders(conn, campaign_id, now)
    if campaign["paused_at"] is None:
        await store.update_campaign(conn, campaign_id, {"paused_at": now, "updated_at": now})


async def resume(conn: AsyncConnection, org_id: str, campaign_id: str, now: datetime | None = None) -> None:
    """Held orders continue; an overdue one waits for the next moment inside its calling window."""
    now = now or utcnow()
    campaign = await fetch(conn, org_id, campaign_id, lock=True)
    if campaign["paused_at"] is None:
        raise BadRequest("The campaign is not paused; only a paused campaign can be resumed", param="id")
    changes = []
    for order in await store.paused_orders(conn, campaign_id):
        if order["live"]:
            changes.append({"order_id": order["id"], "new_status": "calling", "due_at": None, "now": now})
            continue
        due = order_attempts.resume_due_at({**order, "next_attempt_at": order["next_attempt_at"] or now}, now)
        status = "queued_for_calling" if due is not None and due <= now else "scheduled"
        changes.append({"order_id": order["id"], "new_status": status, "due_at": due, "now": now})
    await store.set_orders(conn, changes)
    await store.update_campaign(conn, campaign_id, {"paused_at": None, "updated_at": now})


async def update(conn: AsyncConnection, org_id: str, campaign_id: str, body: CampaignUpdateIn) -> dict:
    """The name always; the retry config, caller id and concurrency for orders not yet dialed
    (the concurrency limit applies at once to every order of the campaign)."""
    now = utcnow()
    campaign = await fetch(conn, org_id, campaign_id, lock=True)
    given = body.model_fields_set
    values: dict = {"updated_at": now}
    order_values: dict = {}
    if "name" in given and body.name is not None:
        values["name"] = body.name
    if "call_retry_config" in given:
        override = body.call_retry_config.model_dump() if body.call_retry_config else None
        effective = override or campaign["assistant"]["call_retry_config"] or DEFAULT_RETRY_CONFIG_WIRE
        values |= {"call_retry_config_override": override, "call_retry_config": effective}
        order_values["call_retry_config"] = effective
    if "from_phone_number" in given:
        values["from_phone_number"] = body.from_phone_number
        values["dial_from_number"] = await phone_numbers.caller_id(
            conn, org_id, body.from_phone_number, campaign["dial_from_number"]
        )
        order_values["from_phone_number"] = values["dial_from_number"]
    if "max_concurrent_calls" in given:
        values["max_concurrent_calls"] = body.max_concurrent_calls
        await dispatch_store.set_key_limit(
            conn, org_id, store.concurrency_key(campaign_id), body.max_concurrent_calls or UNBOUNDED
        )
    await store.update_campaign(conn, campaign_id, values)
    if order_values:
        await store.update_waiting_orders(conn, campaign_id, {**order_values, "updated_at": now})
    return await retrieve(conn, org_id, campaign_id)


def _statuses(text: str | None) -> list[str]:
    wanted = [s.strip() for s in (text or "").split(",") if s.strip()]
    known = (*ORDER_STATUSES, *LATER_ORDER_STATUSES)
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise InvalidRequest(f"Unknown status '{unknown[0]}'; use any of {', '.join(known)}", param="statuses")
    return wanted


async def rows(
    conn: AsyncConnection,
    org_id: str,
    campaign_id: str,
    *,
    page: int,
    page_size: int,
    query: str | None,
    result: str | None,
    statuses: str | None,
    links: RecordingLinks | None = None,
) -> dict:
    campaign = await fetch(conn, org_id, campaign_id)
    found, total = await store.rows_page(
        conn, campaign_id, statuses=_statuses(statuses), query=query, result=result,
        offset=page * page_size, limit=page_size,
    )  # fmt: skip
    link = {"id": campaign["id"], "name": campaign["name"]}
    calls = await orders_service.render_many(conn, [{**o, "campaign": link} for o in found], links)
    return {
        "page": page,
        "page_size": page_size,
        "total": total,
        "rows": [
            {"id": o["id"], "input_data": o["input_data"], "phone_number": o["to_phone_number"],
             "row_index": o["row_index"], "call": call}
            for o, call in zip(found, calls, strict=True)
        ],  # fmt: skip
    }


EXPORT_COLUMNS = ("row_index", "phone_number", "call_id", "status", "calls_count", "last_result",
                  "last_dial_error", "last_ended_at")  # fmt: skip


async def export(conn: AsyncConnection, org_id: str, campaign_id: str) -> dict:
    """Every row as CSV: its input, then its call's state and last attempt."""
    campaign = await fetch(conn, org_id, campaign_id)
    found, _ = await store.rows_page(conn, campaign_id, statuses=[], query=None, result=None, offset=0, limit=None)
    latest = await store.latest_attempts(conn, campaign_id)
    variables = list(dict.fromkeys(k for o in found for k in o["input_data"]))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*EXPORT_COLUMNS[:2], *variables, *EXPORT_COLUMNS[2:]])
    for o in found:
        last = latest.get(o["id"]) or {}
        writer.writerow([
            o["row_index"], o["to_phone_number"], *(o["input_data"].get(k, "") for k in variables),
            o["id"], o["status"], o["calls_count"], last.get("result") or "", last.get("dial_error") or "",
            iso(last.get("ended_at")) or "",
        ])  # fmt: skip
    slug = re.sub(r"[^A-Za-z0-9]+", "-", campaign["name"]).strip("-").lower() or "campaign"
    return {"csv": out.getvalue(), "filename": f"{slug}-{campaign_id[:8]}.csv"}


OUTCOME_LABELS = {
    "human": "Reached a human",
    "voicemail": "Voicemail",
    "IVR": "Phone menu (IVR)",
    "ios-screening-filter": "iOS call screening",
    "unknown": "Unknown answer",
    "busy": "Busy",
    "no_answer": "No answer",
    "number_non_attributed": "Number not attributed",
    "cancelled": "Cancelled",
    "in_progress": "In progress",
}


def _order_outcome(order: dict, attempts: list[dict]) -> str:
    if any(a["result"] == "human" for a in attempts):
        return "human"
    if order["status"] == "cancelled":
        return "cancelled"
    if order["status"] not in ("completed", "errored"):
        return "in_progress"
    last = max(attempts, key=lambda a: a["ended_at"] or a["started_at"], default=None)
    if last is None:
        return "unknown"
    return last["result"] or last["dial_error"] or "unknown"


async def statistics(conn: AsyncConnection, org_id: str, campaign_id: str) -> dict:
    """The funnel over distinct numbers — called → reached a human → had a conversation → gave
    extracted data — the outcome of every row, and how many attempts each contact took; in the
    shape of SDK 0.5.0's `statistics`, with `conversations`, `extracted_data` and
    `attempts_per_contact` added."""
    campaign = await fetch(conn, org_id, campaign_id)
    orders = await store.order_states(conn, campaign_id)
    attempts = [a for a in await store.attempts_of_campaign(conn, campaign_id) if a["dial_started_at"]]
    by_order: dict[str, list[dict]] = {o["id"]: [] for o in orders}
    for a in attempts:
        by_order[a["order_id"]].append(a)
    called = {a["to_phone_number"] for a in attempts}
    reached = {a["to_phone_number"] for a in attempts if a["result"] == "human"}
    talked = {a["to_phone_number"] for a in attempts if a["result"] == "human" and a["user_turns"]}
    extracted = {a["to_phone_number"] for a in attempts if a["result"] == "human" and a["structured_output"]}
    outcomes = Counter(_order_outcome(o, by_order[o["id"]]) for o in orders)
    per_contact = Counter(len(by_order[o["id"]]) for o in orders)
    counts = await store.status_counts(conn, [campaign_id])
    status = campaign_status(campaign, row_stats(counts[campaign_id]))
    starts = [a["started_at"] for a in attempts if a["started_at"]]
    ends = [a["ended_at"] for a in attempts if a["ended_at"]]
    config = RetryConfig.from_wire(campaign["call_retry_config"])
    structured = campaign["assistant"].get("structured_output_config") or []

    def pct(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    return {
        "campaign": {
            "id": campaign["id"],
            "name": campaign["name"],
            "agent_name": campaign["assistant"].get("name"),
            "status": status,
            "is_cancelled": campaign["cancelled_at"] is not None,
            "has_activity": bool(attempts),
            "first_activity_at": iso(min(starts)) if starts else None,
            "last_activity_at": iso(max(ends)) if ends else None,
            "max_attempts_per_contact": 1 + config.max_retry_attempts,
            "timezone": config.timezone or "recipient",
        },
        "funnel": {
            "called": {"count": len(called), "imported_rows": len(orders)},
            "reached": {"count": len(reached), "inbound": 0, "outbound": len(reached), "overlap": 0,
                        "pct_of_called": pct(len(reached), len(called))},
            "conversations": {"count": len(talked), "pct_of_reached": pct(len(talked), len(reached))},
            "real_exchanges": {"count": len(talked), "pct_of_reached": pct(len(talked), len(reached))},
            "extracted_data": {"count": len(extracted), "pct_of_reached": pct(len(extracted), len(reached))},
            "hot_leads": {"count": 0, "pct_of_reached": pct(0, len(reached))},
        },  # fmt: skip
        "outcome_breakdown": [
            {"outcome": outcome, "label": OUTCOME_LABELS.get(outcome, outcome), "count": count}
            for outcome, count in outcomes.most_common()
        ],
        "attempts_per_contact": [{"attempts": n, "contacts": per_contact[n]} for n in sorted(per_contact)],
        "effort": {"calls_total": len(attempts), "outbound_attempts": len(attempts), "inbound_calls": 0},
        "data_extraction": {"fields": [f["name"] for f in structured], "intro": ""} if structured else None,
        "hot_lead_outcomes": [],
        "inbound": {"unique_callers": 0},
        "jump_in": {"joined_calls": 0, "median_conversation_seconds": None, "median_time_to_join_seconds": None},
        "leads": {"callback_requested": [], "interested": []},
    }
