"""Campaigns: the list, and a campaign's progress chart, statistics funnel, CSV export, and
pause / resume / cancel."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from openrevox.api.deps import Db
from openrevox.campaigns import service
from openrevox.campaigns import store
from openrevox.db.types import utcnow
from openrevox.web import progress
from openrevox.web.auth import CheckedForm, CurrentOrg
from openrevox.web.pages import Action, render, run_action

router = APIRouter()

CHART_WIDTH, CHART_HEIGHT = 720, 200
FUNNEL = (("called", "Called"), ("reached", "Reached a human"), ("conversations", "Had a conversation"),
          ("extracted_data", "Gave extracted data"))  # fmt: skip


@router.get("/campaigns")
async def campaigns_page(request: Request, conn: Db, org_id: CurrentOrg) -> Response:
    return render(request, "campaigns.html", {"campaigns": await service.list_all(conn, org_id)})


async def _campaign(conn: AsyncConnection, org_id: str, campaign_id: str, now: datetime) -> dict:
    """What the campaign page shows: the campaign, its statistics, and its progress chart from
    its creation to now (or to its last call, once completed)."""
    campaign = await service.retrieve(conn, org_id, campaign_id)
    attempts = [a for a in await store.attempts_of_campaign(conn, campaign_id) if a["dial_started_at"]]
    orders = await store.order_states(conn, campaign_id)
    start = datetime.fromisoformat(campaign["created_at"].replace("Z", "+00:00"))
    ends = [a["ended_at"] for a in attempts if a["ended_at"]]
    end = max(max(ends) if campaign["status"] == "completed" and ends else now, start)
    points = progress.series(orders, attempts, start, end)
    return {
        "campaign": campaign, "statistics": await service.statistics(conn, org_id, campaign_id), "funnel": FUNNEL,
        "bars": progress.stacked_bars(points, len(orders), CHART_WIDTH, CHART_HEIGHT), "span": (start, end),
        "statuses": progress.STATUSES, "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
    }  # fmt: skip


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    return render(request, "campaign.html", await _campaign(conn, org_id, campaign_id, utcnow()))


@router.get("/campaigns/{campaign_id}/live")
async def campaign_live(request: Request, campaign_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    """The chart, funnel and outcomes alone, polled while the campaign runs."""
    return render(request, "_campaign_live.html", await _campaign(conn, org_id, campaign_id, utcnow()))


@router.get("/campaigns/{campaign_id}/export.csv")
async def export_campaign(campaign_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    export = await service.export(conn, org_id, campaign_id)
    return Response(
        export["csv"], media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export["filename"]}"'},
    )  # fmt: skip


ACTIONS: dict[str, Action] = {
    "cancel": (service.cancel, "Campaign cancelled: no call of it starts again"),
    "pause": (service.pause, "Campaign paused: live calls finish, no new one starts"),
    "resume": (service.resume, "Campaign resumed"),
}


@router.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(
    request: Request, campaign_id: str, action: str, conn: Db, org_id: CurrentOrg, form: CheckedForm
) -> Response:
    """Pause, resume or cancel every call of the campaign not yet over."""
    return await run_action(request, ACTIONS, action, f"/campaigns/{campaign_id}", conn, org_id, campaign_id)
