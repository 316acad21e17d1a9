"""How `serve` and `worker` stop without hanging up on anyone.

uvicorn, told to stop (SIGTERM, Ctrl+C), closes every open websocket at once: each call whose
media socket the process holds would be cut mid-sentence, at every deploy. Instead, the first
signal drains the process: it takes no new call (`BackgroundServices.drain`), answers `/health`
with 503 so that load balancers send it nothing new, and waits until its live calls have ended,
`OPENREVOX_DRAIN_SECONDS` at most; then it stops as it would have (uvicorn's own handler gets the
signal). A second signal, a second or more after the first, stops it at once, hanging up on the
calls still live.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from openrevox.services import BackgroundServices

log = logging.getLogger("openrevox")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Signals this close to the first are the same request to stop: Ctrl+C reaches every process of
# `serve --workers N` and uvicorn's supervisor then sends each a SIGTERM (systemd, too, signals
# every process of the service).
SAME_REQUEST_SECS = 1.0


@contextmanager
def drain_on_signals(services: BackgroundServices, stop: Callable[[int], None] | None = None) -> Iterator[None]:
    """Within the block, the first SIGINT or SIGTERM drains `services`, then calls `stop` with it
    (by default, the handler the signal had: uvicorn's, which stops its server); a second one calls
    `stop` at once. Only in the main thread, the one signals reach (a server run on another
    thread, as in tests, stops as uvicorn does)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    stop = stop or _handing_over(previous)
    draining: asyncio.Task | None = None
    since = 0.0

    async def drain_then_stop(sig: int) -> None:
        try:
            await services.drain()
        except Exception:  # the database is gone, say: nothing to wait for
            log.exception("draining failed; stopping now")
        stop(sig)

    def received(sig: int) -> None:
        nonlocal draining, since
        if draining is None:
            live = len(services.dispatcher.running_calls())
            log.warning(
                "stopping: no new call; waiting up to %.0f s for %d live call(s) to end "
                "(signal again to hang up on them)",
                services.drain_seconds,
                live,
            )
            draining, since = loop.create_task(drain_then_stop(sig), name="drain"), loop.time()
        elif loop.time() - since >= SAME_REQUEST_SECS:
            log.warning("stopping now: hanging up on the calls still live")
            draining.cancel()
            stop(sig)

    for sig in STOP_SIGNALS:
        # The handler runs in the main thread between two bytecodes; the loop does the rest.
        signal.signal(sig, lambda sig, frame: loop.call_soon_threadsafe(received, sig))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _handing_over(previous: dict) -> Callable[[int], None]:
    """What the signal did before: uvicorn's handler (stop its server), or the default action."""

    def stop(sig: int) -> None:
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)
        else:  # SIG_DFL or SIG_IGN (None: set outside Python, taken as the default)
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
            signal.raise_signal(sig)

    return stop
