"""Which OpenAI-compatible endpoint an order's `llm_model` means.

Every model we run speaks the Chat Completions API, so an endpoint is a base URL, a key, the
model id to send and any provider-specific body fields. `None` means the operator configured no
endpoint for that model: the voice agent then falls back to its offline responder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openrevox.config import Settings

OPENAI_BASE_URL = "https://api.openai.com/v1"
MINISTRAL = "ministral-3-8b-instruct"


@dataclass(frozen=True)
class LLMEndpoint:
    base_url: str
    api_key: str | None
    model: str
    extra_body: dict = field(default_factory=dict)  # merged into each request body (OpenRouter routing)


def resolve_llm(llm_model: dict, settings: Settings) -> LLMEndpoint | None:
    if llm_model["type"] == "openrouter":
        if not settings.openrouter_api_key:
            return None
        # Pin the provider the order names: OpenRouter would otherwise balance across providers.
        routing = {"order": [llm_model["openrouter_provider"]], "allow_fallbacks": False}
        return LLMEndpoint(
            base_url=settings.openrouter_base_url,
            api_key=settings.openrouter_api_key,
            model=llm_model["openrouter_model_id"],
            extra_body={"provider": routing},
        )
    if llm_model["name"] == MINISTRAL:
        if not settings.ministral_base_url:
            return None
        return LLMEndpoint(settings.ministral_base_url, settings.ministral_api_key, settings.ministral_model)
    if not (settings.openai_api_key or settings.openai_base_url):
        return None
    return LLMEndpoint(settings.openai_base_url or OPENAI_BASE_URL, settings.openai_api_key, llm_model["name"])
