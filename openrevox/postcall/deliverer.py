"""The webhook deliverer: claims due outbox rows, POSTs them signed, records every try.

One instance runs in `openrevox serve` and in every `openrevox worker`; any number share one
database. A pass is `tick()`:

1. claim the pending rows due now, each under a lease (a process that dies mid-send loses it
   when it expires, and another sends the row again: delivery is at least once);
2. send each — the `webhook-id` header is the outbox id, the same on every try, so a receiver
   can drop duplicates; `webhook-timestamp` and `webhook-signature` follow Standard Webhooks,
   signed with the organization's secret;
3. record the try (status, latency, the first KB of the response) and settle the row: a 2xx is
   delivered; anything else is tried again later (see `policy`), until the retry window ends.

Every send checks the target again (`safety`) and connects to an address it checked (the host
name still verified by TLS); no redirects are followed, the receiver has `timeout` seconds in
all, and at most 1 KB of its answer is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks import Webhook

from openrevox import __version__
from openrevox.db.types import new_id
from openrevox.passes import run_passes
from openrevox.postcall import policy, service, store
from openrevox.postcall.safety import UnsafeWebhookUrl, check_webhook_url, pinned

log = logging.getLogger("openrevox.webhooks")

EXCERPT_BYTES = 1024  # of each response, kept with the try
LEASE_MARGIN_SECONDS = 30.0  # beyond the send timeout, before another process may take a row over


@dataclass(frozen=True)
class TryResult:
    status_code: int | None
    error: str | None
    latency_ms: int
    excerpt: str | None
    retry_after: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDeliverer:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        allow_private: bool,
        retry_base: float,
        retry_for: float,
        timeout: float,
        interval: float,
        batch: int = 50,
        worker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        random: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.engine = engine
        self.allow_private = allow_private
        self.retry_base = retry_base
        self.retry_for = retry_for
        self.timeout = timeout
        self.interval = interval
        self.batch = batch
        self.worker = worker or f"worker-{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.random = random
        self.lease = timedelta(seconds=timeout + LEASE_MARGIN_SECONDS)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._stop = asyncio.Event()

    # -- loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await run_passes(self.tick, self._stop, self.interval, "webhook")
        finally:
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def tick(self) -> int:
        """One pass; returns how many webhooks it tried."""
        now = self.clock()
        async with self.engine.connect() as conn:
            if not await store.any_due(conn, now):
                return 0
        async with self.engine.begin() as conn:
            rows = await store.claim_due(conn, now, self.worker, now + self.lease, self.batch)
            keys = {org: await service.ensure_secret(conn, org) for org in {r["organization_id"] for r in rows}}
        # A try's outcome is written even if the loop is being stopped: shielded.
        await asyncio.gather(*(asyncio.shield(self._deliver(r, keys[r["organization_id"]])) for r in rows))
        return len(rows)

    # -- one try ----------------------------------------------------------------------------

    async def _deliver(self, row: dict, secret: str) -> None:
        tried_at = self.clock()
        result = await self.send(row, secret)
        await self._record(row, tried_at, result)

    async def send(self, row: dict, secret: str) -> TryResult:
        started = time.monotonic()

        def elapsed() -> int:
            return round((time.monotonic() - started) * 1000)

        try:
            addresses = await check_webhook_url(row["url"], allow_private=self.allow_private)
        except UnsafeWebhookUrl as refused:
            return TryResult(None, f"refused: {refused.message}", elapsed(), None, None)
        target, extra_headers, extensions = pinned(row["url"], addresses[0]) if addresses else (row["url"], {}, {})
        body = json.dumps(row["payload"], separators=(",", ":"), ensure_ascii=False)
        sent_at = datetime.now(UTC)  # the receiver checks it against its own clock: the real one
        headers = {
            "content-type": "application/json",
            "user-agent": f"openrevox/{__version__}",
            "webhook-id": row["id"],
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(row["id"], sent_at, body),
            **extra_headers,
        }
        try:
            async with asyncio.timeout(self.timeout):  # in all: connect, send, answer
                async with self._http().stream(
                    "POST", target, content=body.encode(), headers=headers, extensions=extensions
                ) as answer:
                    excerpt = await _read_capped(answer, EXCERPT_BYTES)
                    return TryResult(answer.status_code, None, elapsed(), excerpt, answer.headers.get("retry-after"))
        except (httpx.TimeoutException, TimeoutError):
            return TryResult(None, f"timeout: no answer within {self.timeout:g} s", elapsed(), None, None)
        except httpx.HTTPError as failure:
            return TryResult(None, f"{type(failure).__name__}: {failure}"[:500], elapsed(), None, None)

    async def _record(self, row: dict, tried_at: datetime, result: TryResult) -> None:
        now = self.clock()
        if result.ok:
            values = {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
        else:
            at = policy.next_try_at(
                failed_tries=row["attempts"] + 1,
                retrying_since=row["retrying_since"],
                now=now,
                base=self.retry_base,
                retry_for=self.retry_for,
                retry_after=policy.retry_after_seconds(result.retry_after, now),
                random=self.random,
            )
            values = {"status": "pending", "next_attempt_at": at} if at else {"status": "failed", "next_attempt_at": None}
            log.warning(
                "webhook %s to %s: try %d failed (%s)%s", row["id"], row["url"], row["attempts"] + 1,
                result.status_code or result.error, f", next at {at.isoformat()}" if at else "; giving up",
            )  # fmt: skip
        async with self.engine.begin() as conn:
            await store.insert_delivery(
                conn,
                {
                    "id": new_id(),
                    "outbox_id": row["id"],
                    "tried_at": tried_at,
                    "status_code": result.status_code,
                    "error": result.error,
                    "latency_ms": result.latency_ms,
                    "response_excerpt": result.excerpt,
                },
            )
            if not await store.settle_try(conn, row["id"], self.worker, values):
                log.warning("webhook %s: lease lost during the try; another process owns it now", row["id"])

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, trust_env=False, transport=self._transport
            )
        return self._client


async def _read_capped(response: httpx.Response, limit: int) -> str:
    """At most `limit` bytes of the body; the rest is never read."""
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= limit:
            break
    return kept[:limit].decode("utf-8", errors="replace")
