"""Refuse request bodies over the configured size, before anything parses them."""

from __future__ import annotations

import json

from openrevox.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """`max_bytes` for every request, except the exact paths in `path_limits` (a campaign's
    contacts come in one body)."""

    def __init__(self, app, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:  # noqa: ANN001
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        received = 0

        async def limited_receive():  # noqa: ANN202
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise PayloadTooLarge(f"The request body exceeds {max_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, send)
        except PayloadTooLarge:
            await self._refuse(send, max_bytes)

    async def _refuse(self, send, max_bytes: int) -> None:  # noqa: ANN001
        body = json.dumps(
            PayloadTooLarge(f"The request body exceeds {max_bytes} bytes").to_body()
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
