"""Refuse request bodies over the configured size, before anything parses them."""

from __future__ import annotations

import json

from openrevox.errors import PayloadTooLarge


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int) -> None:  # noqa: ANN001
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive():  # noqa: ANN202
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(f"The request body exceeds {self.max_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, send)
        except PayloadTooLarge:
            await self._refuse(send)

    async def _refuse(self, send) -> None:  # noqa: ANN001
        body = json.dumps(
            PayloadTooLarge(f"The request body exceeds {self.max_bytes} bytes").to_body()
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
