"""run_passes (openrevox.passes): the loop every background service runs — passes back to back
while work flows, a rest only after a pass that found nothing, and a failing pass never ends it."""

from __future__ import annotations

import asyncio

from openrevox.passes import run_passes

REST = 0.2


def pass_times(handled: list[int | Exception]) -> list[float]:
    """When each pass ran (loop time, from the first), each handling what `handled` says in turn."""

    async def story() -> list[float]:
        loop, stop, times = asyncio.get_running_loop(), asyncio.Event(), []

        async def tick() -> int:
            times.append(loop.time())
            outcome = handled[len(times) - 1]
            if len(times) == len(handled):
                stop.set()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        await run_passes(tick, stop, REST, what="test")
        return [t - times[0] for t in times]

    return asyncio.run(story())


def test_passes_that_handled_something_follow_each_other_without_rest():
    # A few each, as a steady trickle of due orders gives: no rest between them.
    times = pass_times([3, 1, 2, 0, 1])
    assert times[3] < REST / 2  # the first four back to back
    assert times[4] - times[3] >= REST * 0.9  # a rest only after the pass that found nothing


def test_a_failed_pass_is_followed_by_a_rest_and_the_loop_goes_on():
    times = pass_times([RuntimeError("database hiccup"), 2, 0])
    assert len(times) == 3
    assert times[1] >= REST * 0.9 and times[2] - times[1] < REST / 2
