"""The Campaigns resource: SDK 0.1.1 (create, list, retrieve, rows, export, cancel, delete) and
the later update, pause, resume and statistics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from openrevox.api.deps import CurrentPrincipal, Db
from openrevox.api.recordings import Links
from openrevox.campaigns import service
from openrevox.schemas.campaigns import CampaignCreateIn, CampaignUpdateIn, RowResult

router = APIRouter(tags=["campaigns"])

# A campaign carries its contacts in one body: 100,000 of them is about 10 MB of JSON.
MAX_BODY_BYTES = 64 * 1024 * 1024


@router.post("/campaigns", summary="Create and launch a campaign")
async def create_campaign(body: CampaignCreateIn, request: Request, conn: Db, principal: CurrentPrincipal) -> dict:
    campaign = await service.create(
        conn, principal.organization_id, body, default_from_number=request.app.state.settings.default_from_number
    )
    return {"campaign": campaign}


@router.get("/campaigns", summary="List campaigns, most recent first")
async def list_campaigns(conn: Db, principal: CurrentPrincipal) -> dict:
    return {"campaigns": await service.list_all(conn, principal.organization_id)}


@router.get("/campaigns/{campaign_id}", summary="Retrieve a campaign")
async def retrieve_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"campaign": await service.retrieve(conn, principal.organization_id, campaign_id)}


@router.patch("/campaigns/{campaign_id}", summary="Update a campaign")
async def update_campaign(campaign_id: str, body: CampaignUpdateIn, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"campaign": await service.update(conn, principal.organization_id, campaign_id, body)}


@router.delete("/campaigns/{campaign_id}", summary="Delete a campaign (its calls stay)")
async def delete_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.delete(conn, principal.organization_id, campaign_id)
    return {"success": True}


@router.post("/campaigns/{campaign_id}/cancel", summary="Cancel every call of the campaign not yet over")
async def cancel_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.cancel(conn, principal.organization_id, campaign_id)
    return {"success": True}


@router.post("/campaigns/{campaign_id}/pause", summary="Pause a campaign")
async def pause_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.pause(conn, principal.organization_id, campaign_id)
    return {"success": True}


@router.post("/campaigns/{campaign_id}/resume", summary="Resume a paused campaign")
async def resume_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    await service.resume(conn, principal.organization_id, campaign_id)
    return {"success": True}


@router.get("/campaigns/{campaign_id}/rows", summary="A page of the campaign's rows, in input order")
async def campaign_rows(
    campaign_id: str,
    conn: Db,
    principal: CurrentPrincipal,
    links: Links,
    page: Annotated[int, Query(ge=0, le=1_000_000, description="0-based")] = 0,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    query: Annotated[str | None, Query(max_length=200)] = None,
    result: RowResult | None = None,
    statuses: Annotated[str | None, Query(description="Call statuses, comma-joined")] = None,
) -> dict:
    return await service.rows(
        conn, principal.organization_id, campaign_id,
        page=page, page_size=page_size, query=query, result=result, statuses=statuses, links=links,
    )  # fmt: skip


@router.get("/campaigns/{campaign_id}/export", summary="Every row as CSV")
async def export_campaign(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return await service.export(conn, principal.organization_id, campaign_id)


@router.get("/campaigns/{campaign_id}/statistics", summary="Funnel, outcomes and effort")
async def campaign_statistics(campaign_id: str, conn: Db, principal: CurrentPrincipal) -> dict:
    return {"statistics": await service.statistics(conn, principal.organization_id, campaign_id)}
