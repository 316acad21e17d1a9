"""The dispatcher: claims due attempts, dials them, keeps their leases, recovers the lost.

One instance runs in `openrevox serve` and in every `openrevox worker`; any number of them share one
database. A pass is `tick()`; every instant it records comes from the `clock` it was given, so
tests drive days of calls with a fake clock, without sleeping:

1. recover (at most once a second): live attempts whose lease expired (their process died) —
   never dialed: this process takes the lease and dials them; dialed: closed as `error` /
   `non_classified_error`, retried by policy;
2. hang up (at most every quarter second) the live calls of this process whose order was cancelled;
3. claim due orders, each with a slot in its organization's and its key's concurrency scope, in
   one transaction; then for the batch, commit `dial_started_at` and only then ask the carrier to
   dial.

With `max_live_calls`, recovery and the claim first count the live attempts this process holds
(their leases name it: the calls it dials, those whose media socket it took from another process,
and inbound calls placed on it) and take no more than the room left (`hosts.room`).

A heartbeat task renews this process's leases every third of the lease time, and has the carrier
forget the calls this process no longer holds. With a `media_url` (the process takes media
sockets), it also renews the process's registration in `media_hosts`, where inbound calls look
for a process with room.
"""

from __future__ import annotations

import asyncio
import itertools
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
from openrevox.passes import run_passes
from openrevox.scheduling import hosts, store
from openrevox.telephony.base import Carrier, DialFailed, DialRequest

log = logging.getLogger("openrevox.dispatcher")

RECOVERY_SECONDS = 1.0  # a lease runs for many seconds: looking for expired ones each pass is waste
HANG_UP_SECONDS = 0.25  # a cancelled call is hung up within this (plus a pass)


def org_scope(org_id: str) -> str:
    return f"org:{org_id}"


def key_scope(org_id: str, key: str) -> str:
    return f"key:{org_id}:{key}"


@dataclass(frozen=True)
class Claimed:
    attempt: dict
    order: dict


