"""The request fast paths: the API-key cache, the key limit written only when it changes, a
retrieve that skips attempts no waiting order can have, and SQLite writers queued in-process."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from openrevox.orders import service as orders
from openrevox.orders.tables import call_attempts, call_orders, concurrency_limits
from openrevox.orgs import service as orgs
from openrevox.orgs.tables import api_keys
from openrevox.scheduling import store as dispatch_store
from openrevox.schemas.calls import CallCreateIn


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key_cache(monkeypatch):
    cache = orgs.KeyCache(ttl=30, clock=FakeClock())
    monkeypatch.setattr(orgs, "key_cache", cache)
    return cache


def test_a_known_key_is_answered_from_the_cache_until_its_ttl_ends(run, key_cache):
    async def story(engine):
        async with engine.begin() as conn:
            key = await orgs.create_key(conn, "cached")
        async with engine.begin() as conn:
            first = await orgs.authenticate(conn, key)
            await conn.execute(sa.delete(api_keys))  # behind the cache's back
        async with engine.begin() as conn:
            assert await orgs.authenticate(conn, key) == first  # no statement: still cached
            key_cache.clock.now += 29.9
            assert await orgs.authenticate(conn, key) == first
            key_cache.clock.now += 0.2  # 30.1 s after it was read: read again, and gone
            assert await orgs.authenticate(conn, key) is None

    run(story)


def test_forget_drops_a_key_at_once_and_unknown_keys_are_never_cached(run, key_cache):
    async def story(engine):
        async with engine.begin() as conn:
            key = await orgs.create_key(conn, "forgotten")
            assert await orgs.authenticate(conn, "sk_unknown") is None
            assert await orgs.authenticate(conn, key) is not None
            await conn.execute(sa.delete(api_keys))
        key_cache.forget(orgs.hash_key(key))
        async with engine.begin() as conn:
            assert await orgs.authenticate(conn, key) is None
        assert key_cache._entries == {}

    run(story)


def test_the_key_limit_is_the_latest_max_sent_and_written_only_when_it_changes(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "limits")
        writes: list[str] = []

        @sa.event.listens_for(engine.sync_engine, "before_cursor_execute")
        def spy(_conn, _cursor, statement, *_):  # noqa: ANN001
            if "concurrency_limits" in statement and not statement.lstrip().upper().startswith("SELECT"):
                writes.append(statement)

        async def limit() -> int:
            async with engine.connect() as conn:
                return await conn.scalar(sa.select(concurrency_limits.c.max))

        for value, expected_writes in ((5, 1), (5, 1), (3, 2), (3, 2), (5, 3)):
            async with engine.begin() as conn:
                await dispatch_store.set_key_limit(conn, org_id, "clinic", value)
            assert await limit() == value
            assert len(writes) == expected_writes

    run(story)


def test_two_first_limits_for_one_key_at_once_both_succeed(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "race")
        gate = asyncio.Event()

        async def send(value: int) -> None:
            async with engine.begin() as conn:
                await dispatch_store.set_key_limit(conn, org_id, "k", value)
                await gate.wait()  # both have written (or queued to) before either commits

        tasks = [asyncio.create_task(send(v)) for v in (2, 7)]
        await asyncio.sleep(0.2)
        gate.set()
        await asyncio.gather(*tasks)
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(concurrency_limits.c.max)) in (2, 7)

    run(story)


def test_a_claimed_order_not_yet_dialed_shows_its_attempt(run):
    # What a claim leaves (the dispatcher's claim, in one transaction): the order `calling`, an
    # attempt row, calls_count still 0 (it counts dials). Retrieve must not skip that attempt.
    async def story(engine):
        now = datetime(2026, 1, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "claimed")
            body = CallCreateIn(phone_number="+12125550123", assistant={"prompt": "Hi"}, force_now=True)
            call = await orders.create(conn, org_id, body, default_from_number="+12025550199",
                                       idempotency_key=None, now=now)  # fmt: skip
        assert call["call_attempts"] == []
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(call_orders).where(call_orders.c.id == call["id"])
                .values(status="calling", next_attempt_at=None)
            )  # fmt: skip
            await conn.execute(sa.insert(call_attempts).values(
                id=str(uuid.uuid4()), organization_id=org_id, order_id=call["id"], phone_number="+12125550123",
                status="queued", attempt_number=1, lease_owner="w", lease_expires_at=now, created_at=now,
            ))  # fmt: skip
        async with engine.connect() as conn:
            rendered = await orders.render(conn, await orders.fetch_order(conn, org_id, call["id"]))
        assert rendered["status"] == "calling" and rendered["calls_count"] == 0
        assert len(rendered["call_attempts"]) == 1

    run(story)


def test_a_repeated_idempotency_key_answers_the_first_order(run):
    async def story(engine):
        async with engine.begin() as conn:
            org_id = await orgs.ensure_organization(conn, "idem")
        body = CallCreateIn(phone_number="+12125550123", assistant={"prompt": "Hi"},
                            concurrency={"key": "k", "max": 2})  # fmt: skip

        async def place() -> str:
            async with engine.begin() as conn:
                call = await orders.create(conn, org_id, body, default_from_number="+12025550199",
                                           idempotency_key="same")  # fmt: skip
                return call["id"]

        ids = await asyncio.gather(*(place() for _ in range(8)))
        assert len(set(ids)) == 1

    run(story)


@pytest.fixture
def sqlite_run(tmp_path):
    from openrevox.db.engine import create_engine, run_migrations

    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    run_migrations(url)

    def runner(fn):
        async def main():
            engine = create_engine(url)
            try:
                return await fn(engine)
            finally:
                await engine.dispose()

        return asyncio.run(main())

    return runner


def test_sqlite_writers_take_turns_and_readers_do_not_wait_for_them(sqlite_run, monkeypatch):
    import sqlite3

    from openrevox.db import engine as engine_module

    busy: list[str] = []  # statements that found the database locked (by one of our own writers)
    retry_busy = engine_module._retry_busy

    def counting(function):  # noqa: ANN001, ANN202
        def attempt():  # noqa: ANN202
            try:
                return function()
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode == engine_module.SQLITE_BUSY:
                    busy.append(str(error))
                raise

        return retry_busy(attempt)

    monkeypatch.setattr(engine_module, "_retry_busy", counting)

    async def story(engine):
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (n INTEGER)"))
        inside, most = 0, 0

        async def writer(n: int) -> None:
            nonlocal inside, most
            async with engine.begin() as conn:
                await conn.execute(sa.text("SELECT count(*) FROM t"))  # reads take no turn
                await conn.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": n})
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.03)  # hold the write lock across an await
                await conn.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": -n})
                inside -= 1

        async def savepoint_writer(n: int) -> None:  # the dispatcher's and idempotent creates' shape
            async with engine.begin() as conn:
                async with conn.begin_nested():
                    await conn.execute(sa.text("SELECT count(*) FROM t"))
                    await asyncio.sleep(0.005)
                    await conn.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": n})

        async def reader() -> int:
            async with engine.connect() as conn:
                return await conn.scalar(sa.text("SELECT count(*) FROM t"))

        writers = [asyncio.create_task(writer(n)) for n in range(1, 13)]
        writers += [asyncio.create_task(savepoint_writer(n)) for n in range(100, 106)]
        await asyncio.sleep(0.005)
        await reader()
        waiting = sum(not w.done() for w in writers)  # the read did not queue behind them
        await asyncio.gather(*writers)
        assert most == 1
        assert waiting > 0
        assert busy == []  # no writer ever found SQLite's lock taken: they queued in-process
        assert await reader() == 30

    sqlite_run(story)


def test_a_failed_sqlite_writer_gives_the_turn_back(sqlite_run):
    async def story(engine):
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE u (n INTEGER PRIMARY KEY)"))
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.text("INSERT INTO u VALUES (1)"))
                await conn.execute(sa.text("INSERT INTO u VALUES (1)"))
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(sa.text("INSERT INTO u VALUES (2)"))
                raise RuntimeError("handler failed")
        async with engine.begin() as conn:  # would wait forever if a turn had leaked
            await asyncio.wait_for(conn.execute(sa.text("INSERT INTO u VALUES (3)")), 5)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT n FROM u"))).scalars().all() == [3]

    sqlite_run(story)


def test_sqlite_connections_speak_what_sqlalchemy_asks_of_aiosqlite(sqlite_run):
    # Statements, rows, errors, executemany, lastrowid, streaming, isolation levels and cleanup,
    # through the one-trip-per-statement connections.
    import threading

    async def story(engine):
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE v (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE)"))
        table = sa.table("v", sa.column("id"), sa.column("name"))
        async with engine.begin() as conn:
            inserted = await conn.execute(sa.insert(table).values(name="a"))
            assert inserted.lastrowid == 1
            many = await conn.execute(sa.insert(table), [{"name": f"n{i}"} for i in range(5)])
            assert many.rowcount == 5
        async with engine.connect() as conn:
            assert (await conn.execute(sa.select(table.c.name).order_by(table.c.id))).scalars().all()[:2] == ["a", "n0"]
            streamed = [row.name async for row in await conn.stream(sa.select(table.c.name).order_by(table.c.id))]
            assert len(streamed) == 6
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(sa.insert(table).values(name="committed at once"))
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(table)) == 7
            with pytest.raises(sa.exc.IntegrityError):
                await conn.execute(sa.insert(table).values(name="a"))
        # A statement cancelled while it runs leaves the engine usable.
        slow = sa.text(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c"
        )

        async def run_slow() -> None:
            async with engine.connect() as conn:
                await conn.execute(slow)

        task = asyncio.create_task(run_slow())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(table)) == 7
        await engine.dispose()
        for _ in range(50):
            if not [t for t in threading.enumerate() if t.name == "openrevox-sqlite"]:
                break
            await asyncio.sleep(0.05)
        assert [t for t in threading.enumerate() if t.name == "openrevox-sqlite"] == []

    sqlite_run(story)


def test_postgres_without_pre_ping_a_dead_connection_fails_once_then_the_pool_reconnects(run):
    # The trade made for one round trip less per checkout: after a server restart (here: every
    # backend of the database terminated), one statement fails, and the pool starts afresh.
    import psycopg

    from conftest import POSTGRES_ADMIN_URL

    async def story(engine):
        if engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        async with engine.connect() as a, engine.connect() as b:
            assert await a.scalar(sa.text("SELECT 1")) == await b.scalar(sa.text("SELECT 1")) == 1
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (engine.url.database,),
            )
        with pytest.raises(sa.exc.DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.scalar(sa.text("SELECT 1"))
        assert failed.value.connection_invalidated
        for _ in range(3):
            async with engine.connect() as conn:
                assert await conn.scalar(sa.text("SELECT 1")) == 1

    run(story)


def test_a_sqlite_write_waits_for_another_process_without_blocking_the_event_loop(sqlite_run, tmp_path):
    # Another process's write lock (here a plain connection on a thread, holding it 300 ms):
    # our statement is retried on its own thread until the lock is free; the loop keeps going.
    import sqlite3
    import threading

    async def story(engine):
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE w (n INTEGER)"))
        locked, release = threading.Event(), threading.Event()

        def other_process() -> None:
            other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO w VALUES (1)")
            locked.set()
            release.wait(5)
            other.execute("COMMIT")
            other.close()

        holder = threading.Thread(target=other_process)
        holder.start()
        locked.wait(5)
        loop = asyncio.get_running_loop()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        loop.call_later(0.3, release.set)
        started = loop.time()
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO w VALUES (2)"))
        waited = loop.time() - started
        ticking.cancel()
        holder.join(5)
        assert 0.25 < waited < 2
        assert ticks >= 15  # the event loop ran all along
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT n FROM w ORDER BY n"))).scalars().all() == [1, 2]

    sqlite_run(story)


def test_the_server_start_moves_what_it_made_out_of_the_collectors_sight(tmp_path):
    # A full collection otherwise rescans every module, route and schema: ~100 ms of stopped
    # requests each time, the create p99 of bench/api.py.
    import gc

    from openrevox.app import create_app
    from openrevox.config import Settings

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'gc.db'}", data_dir=tmp_path), run_services=False)

    async def start() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    try:
        assert asyncio.run(start()) > 10_000
    finally:
        gc.unfreeze()
