"""The HTTP client the `twilio` library sends through: httpx, with the REST root configurable
(OPENREVOX_TWILIO_API_URL: a proxy, or the fake Twilio of the tests) and a timeout."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import httpx
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

log = logging.getLogger("openrevox.twilio")


class HttpxTwilioClient(AsyncHttpClient):
    def __init__(self, api_url: str, timeout: float) -> None:
        super().__init__(log, True, timeout)
        root = urlsplit(api_url)
        self._scheme, self._netloc = root.scheme, root.netloc
        self._http = httpx.AsyncClient(timeout=timeout)

    async def request(
        self,
        method: str,
        url: str,
        params: dict | None = None,
        data: dict | None = None,
        headers: dict | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        # The library builds https://api.twilio.com/...; only the root changes.
        url = urlunsplit(urlsplit(url)._replace(scheme=self._scheme, netloc=self._netloc))
        response = await self._http.request(
            method, url, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout or self.timeout, follow_redirects=allow_redirects,
        )  # fmt: skip
        return Response(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self._http.aclose()
