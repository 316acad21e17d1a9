"""A worker warms the OpenAI client at start with a request that nothing answers."""

from __future__ import annotations

import asyncio

from openrevox.agent.session import warm_up_llm_client


def test_warming_up_the_llm_client_needs_no_server_and_neither_raises_nor_retries():
    # The client's default retries would back off for seconds; the warm-up asks for none.
    asyncio.run(asyncio.wait_for(warm_up_llm_client(), timeout=3))
