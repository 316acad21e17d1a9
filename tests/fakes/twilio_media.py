"""A Twilio Media Streams client: what Twilio does on a <Connect><Stream> call, over a real
websocket. It says connected and start (with the <Parameter>s as customParameters), streams
20 ms μ-law frames in real time from PCM or a WAV file, sends dtmf, mark echoes and stop, and
collects what the server sends back (media, mark, clear).

    client = TwilioMediaClient(url, {"attempt_id": ..., "token": ...}, call_sid="CA...")
    await client.connect()
    await client.stream_pcm(tone(440, 1.0))
    await client.wait_for_media(8000)   # one second of audio back
    await client.stop()                 # or client.drop(): the socket dies without a stop
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

from websockets.asyncio.client import connect

from fakes.g711 import FRAME_BYTES, pcm16_to_ulaw, read_wav_8k


class TwilioMediaClient:
    def __init__(
        self, url: str, custom_parameters: dict[str, str], *, call_sid: str, account_sid: str = "AC" + "0" * 32
    ) -> None:
        self.url = url
        self.custom_parameters = custom_parameters
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.received: list[dict] = []  # every message the server sent, in order
        self.closed = asyncio.Event()
        self._sequence = 0
        self._chunk = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._changed = asyncio.Event()

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
                if message.get("event") == "mark":  # Twilio echoes a mark once the audio before it played
                    await self._send("mark", mark=message["mark"])
                self._changed.set()
        except Exception:  # noqa: BLE001 - the socket went away: that is what `closed` reports
            pass
        finally:
            self.closed.set()
            self._changed.set()

    # -- what Twilio sends ----------------------------------------------------------------------

    async def _send(self, event: str, **body: object) -> None:
        self._sequence += 1
        await self._ws.send(json.dumps({"event": event, "sequenceNumber": str(self._sequence), "streamSid": self.stream_sid, **body}))

    async def connect(self) -> None:
        self._ws = await connect(self.url.replace("http", "ws", 1))
        self._reader = asyncio.create_task(self._read())
        await self._ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        await self._send(
            "start",
            start={
                "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": self.custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        )  # fmt: skip

    async def stream_pcm(self, pcm: bytes, realtime: bool = True) -> None:
        """PCM16 mono 8 kHz, as 20 ms μ-law frames, one every 20 ms when `realtime`."""
        ulaw = pcm16_to_ulaw(pcm)
        for start in range(0, len(ulaw), FRAME_BYTES):
            self._chunk += 1
            payload = base64.b64encode(ulaw[start : start + FRAME_BYTES]).decode()
            await self._send(
                "media", media={"track": "inbound", "chunk": str(self._chunk), "timestamp": str(self._chunk * 20), "payload": payload}
            )
            if realtime:
                await asyncio.sleep(0.02)

    async def stream_wav(self, path: Path, realtime: bool = True) -> None:
        await self.stream_pcm(read_wav_8k(path), realtime)

    async def dtmf(self, digit: str) -> None:
        await self._send("dtmf", dtmf={"track": "inbound_track", "digit": digit})

    async def stop(self) -> None:
        """The call ended: Twilio says stop and closes the socket."""
        if not self.closed.is_set():
            await self._send("stop", stop={"accountSid": self.account_sid, "callSid": self.call_sid})
            await self._ws.close()
        await self._reader

    async def drop(self) -> None:
        """The connection dies mid-call: no stop, no closing handshake."""
        self._ws.transport.abort()
        await self._reader
