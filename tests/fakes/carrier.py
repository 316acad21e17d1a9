"""What the fake carriers share: calls played by a script per callee number, over a real socket.

Scripts, per `to` number (default `answer`):
    answer      rings, answers, streams `talk_pcm` into our media socket, waits for audio back, hangs up
    drop        rings, answers, streams a little, then the media socket dies (the call stays up
                until we hang it up through the REST API)
    hold        rings, answers, streams, then waits for our REST hang-up (or transfer)
    busy, no-answer, failed   rings (except failed: the number does not exist), then that end
    late-answer rings, then the end arrives before the answer (out of order), no media
    media-first rings, then streams as `answer` does, and only then says it was answered
    refuse      the REST API refuses the number
    error       the REST API answers 500
    slow        the REST API answers after `slow_secs`
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field

import httpx

from fakes.g711 import tone
from fakes.media_client import MediaClient
from fakes.servers import ThreadedServer


@dataclass
class FakeCall:
    id: str
    to: str
    from_: str
    request: dict  # what we asked for when we placed it
    stream_url: str | None = None
    stream_parameters: dict[str, str] = field(default_factory=dict)
    status: str = "queued"
    callbacks: list[dict] = field(default_factory=list)  # {status, request, status_code} of each webhook sent
    media: MediaClient | None = None
    updates: list[dict] = field(default_factory=list)  # what we asked of the call afterwards
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)  # the script played to its end
    our_answer: asyncio.Event = field(default_factory=asyncio.Event)  # we answered or rejected an inbound call
    sequence: itertools.count = field(default_factory=itertools.count)


class FakeCarrier:
    def __init__(self, app, name: str) -> None:  # noqa: ANN001
        self.scripts: dict[str, str] = {}
        self.talk_pcm = tone(440, 1.0)
        self.slow_secs = 5.0
        self.calls: dict[str, FakeCall] = {}
        self.problems: list[str] = []  # requests the carrier would have refused: tests assert none
        self.server = ThreadedServer(app, name)
        self._tasks: set[asyncio.Task] = set()

    def __enter__(self) -> FakeCarrier:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    def calls_to(self, number: str) -> list[FakeCall]:
        return [c for c in self.calls.values() if c.to == number]

    def wait_done(self, call: FakeCall, timeout: float = 10) -> None:
        """From the test's thread: until the call's script has played to its end."""
        self.server.call(asyncio.wait_for(call.done.wait(), timeout))

    def new_id(self) -> str:
        return str(uuid.uuid4())

    # -- the carrier's wording (subclasses) -----------------------------------------------------

    async def report(self, call: FakeCall, status: str, duration: int = 0) -> None:
        """Tell our webhook that the call is now `status` (initiated, ringing, answered, completed,
        busy, no-answer, failed), as this carrier words it."""
        raise NotImplementedError

    async def send_webhook(self, call: FakeCall, request: dict) -> int:
        raise NotImplementedError

    def media_client(self, call: FakeCall) -> MediaClient:
        raise NotImplementedError

    # -- playing a call -------------------------------------------------------------------------

    async def callback(self, call: FakeCall, status: str, request: dict) -> None:
        call.status = status
        call.callbacks.append({"status": status, "request": request, "status_code": await self.send_webhook(call, request)})

    async def resend(self, call: FakeCall, index: int) -> int:
        """Deliver an earlier webhook again (a carrier's retry)."""
        return await self.send_webhook(call, call.callbacks[index]["request"])

    def play(self, call: FakeCall, script: str) -> None:
        task = asyncio.create_task(self._play(call, script))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, call: FakeCall, script: str) -> None:
        try:
            await self._play_script(call, script)
        except httpx.ConnectError:  # the server under test stopped before the call ended
            pass
        finally:
            call.done.set()

    async def _play_script(self, call: FakeCall, script: str) -> None:
        await asyncio.sleep(0.05)
        await self.report(call, "initiated")
        if script == "failed":
            await self.report(call, "failed")
            return
        await self.report(call, "ringing")
        await asyncio.sleep(0.1)
        if script in ("busy", "no-answer"):
            await self.report(call, script)
            return
        if script == "late-answer":
            await self.report(call, "completed", duration=2)
            await self.report(call, "answered")
            return
        answered_at = asyncio.get_running_loop().time()
        if script != "media-first":
            await self.report(call, "answered")
        await self.converse(call, script)
        if script == "media-first":
            await self.report(call, "answered")
        await self.report(call, "completed", duration=max(1, round(asyncio.get_running_loop().time() - answered_at)))

    async def converse(self, call: FakeCall, script: str = "answer") -> None:
        call.media = self.media_client(call)
        await call.media.connect()
        if script == "drop":
            await call.media.stream_pcm(self.talk_pcm[: len(self.talk_pcm) // 4])
            await call.media.drop()
            await call.hung_up.wait()  # until we hang the call up
            return
        await call.media.stream_pcm(self.talk_pcm)
        await call.media.dtmf("1")
        if script == "hold":
            await call.hung_up.wait()
        else:
            await call.media.wait_for_media(1600)  # 200 ms of the agent's answer
            await call.media.stop()

    def hang_up(self, call: FakeCall) -> None:
        """We hung the call up (or moved it elsewhere): the media stream ends."""
        call.hung_up.set()
        if call.media is not None and not call.media.closed.is_set():
            task = asyncio.create_task(call.media.stop())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
