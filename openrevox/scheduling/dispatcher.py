"""The dispatcher: claims due attempts, dials them, keeps their leases, recovers the lost.

One instance runs in `openrevox serve` and in every `openrevox worker`; any number of them share one
database. A pass is `tick()`; every instant it records comes from the `clock` it was given, so
tests drive days of calls with a fake clock, without sleeping:

1. recover: live attempts whose lease expired (their process died) — never dialed: this process
   takes the lease and dials them; dialed: closed as `error` / `non_classified_error`, retried
   by policy;
2. hang up the live calls of this process whose order was cancelled;
3. claim due orders, each with a slot in its organization's and its key's concurrency scope, in
   one transaction; then for each, commit `dial_started_at` and only then ask the carrier to dial.

A heartbeat task renews this process's leases every third of the lease time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from openrevox.db.types import new_id
from openrevox.orders import attempts
from openrevox.orders import store as orders_store
from openrevox.scheduling import store
from openrevox.telephony.base import Carrier, DialFailed, DialRequest

log = logging.getLogger("openrevox.dispatcher")


def org_scope(org_id: str) -> str:
    return f"org:{org_id}"


def key_scope(org_id: str, key: str) -> str:
    return f"key:{org_id}:{key}"


@dataclass(frozen=True)
class Claimed:
    attempt: dict
    order: dict


class NoSlot(Exception):
    """A concurrency scope is full: the order waits in queued_for_calling."""


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        carrier: Carrier,
        *,
        org_limit: int,
        lease_seconds: float,
        interval: float,
        batch: int,
        worker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.engine = engine
        self.carrier = carrier
        self.org_limit = org_limit
        self.lease = timedelta(seconds=lease_seconds)
        self.interval = interval
        self.batch = batch
        self.worker = worker or f"worker-{uuid.uuid4().hex[:12]}"
        self._stop = asyncio.Event()
        self._dials: set[asyncio.Task] = set()
        self._dialing: set[str] = set()  # attempts claimed by this process, not yet handed to the carrier

    # -- loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name="dispatcher-heartbeat")
        try:
            while not self._stop.is_set():
                try:
                    claimed = await self.tick()
                except Exception:  # a database hiccup must not kill the loop; the next pass retries
                    log.exception("dispatcher pass failed")
                    claimed = 0
                if claimed < self.batch:
                    try:
                        await asyncio.wait_for(self._stop.wait(), self.interval)
                    except TimeoutError:
                        pass
        finally:
            await asyncio.gather(*self._dials, return_exceptions=True)
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                running = self._dialing | self.carrier.live_calls()
                async with self.engine.begin() as conn:
                    await store.renew_leases(conn, self.worker, self.clock() + self.lease, running)
            except Exception:
                log.exception("lease renewal failed")

    async def tick(self) -> int:
        """One pass; returns how many attempts it dialed (or handed to the carrier)."""
        now = self.clock()
        to_dial = await self._recover(now)
        await self._hang_up_cancelled()
        to_dial += await self._claim(now)
        for claimed in to_dial:
            self._dialing.add(claimed.attempt["id"])
            task = asyncio.create_task(self._dial(claimed))
            self._dials.add(task)
            task.add_done_callback(self._dials.discard)
        if to_dial:
            await asyncio.gather(*list(self._dials), return_exceptions=True)
        return len(to_dial)

    # -- claim ------------------------------------------------------------------------------

    async def _claim(self, now: datetime) -> list[Claimed]:
        claimed: list[Claimed] = []
        async with self.engine.begin() as conn:
            org_limits = await store.org_limits(conn)
            key_limits = await store.key_limits(conn)
            counts = await store.live_slot_counts(conn)
            full_orgs = {o for o, lim in org_limits.items() if counts.get(org_scope(o), 0) >= (lim or self.org_limit)}
            full_keys = {k for k, lim in key_limits.items() if counts.get(key_scope(*k), 0) >= lim}
            for order in await store.due_orders(conn, now, self.batch, full_orgs, full_keys):
                scopes = [(org_scope(order["organization_id"]), org_limits.get(order["organization_id"]) or self.org_limit)]
                if order["concurrency_key"]:
                    key = (order["organization_id"], order["concurrency_key"])
                    if key in full_keys:
                        continue
                    scopes.append((key_scope(*key), key_limits.get(key) or order["concurrency_max"] or 1))
                if order["organization_id"] in full_orgs:
                    continue
                try:
                    async with conn.begin_nested():
                        attempt = await self._claim_one(conn, order, scopes, now)
                except NoSlot as full:
                    await store.mark_queued(conn, order["id"], now)
                    scope = str(full)
                    if scope.startswith("org:"):
                        full_orgs.add(order["organization_id"])
                    else:
                        full_keys.add((order["organization_id"], order["concurrency_key"]))
                    continue
                except IntegrityError:  # another process took the same slot: next pass retries
                    continue
                if attempt is not None:
                    claimed.append(Claimed(attempt, order))
        return claimed

    async def _claim_one(
        self, conn: AsyncConnection, order: dict, scopes: list[tuple[str, int]], now: datetime
    ) -> dict | None:
        if not await store.claim_order(conn, order["id"], now):
            return None
        attempt = {
            "id": new_id(),
            "organization_id": order["organization_id"],
            "order_id": order["id"],
            "phone_number": order["to_phone_number"],
            "status": "queued",
            "attempt_number": order["calls_count"] + 1,
            "lease_owner": self.worker,
            "lease_expires_at": self.clock() + self.lease,  # from the claim's commit, not the pass start
            "created_at": now,
        }
        await store.insert_attempt(conn, attempt)
        for scope, limit in scopes:  # the organization's scope first
            await store.lock_scope(conn, scope)
            used = await store.used_slots(conn, scope)
            free = next((n for n in range(limit) if n not in used), None)
            if free is None or len(used) >= limit:
                raise NoSlot(scope)
            await store.take_slot(conn, scope, free, attempt["id"])
        return attempt

    # -- dial -------------------------------------------------------------------------------

    async def _dial(self, claimed: Claimed) -> None:
        try:
            await self._dial_one(claimed)
        finally:
            self._dialing.discard(claimed.attempt["id"])

    async def _dial_one(self, claimed: Claimed) -> None:
        attempt, order = claimed.attempt, claimed.order
        now = self.clock()
        async with self.engine.begin() as conn:
            current = await orders_store.get_order_by_id(conn, order["id"])
            if current["status"] in ("paused", "cancelled"):
                await attempts.abandon_undialed(conn, attempt, now)
                return
            if not await orders_store.start_dial(conn, attempt["id"], self.worker, now, now + self.lease):
                return
            await orders_store.update_order(conn, order["id"], {"calls_count": current["calls_count"] + 1})
        request = DialRequest(
            attempt_id=attempt["id"],
            order_id=order["id"],
            organization_id=order["organization_id"],
            to_phone_number=order["to_phone_number"],
            from_phone_number=order["from_phone_number"],
            attempt_number=attempt["attempt_number"],
            max_call_duration_secs=order["assistant"]["max_call_duration_secs"],
        )
        try:
            carrier_call_id = await self.carrier.dial(request)
        except DialFailed as failure:
            async with self.engine.begin() as conn:
                await attempts.failed(conn, attempt["id"], self.clock(), failure.dial_error)
            return
        except Exception:
            log.exception("carrier failed to dial attempt %s", attempt["id"])
            async with self.engine.begin() as conn:
                await attempts.failed(conn, attempt["id"], self.clock(), "non_classified_error", "system")
            return
        async with self.engine.begin() as conn:
            await orders_store.advance_attempt(
                conn, attempt["id"], ("queued", "ringing", "ongoing"), {"carrier_call_id": carrier_call_id}
            )

    # -- recovery and cancellation ----------------------------------------------------------

    async def _recover(self, now: datetime) -> list[Claimed]:
        to_dial: list[Claimed] = []
        async with self.engine.begin() as conn:
            for attempt in await store.expired_attempts(conn, now, self.batch):
                if attempt["dial_started_at"] is None:
                    if await store.take_over_lease(conn, attempt["id"], self.worker, now, now + self.lease):
                        order = await orders_store.get_order_by_id(conn, attempt["order_id"])
                        to_dial.append(Claimed({**attempt, "lease_owner": self.worker}, order))
                else:
                    # It may have been dialed: never dial it again; the policy retries the order.
                    log.warning("attempt %s lost its process mid-call; closing it as an error", attempt["id"])
                    await attempts.failed(conn, attempt["id"], now, "non_classified_error", "system")
        return to_dial

    async def _hang_up_cancelled(self) -> None:
        async with self.engine.begin() as conn:
            cancelled = await store.cancelled_live_attempts(conn, self.worker)
        for attempt in cancelled:
            await self.carrier.hang_up(attempt["id"], "system", "cancelled")
