"""A Twilio Media Streams client: what Twilio does on a <Connect><Stream> call, over a real
websocket (connected, start with the <Parameter>s as customParameters, media, dtmf, stop; mark
echoes), collecting the server's media, mark and clear messages.

    client = TwilioMediaClient(url, {"attempt_id": ..., "token": ...}, call_sid="CA...")
    await client.connect()
    await client.stream_pcm(tone(440, 1.0))   # or stream_wav(path): 20 ms frames in real time
    await client.wait_for_media(8000)         # one second of audio back
    client.events("clear")                    # the agent's barge-ins
    await client.stop()                       # or drop(): the socket dies without a stop
"""

from __future__ import annotations

import uuid

from fakes.media_client import MediaClient


class TwilioMediaClient(MediaClient):
    def __init__(
        self, url: str, custom_parameters: dict[str, str], *, call_sid: str, account_sid: str = "AC" + "0" * 32
    ) -> None:
        super().__init__(url)
        self.custom_parameters = custom_parameters
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.stream_sid = "MZ" + uuid.uuid4().hex

    def hello(self) -> dict:
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}

    def wrap(self, event: str, sequence: int, body: dict) -> dict:
        if event == "dtmf":
            body = {"dtmf": {"track": "inbound_track", **body["dtmf"]}}
        return {"event": event, "sequenceNumber": str(sequence), "streamSid": self.stream_sid, **body}

    def start_message(self) -> dict:
        self._sequence += 1
        return self.wrap("start", self._sequence, {"start": {
            "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
            "tracks": ["inbound"], "customParameters": self.custom_parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }})  # fmt: skip

    def stop_body(self) -> dict:
        return {"accountSid": self.account_sid, "callSid": self.call_sid}
