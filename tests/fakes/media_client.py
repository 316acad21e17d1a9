"""What a carrier does with a call's media stream, over a real websocket: says hello and start,
streams 20 ms μ-law frames in real time from PCM or a WAV file, sends dtmf and stop (or drops
the connection), echoes marks, and collects what the server sends back (media, mark, clear).
Each carrier's wording is a subclass: TwilioMediaClient, TelnyxMediaClient."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from websockets.asyncio.client import connect

from fakes.g711 import FRAME_BYTES, pcm16_to_ulaw, read_wav_8k


class MediaClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[dict] = []  # every message the server sent, in order
        self.closed = asyncio.Event()
        self._sequence = 0
        self._chunk = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()

    # -- the carrier's wording (subclasses) -----------------------------------------------------

    def hello(self) -> dict:
        return {"event": "connected", "version": "1.0.0"}

    def start_message(self) -> dict:
        raise NotImplementedError

    def wrap(self, event: str, sequence: int, body: dict) -> dict:
        """A message of `event` with the stream's id and sequence number."""
        raise NotImplementedError

    def stop_body(self) -> dict:
        raise NotImplementedError

    # -- what the server sent -------------------------------------------------------------------

    def media(self) -> bytes:
        """The μ-law audio the server sent, concatenated."""
        return b"".join(base64.b64decode(m["media"]["payload"]) for m in self.received if m["event"] == "media")

    def events(self, event: str) -> list[dict]:
        return [m for m in self.received if m["event"] == event]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def wait_for_media(self, min_bytes: int, timeout: float = 10.0) -> bytes:
        await self.wait_for(lambda: len(self.media()) >= min_bytes or self.closed.is_set(), timeout)
        return self.media()

    async def _read(self) -> None:
        try:
            async for text in self._ws:
                message = json.loads(text)
                self.received.append(message)
                if message.get("event") == "mark":  # echoed once the audio before it has played
                    await self.send("mark", mark=message["mark"])
                self._changed.set()
        except Exception:  # noqa: BLE001 - the socket went away: that is what `closed` reports
            pass
        finally:
            self.closed.set()
            self._changed.set()

    # -- what the carrier sends -----------------------------------------------------------------

    async def send(self, event: str, **body: object) -> None:
        self._sequence += 1
        await self._ws.send(json.dumps(self.wrap(event, self._sequence, body)))

    async def connect(self) -> None:
        self._ws = await connect(self.url.replace("http", "ws", 1))
        self._reader = asyncio.create_task(self._read())
        await self._ws.send(json.dumps(self.hello()))
        await self._ws.send(json.dumps(self.start_message()))

    async def stream_pcm(self, pcm: bytes, realtime: bool = True) -> None:
        """PCM16 mono 8 kHz, as 20 ms μ-law frames, one every 20 ms when `realtime`."""
        ulaw = pcm16_to_ulaw(pcm)
        for start in range(0, len(ulaw), FRAME_BYTES):
            self._chunk += 1
            payload = base64.b64encode(ulaw[start : start + FRAME_BYTES]).decode()
            media = {"track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * 20), "payload": payload}
            await self.send("media", media=media)
            if realtime:
                await asyncio.sleep(0.02)

    async def stream_wav(self, path: Path, realtime: bool = True) -> None:
        await self.stream_pcm(read_wav_8k(path), realtime)

    async def dtmf(self, digit: str) -> None:
        await self.send("dtmf", dtmf={"digit": digit})

    async def stop(self) -> None:
        """The call ended: the carrier says stop and closes the socket."""
        if not self.closed.is_set():
            await self.send("stop", stop=self.stop_body())
            await self._ws.close()
        await self._reader

    async def drop(self) -> None:
        """The connection dies mid-call: no stop, no closing handshake."""
        self._ws.transport.abort()
        await self._reader
