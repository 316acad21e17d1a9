"""The one shape of every background loop: passes until stopped, resting between quiet passes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("openrevox")


async def run_passes(
    tick: Callable[[], Awaitable[int]], stop: asyncio.Event, interval: float, batch: int, what: str
) -> None:
    """Call `tick` until `stop` is set. A pass that handled a full `batch` is followed at once by
    the next (more is likely waiting); a shorter one by a rest of `interval` seconds. A failed pass
    (a database hiccup) is logged and the next one retries: it never ends the loop."""
    while not stop.is_set():
        try:
            handled = await tick()
        except Exception:
            log.exception("%s pass failed", what)
            handled = 0
        if handled < batch:
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
