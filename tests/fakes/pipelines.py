"""A Pipecat pipeline run in the test's event loop, as a call's worker runs it."""

from __future__ import annotations

import asyncio
import contextlib

from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.workers.runner import WorkerRunner

from openrevox.agent.audio_models import PHONE_SAMPLE_RATE


@contextlib.asynccontextmanager
async def running_pipeline(processors: list):  # noqa: ANN201
    """A PipelineWorker over `processors` at phone rate, running until the block ends."""
    worker = PipelineWorker(
        Pipeline(processors),
        params=PipelineParams(audio_in_sample_rate=PHONE_SAMPLE_RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        yield worker
    finally:
        await worker.cancel()
        await running
