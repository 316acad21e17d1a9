"""The async engine: SQLite (WAL) or PostgreSQL, and migrations at start-up."""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sync_url(url: str) -> str:
    """The same database through a blocking driver, for Alembic and the CLI."""
    return url.replace("sqlite+aiosqlite", "sqlite")


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """`pool_size` connections are kept per process, as many more are opened under bursts (and
    closed when returned: more concurrent requests than kept connections reopen them).

    SQLite: connections that make one thread trip per statement (see `_SqliteConnection`, each
    with its thread), and writers that take turns in-process (see `_serialize_sqlite_writers`).

    PostgreSQL: keep processes x 2 x pool_size under the server's max_connections. No pre-ping:
    it cost a round trip on every checkout. After the server restarts, the first statement on a
    dead pooled connection fails (that request answers 503 with Retry-After, which the SDKs retry,
    and the dispatcher retries its pass), and the disconnect invalidates every connection of the
    pool, so the next ones reconnect."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        pool = {}
        if path and path != ":memory:":  # (an in-memory database has a single connection)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            pool = {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_async_engine(url, async_creator=_sqlite_connector(url), **pool)
        _set_sqlite_pragmas(engine.sync_engine)
        _serialize_sqlite_writers(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool for requests that only read: on PostgreSQL its connections run
    in autocommit, which saves the BEGIN and COMMIT round trips and reads what a READ COMMITTED
    transaction would (each statement sees what was committed before it started). On SQLite,
    where a read opens no transaction anyway, the engine itself."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _set_sqlite_pragmas(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No busy handler: its back-off sleeps reach 100 ms a try. A statement that finds the
        # database locked by another process is retried on its connection's thread, every
        # millisecond or so, for up to SQLITE_BUSY_TIMEOUT_S (see `_retry_busy`).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()


async def _acquire(lock: asyncio.Lock) -> None:
    if not lock.locked():  # uncontended: acquire() returns at once, no timer needed
        await lock.acquire()
        return
    async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_S):
        await lock.acquire()


# Statements that take no write lock, not even SQLite's (SAVEPOINT does not count: it opens the
# transaction that the writes after it belong to).
_READS = ("SELECT", "PRAGMA", "RELEASE", "ROLLBACK", "EXPLAIN")


def _serialize_sqlite_writers(engine: sa.Engine) -> None:
    """One writing transaction at a time in this process, queued on an asyncio lock.

    SQLite has one write lock per database. Pooled connections that all write would otherwise
    contend for it inside SQLite, where a loser sleeps in the busy handler (backing off up to
    100 ms a try, with the lock free most of that time): that was most of the create latency.
    Here a connection takes the lock before its first statement that may write (or SAVEPOINT,
    so that whatever it reads after it stays current until it writes) and gives it back when
    it returns to the pool, after its COMMIT or ROLLBACK. Reads never wait for it (WAL).

    Every user of the engine queues here: API requests, the dispatcher, the carriers' events.
    Other processes on the same file still meet in SQLite's busy handler. A task that holds the
    lock and then writes through a second connection waits for itself; it fails after the busy
    timeout, as it did in SQLite before."""
    lock = asyncio.Lock()
    holder: list = []  # [(connection record, loop)] while a connection holds the lock

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before_write(conn, _cursor, statement, _parameters, _context, _executemany) -> None:  # noqa: ANN001
        if statement.lstrip()[:9].upper().startswith(_READS):
            return
        record = conn.connection._connection_record
        if holder and holder[0][0] is record:
            return
        try:
            await_only(_acquire(lock))
        except TimeoutError:
            raise sa.exc.OperationalError(
                statement, None, Exception(f"waited {SQLITE_BUSY_TIMEOUT_S} s for the write lock")
            ) from None
        holder.append((record, asyncio.get_running_loop()))

    @sa.event.listens_for(engine, "checkin")
    def _after_transaction(_dbapi_connection, record) -> None:  # noqa: ANN001
        if not holder or holder[0][0] is not record:
            return
        _, loop = holder.pop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            lock.release()
        else:  # returned from another thread (garbage collection): release on the lock's loop
            loop.call_soon_threadsafe(lock.release)


def run_migrations(url: str) -> None:
    """Bring the schema to the latest revision (safe to call from several processes at once)."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = sync_url(url)
    command.upgrade(cfg, "head")


# --------------------------------------------------------------------------------------------
# SQLite connections for SQLAlchemy's aiosqlite dialect, one thread trip per statement.
#
# aiosqlite runs each call on the connection's thread: SQLAlchemy's adapter makes four trips per
# statement (open a cursor, execute, fetch the rows, close the cursor), each a queue put, a
# thread wake-up and a callback back on the event loop, fighting for the GIL; with COMMIT and the
# pool's ROLLBACK, a create made about ten. These connections speak the part of aiosqlite's
# protocol that the adapter uses (including `_tx` and `_conn`, which it uses for isolation
# levels) but execute a statement and fetch its rows in one trip, answer the rest from memory,
# and skip COMMIT and ROLLBACK when no transaction is open. SQLite still runs off the event loop.
# --------------------------------------------------------------------------------------------


