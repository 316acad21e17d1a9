"""The async engine: SQLite (WAL) or PostgreSQL, and migrations at start-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
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
    """`pool_size` bounds PostgreSQL connections per process (twice that under bursts): keep
    processes x 2 x pool_size under the server's max_connections."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _set_sqlite_pragmas(engine.sync_engine)
        _serialize_sqlite_writers(engine.sync_engine)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


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
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()


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
            # Uncontended, acquire() returns at once; only a wait needs the timer.
            await_only(asyncio.wait_for(lock.acquire(), SQLITE_BUSY_TIMEOUT_S) if lock.locked() else lock.acquire())
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
