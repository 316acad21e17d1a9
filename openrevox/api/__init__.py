"""The HTTP API: every router mounted in one place, all behind the API key except /health and the
carrier webhooks (signed by the carrier)."""

from fastapi import APIRouter

from openrevox.api import assistants, calls, campaigns, phone_numbers, telephony, users, voices, webhooks

router = APIRouter()
for module in (calls, assistants, campaigns, phone_numbers, users, voices, webhooks, telephony):
    router.include_router(module.router)
router.include_router(telephony.media_router)
