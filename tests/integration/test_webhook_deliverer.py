"""The webhook deliverer against a real database (SQLite and PostgreSQL), a fake clock and an
in-process receiver (httpx.MockTransport): retries for a day, Retry-After, leases, refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from openrevox.db.types import new_id
from openrevox.orgs.service import ensure_organization
from openrevox.postcall import safety, store
from openrevox.postcall.deliverer import WebhookDeliverer
from openrevox.postcall.tables import webhook_outbox

START = datetime(2026, 1, 16, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Receiver:
    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else httpx.Response(200, text="ok")


def deliverer(engine, clock, receiver, **overrides) -> WebhookDeliverer:
    args = dict(
        allow_private=True, retry_base=5.0, retry_for=86_400.0, timeout=10.0, interval=0.01, clock=clock,
        random=lambda: 1.0, transport=httpx.MockTransport(receiver),
    )  # fmt: skip
    return WebhookDeliverer(engine, **{**args, **overrides})


async def outbox_row(engine, url: str = "http://hooks.example.com/revox") -> str:
    async with engine.begin() as conn:
        org_id = await ensure_organization(conn, "acme")
        outbox_id = new_id()
        await store.insert_outbox(
            conn,
            {
                "id": outbox_id, "organization_id": org_id, "order_id": new_id(), "event_type": "call.completed",
                "payload": {"type": "call.completed", "call": {"id": "c1"}}, "url": url, "status": "pending",
                "attempts": 0, "next_attempt_at": START, "retrying_since": START, "created_at": START,
            },
        )  # fmt: skip
    return outbox_id


async def state(engine, outbox_id: str) -> tuple[dict, list[dict]]:
    async with engine.begin() as conn:
        row = (await conn.execute(sa.select(webhook_outbox).where(webhook_outbox.c.id == outbox_id))).first()
        tries = (await store.deliveries_of(conn, [outbox_id]))[outbox_id]
    return row._asdict(), tries


def test_a_receiver_that_never_answers_2xx_is_tried_for_a_day_then_failed(run):
    async def story(engine):
        clock, receiver = Clock(), Receiver(*[httpx.Response(500, text="down")] * 1000)
        outbox_id = await outbox_row(engine)
        sender = deliverer(engine, clock, receiver)
        while True:
            await sender.tick()
            row, tries = await state(engine, outbox_id)
            if row["status"] != "pending":
                break
            assert row["next_attempt_at"] > clock.now
            clock.now = row["next_attempt_at"]
        await sender.close()
        return row, tries, clock.now, receiver

    row, tries, last, receiver = run(story)
    assert row["status"] == "failed" and row["next_attempt_at"] is None
    assert last - START >= timedelta(hours=24)  # at least a day of tries
    assert len(tries) == row["attempts"] == len(receiver.requests)
    assert all(t["status_code"] == 500 and t["response_excerpt"] == "down" for t in tries)
    gaps = [(b["tried_at"] - a["tried_at"]).total_seconds() for a, b in zip(tries, tries[1:], strict=False)]
    assert gaps[:4] == [5, 10, 20, 40]  # doubled from the base (jitter fixed at none here)
    assert max(gaps) == 3600  # capped at an hour


def test_retry_after_as_an_http_date_is_honoured(run):
    async def story(engine):
        clock = Clock()
        later = "Fri, 16 Jan 2026 18:10:00 GMT"  # ten minutes after START
        outbox_id = await outbox_row(engine)
        sender = deliverer(engine, clock, Receiver(httpx.Response(429, headers={"Retry-After": later})))
        await sender.tick()
        await sender.close()
        return await state(engine, outbox_id)

    row, (attempt,) = run(story)
    assert row["status"] == "pending"
    assert row["next_attempt_at"] == START + timedelta(minutes=10)
    assert attempt["status_code"] == 429


def test_a_row_being_sent_is_not_taken_by_another_process_until_its_lease_expires(run):
    async def story(engine):
        clock = Clock()
        outbox_id = await outbox_row(engine)
        async with engine.begin() as conn:  # process A claims it, then dies mid-send
            (claimed,) = await store.claim_due(conn, clock.now, "A", clock.now + timedelta(seconds=40), 10)
        receiver = Receiver()
        b = deliverer(engine, clock, receiver, worker="B")
        assert await b.tick() == 0
        clock.now += timedelta(seconds=41)
        assert await b.tick() == 1
        await b.close()
        return claimed["id"] == outbox_id, await state(engine, outbox_id), receiver

    same, (row, tries), receiver = run(story)
    assert same
    assert row["status"] == "delivered" and row["lease_owner"] is None
    assert [t["status_code"] for t in tries] == [200]
    assert len(receiver.requests) == 1


def test_a_refused_target_is_recorded_and_never_contacted(run):
    async def story(engine):
        receiver = Receiver()
        outbox_id = await outbox_row(engine, "http://169.254.169.254/latest/meta-data/")
        sender = deliverer(engine, Clock(), receiver, allow_private=False)
        await sender.tick()
        await sender.close()
        return await state(engine, outbox_id), receiver

    (row, (attempt,)), receiver = run(story)
    assert receiver.requests == []
    assert attempt["status_code"] is None and attempt["error"].startswith("refused:")
    assert row["status"] == "pending"  # DNS may change; retried, and refused, until the day is over


def test_a_send_goes_to_the_address_that_was_checked(run, monkeypatch):
    async def resolve(host, port):
        return ["93.184.215.14"]

    monkeypatch.setattr(safety, "resolve", resolve)

    async def story(engine):
        receiver = Receiver()
        outbox_id = await outbox_row(engine, "https://hooks.example.com/revox?x=1")
        sender = deliverer(engine, Clock(), receiver, allow_private=False)
        await sender.tick()
        await sender.close()
        return await state(engine, outbox_id), receiver

    (row, _), receiver = run(story)
    (request,) = receiver.requests
    assert str(request.url) == "https://93.184.215.14/revox?x=1"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
    assert request.headers["webhook-id"] == row["id"]
    assert row["status"] == "delivered"


def test_processes_claiming_at_once_never_take_the_same_row(run):
    async def story(engine):
        ids = {await outbox_row(engine) for _ in range(30)}

        async def claim(worker: str) -> list[str]:
            async with engine.begin() as conn:
                rows = await store.claim_due(conn, START, worker, START + timedelta(seconds=40), 10)
            return [r["id"] for r in rows]

        taken = await asyncio.gather(*(claim(f"w{n}") for n in range(5)))
        return ids, taken

    ids, taken = run(story)
    everything = [i for batch in taken for i in batch]
    assert len(everything) == len(set(everything)) == 30  # each row once, all of them
    assert set(everything) == ids
