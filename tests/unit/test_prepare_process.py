"""A process that hosts phone calls prepares once at start (openrevox.agent.phone_call.prepare_process)."""

from __future__ import annotations

import asyncio
import gc

import threadpoolctl

from openrevox.agent.phone_call import prepare_process


def test_a_prepared_process_has_its_turn_model_up_and_its_startup_heap_frozen():
    try:
        asyncio.run(asyncio.wait_for(prepare_process(), timeout=60))
        # What exists by then is out of the collector's full passes ...
        assert gc.get_freeze_count() > 10_000
        # ... and Smart Turn is loaded (it holds numpy's BLAS to one thread when it is).
        pools = threadpoolctl.threadpool_info()
        assert [pool["num_threads"] for pool in pools if pool["user_api"] == "blas"] == [1]
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
