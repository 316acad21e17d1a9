"""Group commit of new orders: concurrent creates share one transaction, each is answered only
once its order is committed, and one order's failure never fails the others of its batch."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openrevox.errors import InvalidRequest, NotFound
from openrevox.orders.group_commit import GroupCommit
from openrevox.orders.tables import call_orders
from openrevox.orgs import service as orgs
from openrevox.schemas.calls import CallCreateIn

FROM = "+12025550199"
ALL_DAY = {"calling_windows": [{"calling_window_start_time": "00:00", "calling_window_end_time": "00:00", "retry_delay_seconds": 60}], "max_retry_attempts": 3}


def body(i: int, **changes) -> CallCreateIn:  # noqa: ANN003
    fields = {
        # An all-day window: due at once whatever the hour in New York (the default is 10:00–18:00).
        "phone_number": f"+1212555{i:04d}", "assistant": {"prompt": "Hi {{name}}", "call_retry_config": ALL_DAY},
        "prompt_variables": {"name": f"C{i}"}, "concurrency": {"key": "clinic", "max": 2 + i % 3},
    }  # fmt: skip
    return CallCreateIn(**{**fields, **changes})


def count_commits(engine) -> list[int]:  # noqa: ANN001
    commits = [0]

    @sa.event.listens_for(engine.sync_engine, "commit")
    def _count(_conn) -> None:  # noqa: ANN001
        commits[0] += 1

    return commits


async def stored_ids(engine) -> set[str]:  # noqa: ANN001
    async with engine.connect() as conn:  # another connection: sees only what was committed
        return set((await conn.scalars(sa.select(call_orders.c.id))).all())


def test_concurrent_creates_are_committed_together_and_each_answered_once_stored(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "group")
        writer = GroupCommit(engine)
        commits = count_commits(engine)
        answered_unstored: list[str] = []

        async def place(i: int) -> dict:
            call = await writer.create(org_id, body(i), default_from_number=FROM)
            if call["id"] not in await stored_ids(engine):
                answered_unstored.append(call["id"])
            return call

        calls = await asyncio.gather(*(place(i) for i in range(24)))
        assert answered_unstored == []
        assert {c["id"] for c in calls} == await stored_ids(engine)
        assert [c["to_phone_number"] for c in calls] == [f"+1212555{i:04d}" for i in range(24)]
        assert all(c["status"] == "queued_for_calling" and c["call_attempts"] == [] for c in calls)
        assert commits[0] <= 2  # one transaction for the first, one for all that queued meanwhile
        # The last order naming the key sets its limit, as when the orders come one by one.
        async with engine.connect() as conn:
            assert await conn.scalar(sa.text("SELECT max FROM concurrency_limits")) == 2 + 23 % 3

        # A lone create is written at once, in a transaction of its own.
        lone = await writer.create(org_id, body(99), default_from_number=FROM)
        assert lone["id"] in await stored_ids(engine) and commits[0] <= 3

    run(story)


def test_one_failing_order_does_not_fail_the_others_of_its_batch(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "isolated")
        writer = GroupCommit(engine)

        async def place(i: int, org: str = org_id, **extra) -> dict:  # noqa: ANN003
            return await writer.create(org, body(i, **extra), default_from_number=FROM)

        outcomes = await asyncio.gather(
            place(0),
            place(1, org="no-such-organization"),  # refused by the database: fails the transaction
            place(2),
            place(3, assistant=None, assistant_id="no-such-assistant"),  # refused before any write
            place(4),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], IntegrityError)
        assert isinstance(outcomes[3], NotFound) and outcomes[3].param == "assistant_id"
        placed = [outcomes[i] for i in (0, 2, 4)]
        assert all(isinstance(c, dict) for c in placed), outcomes
        assert {c["id"] for c in placed} == await stored_ids(engine)

    run(story)


def test_a_refusal_shared_by_a_batch_is_read_once_and_given_to_each(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "refused")
        writer = GroupCommit(engine)
        reads: list[str] = []

        @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _spy(_conn, _cursor, statement, *_):  # noqa: ANN001
            if statement.lstrip().upper().startswith("SELECT") and "FROM assistants" in statement:
                reads.append(statement)

        outcomes = await asyncio.gather(
            *(writer.create(org_id, body(i, assistant=None, assistant_id="gone"), default_from_number=FROM)
              for i in range(5)),
            writer.create(org_id, body(5, prompt_variables=None), default_from_number=FROM),
            return_exceptions=True,
        )  # fmt: skip
        assert all(isinstance(o, NotFound) and o.param == "assistant_id" for o in outcomes[:5])
        assert isinstance(outcomes[5], InvalidRequest) and outcomes[5].param == "prompt_variables.name"
        assert len(reads) == 1
        assert await stored_ids(engine) == set()

    run(story)


@pytest.mark.parametrize("cancelled", [0, 3])
def test_a_create_whose_caller_went_away_is_stored_and_the_others_answered(run, cancelled):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, f"gone{cancelled}")
        writer = GroupCommit(engine)
        tasks = [asyncio.create_task(writer.create(org_id, body(i), default_from_number=FROM)) for i in range(6)]
        await asyncio.sleep(0)  # every create has queued
        tasks[cancelled].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[cancelled], asyncio.CancelledError)
        others = [d for i, d in enumerate(done) if i != cancelled]
        assert all(isinstance(c, dict) for c in others)
        assert len(await stored_ids(engine)) == 6

    run(story)
