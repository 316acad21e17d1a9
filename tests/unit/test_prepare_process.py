"""A process that hosts phone calls prepares once at start (openrevox.agent.phone_call.prepare_process)."""

from __future__ import annotations

import asyncio
import gc
import threading

from openrevox.agent import audio_models
from openrevox.agent.phone_call import prepare_process


def test_a_prepared_process_has_its_turn_models_loaded_and_its_startup_heap_frozen(monkeypatch):
    preloads = []

    def preload() -> None:
        preloads.append(threading.current_thread())
        real_preload()

    real_preload = audio_models.preload
    monkeypatch.setattr(audio_models, "preload", preload)
    try:
        asyncio.run(asyncio.wait_for(prepare_process(), timeout=60))
        # The models were loaded and run once, off the event loop's thread ...
        assert len(preloads) == 1 and preloads[0] is not threading.main_thread()
        assert "smart-turn-0" in {thread.name for thread in threading.enumerate()}
        # ... and what exists by then is out of the collector's full passes.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