def _sqlite_connector(url: str) -> Callable[[], Awaitable[_SqliteConnection]]:
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
    kwargs = {**kwargs, "timeout": 0, "check_same_thread": False}
    return partial(_SqliteConnection.open, *args, **kwargs)


def _serve(tx: queue.SimpleQueue) -> None:
    """The connection's thread: runs each (future, function) sent to it, in order, until None."""
    while (item := tx.get()) is not None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting coroutine
            future.get_loop().call_soon_threadsafe(_settle, future, None, error)
        else:
            future.get_loop().call_soon_threadsafe(_settle, future, result, None)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the awaiting coroutine was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _SqliteConnection:
    def __init__(self, tx: queue.SimpleQueue) -> None:
        self._tx = tx
        self._connection: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, *args: Any, **kwargs: Any) -> _SqliteConnection:
        tx: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(tx,), name="openrevox-sqlite", daemon=True).start()
        connection = cls(tx)
        try:
            connection._connection = await connection._call(partial(sqlite3.connect, *args, **kwargs))
        except BaseException:
            tx.put_nowait(None)
            raise
        return connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    def _call(self, function: Callable[[], Any]) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, function))
        return future

    def cursor(self) -> _SqliteCursor:
        return _SqliteCursor(self)

    @property
    def in_transaction(self) -> bool:
        return self._connection is not None and self._connection.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def commit(self) -> None:
        if self.in_transaction:
            await self._call(partial(_retry_busy, self._conn.commit))

    async def rollback(self) -> None:
        if self.in_transaction:
            await self._call(self._conn.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._call(partial(self._conn.create_function, *args, **kwargs))

    async def close(self) -> None:
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            await self._call(connection.close)
        finally:
            self._tx.put_nowait(None)

    def stop(self) -> None:
        """Close without waiting (garbage collection, or a connection SQLAlchemy gave up on)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._tx.put_nowait((_Discarded(), connection.close))
        self._tx.put_nowait(None)


class _Discarded:
    """A future nobody awaits, for work sent to the thread from outside the event loop."""

    def get_loop(self) -> _Discarded:
        return self

    def call_soon_threadsafe(self, *_: Any) -> None:
        pass


SQLITE_BUSY = 5  # the plain code only: SQLITE_BUSY_SNAPSHOT (517) cannot succeed on a retry


def _retry_busy(function: Callable[[], Any]) -> Any:
    """`function()`, tried again while another process holds the database's lock: what SQLite's
    busy handler does, without its long sleeps. Runs on the connection's thread."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.0005
    while True:
        try:
            return function()
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) != SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 1.5, 0.005)


def _run_statement(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> tuple:
    cursor = connection.cursor()
    try:
        if not many:
            _retry_busy(partial(cursor.execute, sql, () if parameters is None else parameters))
        elif connection.isolation_level is not None:
            # One transaction (the module begins it): a busy error can only come before any row.
            _retry_busy(partial(cursor.executemany, sql, parameters))
        else:  # autocommit: each row commits alone, so each is retried alone
            rowcount = 0
            for row in parameters:
                _retry_busy(partial(cursor.execute, sql, row))
                rowcount += max(cursor.rowcount, 0)
            return None, rowcount, cursor.lastrowid, []
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _SqliteCursor:
    """Executes and fetches all rows in one trip; fetches and close() then answer from memory."""

    arraysize = 1

    def __init__(self, connection: _SqliteConnection) -> None:
        self._connection = connection
        self.description: tuple | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: deque = deque()

    async def __aenter__(self) -> _SqliteCursor:
        return self

    def __await__(self):  # noqa: ANN204 - SQLAlchemy 2.0 awaits cursor(), 2.1 enters it
        return self.__aenter__().__await__()

    async def __aexit__(self, *_: object) -> None:
        self._rows.clear()

    async def execute(self, sql: str, parameters: Any = None) -> _SqliteCursor:
        return await self._run(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Any) -> _SqliteCursor:
        return await self._run(sql, parameters, many=True)

    async def _run(self, sql: str, parameters: Any, many: bool) -> _SqliteCursor:
        connection = self._connection._conn
        result = await self._connection._call(partial(_run_statement, connection, sql, parameters, many))
        self.description, self.rowcount, self.lastrowid, rows = result
        self._rows = deque(rows)
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list:
        size = size or self.arraysize
        return [self._rows.popleft() for _ in range(min(size, len(self._rows)))]

    async def fetchall(self) -> list:
        rows, self._rows = list(self._rows), deque()
        return rows

    async def close(self) -> None:
        self._rows.clear()

    def __aiter__(self) -> _SqliteCursor:
        return self

    async def __anext__(self) -> Any:
        if not self._rows:
            raise StopAsyncIteration
        return self._rows.popleft()
