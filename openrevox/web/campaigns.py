"""Campaigns: the list, and a campaign's progress chart, statistics funnel and CSV export."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from openrevox.api.deps import Db
from openrevox.campaigns import service
from openrevox.campaigns import store
from openrevox.db.types import utcnow
from openrevox.web import progress
from openrevox.web.auth import CurrentOrg
from openrevox.web.pages import render

router = APIRouter()

CHART_WIDTH, CHART_HEIGHT = 720, 200
FUNNEL = (("called", "Called"), ("reached", "Reached a human"), ("conversations", "Had a conversation"),
          ("extracted_data", "Gave extracted data"))  # fmt: skip


@router.get("/campaigns")
async def campaigns_page(request: Request, conn: Db, org_id: CurrentOrg) -> Response:
    return render(request, "campaigns.html", {"campaigns": await service.list_all(conn, org_id)})


def _chart(campaign: dict, orders: list[dict], attempts: list[dict], now: datetime) -> list[progress.Bar]:
    start = datetime.fromisoformat(campaign["created_at"].replace("Z", "+00:00"))
    ends = [a["ended_at"] for a in attempts if a["ended_at"]]
    end = max(ends) if campaign["status"] == "completed" and ends else now
    points = progress.series(orders, attempts, start, max(end, start))
    return progress.stacked_bars(points, len(orders), CHART_WIDTH, CHART_HEIGHT)


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    campaign = await service.retrieve(conn, org_id, campaign_id)
    statistics = await service.statistics(conn, org_id, campaign_id)
    attempts = [a for a in await store.attempts_of_campaign(conn, campaign_id) if a["dial_started_at"]]
    bars = _chart(campaign, await store.order_states(conn, campaign_id), attempts, utcnow())
    return render(request, "campaign.html", {
        "campaign": campaign, "statistics": statistics, "funnel": FUNNEL, "bars": bars,
        "statuses": progress.STATUSES, "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
    })  # fmt: skip


@router.get("/campaigns/{campaign_id}/export.csv")
async def export_campaign(campaign_id: str, conn: Db, org_id: CurrentOrg) -> Response:
    export = await service.export(conn, org_id, campaign_id)
    return Response(
        export["csv"], media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{export["filename"]}"'},
    )  # fmt: skip