class Cadence:
    """Says when a periodic chore is due again, on the dispatcher's clock."""

    def __init__(self, seconds: float) -> None:
        self.every = timedelta(seconds=seconds)
        self.next_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + self.every
        return True


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
        max_live_calls: int | None = None,
        media_url: str | None = None,
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
        self.max_live_calls = max_live_calls
        self.media_url = media_url
        self.worker = worker or f"worker-{uuid.uuid4().hex[:12]}"
        self._stop = asyncio.Event()
        self._dialing: set[str] = set()  # attempts claimed by this process, not yet handed to the carrier
        self._saving: set[asyncio.Task] = set()  # carrier call ids being written
        self._recovery = Cadence(RECOVERY_SECONDS)
        self._hang_up = Cadence(HANG_UP_SECONDS)

    # -- loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name="dispatcher-heartbeat")
        try:
            await run_passes(self.tick, self._stop, self.interval, "dispatcher")
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.flush()
            await self._unregister()

    async def _unregister(self) -> None:
        """Inbound calls stop coming here at once rather than when the registration expires."""
        if self.media_url is None:
            return
        try:
            async with self.engine.begin() as conn:
                await hosts.unregister(conn, self.worker)
        except Exception:  # it expires instead
            log.exception("could not remove this process from the media hosts")

    def stop(self) -> None:
        self._stop.set()

    async def drain(self) -> None:
        """Take no new call: a cap of 0 dials nothing more (recovery included), and inbound calls
        go elsewhere, the registration saying so at once; the leases of the calls this process
        runs are renewed until they end, as before."""
        self.max_live_calls = 0
        await self.renew_leases()

    def running_calls(self) -> set[str]:
        """The attempts this process is dialing or runs."""
        return self._dialing | self.carrier.live_calls()

    async def holds_calls(self) -> bool:
        """Whether this process runs a call, or its lease holds a live attempt: also an inbound
        call placed on it whose media socket has yet to come."""
        if self.running_calls():
            return True
        async with self.engine.connect() as conn:
            return await store.held_attempts(conn, self.worker) > 0

    async def flush(self) -> None:
        """Wait until the carrier call ids of the calls dialed so far are written."""
        await asyncio.gather(*self._saving, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.renew_leases()
            except Exception:
                log.exception("lease renewal failed")
            await asyncio.sleep(self.lease.total_seconds() / 3)

    async def renew_leases(self) -> None:
        """One beat: extend the leases of the attempts this process runs; the carrier forgets the
        calls among them that another process took (their media socket went there) or that ended
        where this process did not hear of it (the carrier's news reached another one)."""
        running = self.running_calls()
        expires_at = self.clock() + self.lease
        async with self.engine.begin() as conn:
            renewed = await store.renew_leases(conn, self.worker, expires_at, running)
            # After the attempts, as recovery locks them before this process's registration: one
            # order of locks, no deadlock between the two.
            if self.media_url is not None:
                await hosts.register(conn, self.worker, self.media_url, self.max_live_calls, expires_at)
        self.carrier.forget(running - renewed - self._dialing)

    async def tick(self) -> int:
        """One pass; returns how many attempts it handed to the carrier (or tried to)."""
        now = self.clock()
        to_dial = await self._recover(now) if self._recovery.due(now) else []
        if self._hang_up.due(now):
            await self._hang_up_cancelled()
        if len(to_dial) < self.batch:
            to_dial += await self._claim(now, self.batch - len(to_dial))
        if to_dial:
            await self._dial_all(to_dial)
        return len(to_dial)

    async def _room(self, conn: AsyncConnection, limit: int, *, lock: bool = True) -> int:
        """How many attempts `conn`'s transaction may start: `limit`, or fewer where this process's
        `max_live_calls` is nearly held. Counted with this process's registration locked, no other
        process places a call on it until the transaction ends (`hosts.room`); unlocked, the count
        is a bound that costs no write, for a pass that may find nothing to start."""
        if self.max_live_calls is None:
            return limit
        if lock:
            room = await hosts.room(conn, self.worker, self.max_live_calls)
        else:
            room = self.max_live_calls - await store.held_attempts(conn, self.worker)
        return max(0, min(limit, room))

    # -- claim ------------------------------------------------------------------------------

    async def _claim(self, now: datetime, limit: int) -> list[Claimed]:
        """Claim up to `limit` due orders in one transaction: a few statements per pass, not per order."""
        try:
            async with self.engine.begin() as conn:
                return await self._claim_batch(conn, now, limit)
        except IntegrityError:  # SQLite only: another process took one of the same slots; retry next pass
            log.info("slot race with another process; the batch waits for the next pass")
            return []

    async def _claim_batch(self, conn: AsyncConnection, now: datetime, limit: int) -> list[Claimed]:
        limit = await self._room(conn, limit, lock=False)
        if not limit:
            return []
        known = await store.limits_and_live_slots(conn)
        org_limits, key_limits, counts = known.orgs, known.keys, known.live
        full_orgs = {o for o, lim in org_limits.items() if counts.get(org_scope(o), 0) >= (lim or self.org_limit)}
        full_keys = {k for k, lim in key_limits.items() if counts.get(key_scope(*k), 0) >= lim}
        orders = await store.due_orders(conn, now, limit, full_orgs, full_keys)
        if orders and self.max_live_calls is not None:
            orders = orders[: await self._room(conn, len(orders))]
        if not orders:
            return []
        scopes_of = {o["id"]: self._scopes(o, org_limits, key_limits) for o in orders}
        limits = dict(scope for scopes in scopes_of.values() for scope in scopes)
        # Organization scopes first, then keys, each in a fixed order: every claimer locks alike.
        free: dict[str, list[int]] = {}
        for scope in sorted(limits, key=lambda s: (not s.startswith("org:"), s)):
            await store.lock_scope(conn, scope)
            used = await store.used_slots(conn, scope)
            room = min(max(0, limits[scope] - len(used)), len(orders))
            free[scope] = list(itertools.islice((n for n in range(limits[scope]) if n not in used), room))
        planned: dict[str, list[str]] = {}  # order id -> its slots' scopes, with a number each
        slot_numbers: dict[str, list[int]] = {}
        waiting: list[str] = []
        for order in orders:
            scopes = [scope for scope, _ in scopes_of[order["id"]]]
            if all(free[scope] for scope in scopes):
                planned[order["id"]] = scopes
                slot_numbers[order["id"]] = [free[scope].pop(0) for scope in scopes]
            else:
                waiting.append(order["id"])
        if waiting:
            await store.mark_all_queued(conn, waiting, now)
        got = await store.claim_orders(conn, list(planned), now) if planned else set()
        claimed = [Claimed(self._new_attempt(order, now), order) for order in orders if order["id"] in got]
        if not claimed:
            return []
        await store.insert_attempts(conn, [c.attempt for c in claimed])
        await store.take_slots(
            conn,
            [
                {"scope": scope, "slot": number, "attempt_id": c.attempt["id"]}
                for c in claimed
                for scope, number in zip(planned[c.order["id"]], slot_numbers[c.order["id"]], strict=True)
            ],
        )
        return claimed

    def _scopes(self, order: dict, org_limits: dict, key_limits: dict) -> list[tuple[str, int]]:
        org_id = order["organization_id"]
        scopes = [(org_scope(org_id), org_limits.get(org_id) or self.org_limit)]
        if order["concurrency_key"]:
            key = (org_id, order["concurrency_key"])
            scopes.append((key_scope(*key), key_limits.get(key) or order["concurrency_max"] or 1))
        return scopes

    def _new_attempt(self, order: dict, now: datetime) -> dict:
        return {
            "id": new_id(),
            "organization_id": order["organization_id"],
            "order_id": order["id"],
            "phone_number": order["to_phone_number"],
            "status": "queued",
            "attempt_number": order["calls_count"] + 1,
            "lease_owner": self.worker,
            "lease_expires_at": self.clock() + self.lease,  # from the claim, not the pass start
            "created_at": now,
        }

    # -- dial -------------------------------------------------------------------------------

    async def _dial_all(self, batch: list[Claimed]) -> None:
        """Commit `dial_started_at` for the whole batch, then dial each; an attempt whose order was
        paused or cancelled meanwhile is abandoned, never dialed. If the database fails here, the
        attempts not recorded as dialing are dialed by whoever recovers them once their lease ends."""
        ids = [c.attempt["id"] for c in batch]
        self._dialing.update(ids)
        try:
            now = self.clock()
            async with self.engine.begin() as conn:
                started = await orders_store.start_dials(conn, ids, self.worker, now, now + self.lease)
                for claimed in batch:
                    if claimed.attempt["id"] not in started:
                        await self._abandon_if_stopped(conn, claimed, now)
            to_dial = [c for c in batch if c.attempt["id"] in started]
            results = await asyncio.gather(*(self._dial(c) for c in to_dial))
        except Exception:
            log.exception("dialing a batch of %d attempts failed", len(batch))
            return
        finally:
            self._dialing.difference_update(ids)
        call_ids = {c.attempt["id"]: call_id for c, call_id in zip(to_dial, results, strict=True) if call_id}
        if call_ids:  # written beside the next pass, not before it: the carrier's ids wait for no dial
            task = asyncio.create_task(self._save_call_ids(call_ids))
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)

    async def _save_call_ids(self, call_ids: dict[str, str]) -> None:
        """The ids are for looking a call up at the carrier; the process that dialed also keeps them
        in memory, so one lost in a crash costs nothing (its attempt is closed by recovery)."""
        try:
            async with self.engine.begin() as conn:
                await orders_store.set_carrier_call_ids(conn, call_ids)
        except Exception:
            log.exception("could not record the carrier's ids of %d calls", len(call_ids))

    async def _abandon_if_stopped(self, conn: AsyncConnection, claimed: Claimed, now: datetime) -> None:
        order = await orders_store.get_order_by_id(conn, claimed.order["id"], lock=True)
        if order["status"] in ("paused", "cancelled"):
            await attempts.abandon_undialed(conn, claimed.attempt, now)

    async def _dial(self, claimed: Claimed) -> str | None:
        """Ask the carrier; a refusal ends the attempt at once. Returns the carrier's call id."""
        attempt, order = claimed.attempt, claimed.order
        request = DialRequest(
            attempt_id=attempt["id"],
            order_id=order["id"],
            organization_id=order["organization_id"],
            to_phone_number=order["to_phone_number"],
            from_phone_number=order["from_phone_number"],
            attempt_number=attempt["attempt_number"],
            max_call_duration_secs=order["max_call_duration_secs"],
        )
        try:
            return await self.carrier.dial(request)
        except DialFailed as failure:
            dial_error, ended_by = failure.dial_error, None
        except Exception:
            log.exception("carrier failed to dial attempt %s", attempt["id"])
            dial_error, ended_by = "non_classified_error", "system"
        try:
            async with self.engine.begin() as conn:
                await attempts.failed(conn, attempt["id"], self.clock(), dial_error, ended_by)
        except Exception:  # its lease expires and recovery closes it
            log.exception("could not record the failed dial of attempt %s", attempt["id"])
        return None

    # -- recovery and cancellation ----------------------------------------------------------

    async def _recover(self, now: datetime) -> list[Claimed]:
        """Close the lost calls; take over and dial, up to this process's room, the lost attempts
        never dialed (the rest wait for a process with room)."""
        to_dial: list[Claimed] = []
        async with self.engine.begin() as conn:
            room: int | None = None  # counted at the first attempt to take over, if any
            for attempt in await store.expired_attempts(conn, now, self.batch):
                if attempt["dial_started_at"] is None:
                    room = await self._room(conn, self.batch) if room is None else room
                    if len(to_dial) >= room:
                        continue
                    if await store.take_over_lease(conn, attempt["id"], self.worker, now, now + self.lease):
                        order = await store.order_to_dial(conn, attempt["order_id"])
                        to_dial.append(Claimed({**attempt, "lease_owner": self.worker}, order))
                else:
                    # It may have been dialed: never dial it again; the policy retries the order.
                    log.warning("attempt %s lost its process mid-call; closing it as an error", attempt["id"])
                    await attempts.failed(conn, attempt["id"], now, "non_classified_error", "system")
        return to_dial

    async def _hang_up_cancelled(self) -> None:
        running = self.carrier.live_calls()
        if not running:
            return
        async with self.engine.begin() as conn:
            cancelled = await store.cancelled_live_attempts(conn, running)
        for attempt in cancelled:
            await self.carrier.hang_up(attempt["id"], "system", "cancelled")
