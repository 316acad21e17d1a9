"""The HTTP API: every router mounted in one place, all behind the API key except /health."""

from fastapi import APIRouter

from openrevox.api import assistants, calls, campaigns, phone_numbers, users, voices, webhooks

router = APIRouter()
for module in (calls, assistants, campaigns, phone_numbers, users, voices, webhooks):
    router.include_router(module.router)
