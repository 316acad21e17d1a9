"""A Telnyx media streaming client: what Telnyx does for a call dialed or answered with a
`stream_url` (bidirectional RTP, PCMU), over a real websocket: connected, start (naming the
call_control_id), media, dtmf, stop; collecting the server's media, mark and clear messages."""

from __future__ import annotations

import uuid

from fakes.media_client import MediaClient


class TelnyxMediaClient(MediaClient):
    def __init__(self, url: str, *, call_control_id: str, client_state: str | None = None) -> None:
        super().__init__(url)
        self.call_control_id = call_control_id
        self.client_state = client_state
        self.stream_id = str(uuid.uuid4())

    def wrap(self, event: str, sequence: int, body: dict) -> dict:
        return {"event": event, "sequence_number": str(sequence), "stream_id": self.stream_id, **body}

    def start_message(self) -> dict:
        self._sequence += 1
        return self.wrap("start", self._sequence, {"start": {
            "user_id": str(uuid.uuid4()), "call_control_id": self.call_control_id, "client_state": self.client_state,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }})  # fmt: skip

    def stop_body(self) -> dict:
        return {"user_id": str(uuid.uuid4()), "call_control_id": self.call_control_id}
