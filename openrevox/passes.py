"""The one shape of every background loop: passes until stopped, resting between quiet passes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("openrevox")


async def run_passes(tick: Callable[[], Awaitable[int]], stop: asyncio.Event, interval: float, what: str) -> None:
    """Call `tick` until `stop` is set. A pass that handled something is followed at once by the
    next (while work flows in, it waits for no rest, only for the pass before it); a pass that
    found nothing, by a rest of `interval` seconds. A failed pass (a database hiccup) is logged
    and the next one retries: it never ends the loop."""
    while not stop.is_set():
        try:
            handled = await tick()
        except Exception:
            log.exception("%s pass failed", what)
            handled = 0
        if not handled:
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
