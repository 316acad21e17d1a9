"""The HTTP API: every router mounted in one place, all behind the API key except /health."""

from fastapi import APIRouter

from openrevox.api import assistants, calls, campaigns, users, voices, webhooks

router = APIRouter()
for module in (calls, assistants, campaigns, users, voices, webhooks):
    router.include_router(module.router)
