"""Calls: the list (filters, live rows, keyboard) and a call's page (timeline of attempts with their
transcripts and recordings, structured output, webhook deliveries, cancel / pause / resume)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from openrevox.api.deps import Db
from openrevox.api.recordings import Links
from openrevox.assistants import service as assistants_service
from openrevox.db.types import utcnow
from openrevox.campaigns import service as campaigns_service
from openrevox.orders import service as orders_service
from openrevox.orders import store as orders_store
from openrevox.postcall import service as webhooks_service
from openrevox.recording_links import RecordingLinks
from openrevox.schemas.calls import ORDER_STATUSES, TERMINAL_STATUSES, CallSearchIn
from openrevox.web.auth import CheckedForm, CurrentOrg
from openrevox.web.pages import Action, render, run_action

router = APIRouter()

PAGE_SIZE = 50
RESULTS = ("human", "voicemail", "IVR", "ios-screening-filter", "unknown", "none")
FILTERS = ("status", "result", "assistant", "campaign", "phone", "date", "page")


def _filters(request: Request) -> dict[str, str]:
    return {k: v for k in FILTERS if (v := request.query_params.get(k, "").strip())}


def _day(text: str | None) -> tuple[datetime, datetime] | None:
    """A YYYY-MM-DD day, as the UTC moments it spans; None for no (or no valid) day."""
    try:
        day = date.fromisoformat(text or "")
    except ValueError:
        return None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


async def _search(conn: AsyncConnection, org_id: str, filters: dict[str, str]) -> tuple[list[dict], int, int]:
    """A page of calls matching the filters (rendered as the API renders them), the total, the page."""
    page = int(filters["page"]) if filters.get("page", "").isdigit() else 0
    try:
        body = CallSearchIn(
            assignee_ids=[], directions=[], from_phone_numbers=[], outcomes=[],
            assistant_ids=[filters["assistant"]] if "assistant" in filters else [],
            campaign_ids=[filters["campaign"]] if "campaign" in filters else [],
            statuses=[filters["status"]] if "status" in filters else [],
            results=[filters["result"]] if "result" in filters else [],
            query=filters.get("phone"), page=min(page, 1_000_000), page_size=PAGE_SIZE,
        )  # fmt: skip
    except ValidationError:  # a hand-made URL with an unknown status or result: nothing matches it
        return [], 0, page
    orders, total = await orders_store.search_orders(
        conn, org_id, {**body.model_dump(), "created_between": _day(filters.get("date"))}
    )
    return await orders_service.render_many(conn, orders), total, page


async def _list(conn: AsyncConnection, org_id: str, filters: dict[str, str]) -> dict:
    """The list's changing part: a page of calls, how many match, and whether to keep polling it: on
    the first page always (new calls appear there), on the others while one of theirs runs."""
    calls, total, page = await _search(conn, org_id, filters)
    return {
        "calls": calls, "total": total, "page": page, "page_size": PAGE_SIZE, "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if k != "page"}), "poll_query": urlencode(filters),
        "poll": page == 0 or any(call["status"] not in TERMINAL_STATUSES for call in calls),
    }  # fmt: skip


@router.get("/calls")
async def calls_page(request: Request, conn: Db, org_id: CurrentOrg) -> Response:
    filters = _filters(request)
    return render(request, "calls.html", {
        **await _list(conn, org_id, filters), "statuses": ORDER_STATUSES, "results": RESULTS,
        "assistants": await assistants_service.list_all(conn, org_id),
        "campaigns": await campaigns_service.list_all(conn, org_id),
    })  # fmt: skip


@router.get("/calls/rows")
async def call_rows(request: Request, conn: Db, org_id: CurrentOrg) -> Response:
    """The list alone (count, rows, pages), polled while calls run."""
    return render(request, "_calls_live.html", await _list(conn, org_id, _filters(request)))


async def _call(conn: AsyncConnection, org_id: str, call_id: str, links: RecordingLinks) -> dict:
    """The call as GET /call/{id} renders it (signed recording links included), with its webhook
    deliveries; NotFound for an id of another organization."""
    call = await orders_service.render(conn, await orders_service.fetch_order(conn, org_id, call_id), links)
    call["webhook_deliveries"] = await webhooks_service.deliveries_of_call(conn, org_id, call_id)
    # The timeline reads oldest first; the API lists attempts most recent first.
    call["timeline"] = list(reversed(call["call_attempts"]))
    return call


# After a call over a real carrier, its recording (and structured output) may land a little
# after the carrier says it ended.
FOLLOW_UP = timedelta(seconds=60)


def following(call: dict, now: datetime) -> bool:
    """Whether the call's page keeps polling: while the call is not over, and for a minute after an
    answered last attempt ended without its recording yet."""
    if call["status"] not in TERMINAL_STATUSES:
        return True
    last = call["last_call_attempt"]
    if not last or not last["answered_at"] or not last["ended_at"] or last["recording_url"]:
        return False
    return now - datetime.fromisoformat(last["ended_at"].replace("Z", "+00:00")) < FOLLOW_UP


@router.get("/calls/{call_id}")
async def call_page(request: Request, call_id: str, conn: Db, org_id: CurrentOrg, links: Links) -> Response:
    call = await _call(conn, org_id, call_id, links)
    return render(request, "call.html", {"call": call, "live": call["status"] not in TERMINAL_STATUSES,
                                         "poll": following(call, utcnow())})  # fmt: skip


@router.get("/calls/{call_id}/live")
async def call_live(request: Request, call_id: str, conn: Db, org_id: CurrentOrg, links: Links) -> Response:
    """The call's changing part alone, polled while it runs (the transcript streams in)."""
    call = await _call(conn, org_id, call_id, links)
    return render(request, "_call_live.html", {"call": call, "live": call["status"] not in TERMINAL_STATUSES,
                                               "poll": following(call, utcnow())})  # fmt: skip


ACTIONS: dict[str, Action] = {
    "cancel": (orders_service.cancel, "Call cancelled"),
    "pause": (orders_service.pause, "Call paused"),
    "resume": (orders_service.resume, "Call resumed"),
}


@router.post("/calls/{call_id}/{action}")
async def call_action(
    request: Request, call_id: str, action: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    """Cancel, pause or resume."""
    return await run_action(request, ACTIONS, action, f"/calls/{call_id}", conn, org_id, call_id)
