"""Which endpoint an order's `llm_model` means (openrevox.llm.resolve_llm)."""

from __future__ import annotations

import pytest

from openrevox.config import Settings
from openrevox.llm import LLMEndpoint, resolve_llm

GPT = {"type": "dedicated-instance", "name": "gpt-4.1"}
MINISTRAL = {"type": "dedicated-instance", "name": "ministral-3-8b-instruct"}
ROUTER = {"type": "openrouter", "openrouter_model_id": "openai/gpt-4.1", "openrouter_provider": "azure"}
PINNED_AZURE = {"provider": {"order": ["azure"], "allow_fallbacks": False}}
LLM_VARIABLES = [
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENROUTER_BASE_URL",
    "OPENROUTER_API_KEY",
    "OPENREVOX_OPENROUTER_BASE_URL",
    "OPENREVOX_MINISTRAL_BASE_URL",
    "OPENREVOX_MINISTRAL_API_KEY",
    "OPENREVOX_MINISTRAL_MODEL",
]


@pytest.fixture
def environment(monkeypatch):
    """Only the variables a row sets: nothing from the machine running the tests."""
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def settings(variables: dict[str, str]) -> Settings:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return Settings()

    return settings


@pytest.mark.parametrize(
    ("llm_model", "variables", "endpoint"),
    [
        # gpt-4.1 with only a key: OpenAI itself
        (GPT, {"OPENAI_API_KEY": "sk-1"}, LLMEndpoint("https://api.openai.com/v1", "sk-1", "gpt-4.1")),
        # any compatible server, with or without a key
        (GPT, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, LLMEndpoint("http://127.0.0.1:9/v1", None, "gpt-4.1")),
        (
            GPT,
            {"OPENAI_BASE_URL": "http://llm.local/v1", "OPENAI_API_KEY": "sk-2"},
            LLMEndpoint("http://llm.local/v1", "sk-2", "gpt-4.1"),
        ),
        # nothing configured: the offline responder's turn
        (GPT, {}, None),
        # the OpenAI settings say nothing about the other models
        (MINISTRAL, {"OPENAI_API_KEY": "sk-1"}, None),
        (ROUTER, {"OPENAI_API_KEY": "sk-1"}, None),
        # Ministral on the operator's own server; key optional; served-model name overridable
        (
            MINISTRAL,
            {"OPENREVOX_MINISTRAL_BASE_URL": "http://vllm:8000/v1"},
            LLMEndpoint("http://vllm:8000/v1", None, "ministral-3-8b-instruct"),
        ),
        (
            MINISTRAL,
            {
                "OPENREVOX_MINISTRAL_BASE_URL": "http://vllm:8000/v1",
                "OPENREVOX_MINISTRAL_API_KEY": "m-key",
                "OPENREVOX_MINISTRAL_MODEL": "mistralai/Ministral-3-8B-Instruct",
            },
            LLMEndpoint("http://vllm:8000/v1", "m-key", "mistralai/Ministral-3-8B-Instruct"),
        ),
        # a Ministral key without a server is not an endpoint
        (MINISTRAL, {"OPENREVOX_MINISTRAL_API_KEY": "m-key"}, None),
        # OpenRouter: the model id as given, the provider pinned
        (
            ROUTER,
            {"OPENROUTER_API_KEY": "or-1"},
            LLMEndpoint("https://openrouter.ai/api/v1", "or-1", "openai/gpt-4.1", PINNED_AZURE),
        ),
        (
            ROUTER,
            {"OPENROUTER_API_KEY": "or-1", "OPENROUTER_BASE_URL": "http://proxy/v1"},
            LLMEndpoint("http://proxy/v1", "or-1", "openai/gpt-4.1", PINNED_AZURE),
        ),
        # OpenRouter never works without a key
        (ROUTER, {"OPENROUTER_BASE_URL": "http://proxy/v1"}, None),
    ],
)
def test_llm_model_resolves_to_its_endpoint(environment, llm_model, variables, endpoint):
    assert resolve_llm(llm_model, environment(variables)) == endpoint
