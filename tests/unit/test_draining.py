"""The stop signals while a process drains (openrevox/draining.py), in this process's main thread:
the first drains then stops, signals within a second of it are the same request, a later one stops
at once; the signals get their handlers back after. A real server's drain:
tests/acceptance/test_draining.py."""

from __future__ import annotations

import asyncio
import signal
import threading
from types import SimpleNamespace

from openrevox import draining
from openrevox.draining import drain_on_signals


class Services:
    """BackgroundServices as drain_on_signals sees it: a drain that lasts until `calls_end`."""

    def __init__(self) -> None:
        self.calls_end = asyncio.Event()
        self.drained = False
        self.drain_seconds = 600
        self.dispatcher = SimpleNamespace(running_calls=lambda: {"a call"})

    async def drain(self) -> None:
        await self.calls_end.wait()
        self.drained = True


async def soon() -> None:
    for _ in range(5):  # the handler's call_soon, then the drain task's steps
        await asyncio.sleep(0.01)


def test_a_signal_drains_then_stops_and_a_later_one_stops_at_once(monkeypatch) -> None:
    monkeypatch.setattr(draining, "SAME_REQUEST_SECS", 0.05)

    async def story() -> None:
        services, stopped = Services(), []
        with drain_on_signals(services, stopped.append):
            signal.raise_signal(signal.SIGTERM)
            await soon()
            assert stopped == []  # draining: the call goes on
            services.calls_end.set()
            await soon()
            assert services.drained and stopped == [signal.SIGTERM]

        services, stopped = Services(), []
        with drain_on_signals(services, stopped.append):
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGINT)  # at once: the same request
            await soon()
            assert stopped == []
            await asyncio.sleep(0.06)
            signal.raise_signal(signal.SIGINT)  # later: stop now, hanging up
            await soon()
            assert stopped == [signal.SIGINT] and not services.drained

    asyncio.run(story())


def test_the_signals_get_their_handlers_back_and_the_default_stop_calls_them() -> None:
    handed = []
    before = {sig: signal.signal(sig, lambda sig, frame: handed.append(sig)) for sig in draining.STOP_SIGNALS}
    try:

        async def story() -> None:
            services = Services()
            services.calls_end.set()  # no call: the drain ends at once
            with drain_on_signals(services):  # stop: the handler the signal had (uvicorn's)
                signal.raise_signal(signal.SIGTERM)
                await soon()
            assert handed == [signal.SIGTERM]
            signal.raise_signal(signal.SIGINT)  # the old handler again, outside the block
            assert handed == [signal.SIGTERM, signal.SIGINT]

        asyncio.run(story())
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def test_off_the_main_thread_it_leaves_the_signals_alone() -> None:
    """A server run on another thread (as the tests run theirs) stops as uvicorn does; installing a
    handler there would fail (only the main thread may)."""
    errors: list[BaseException] = []

    def in_a_thread() -> None:
        async def story() -> None:
            with drain_on_signals(Services(), lambda sig: None):
                pass

        try:
            asyncio.run(story())
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert errors == []
