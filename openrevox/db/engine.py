"""The async engine: SQLite (WAL) or PostgreSQL, and migrations at start-up."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _set_sqlite_pragmas(engine.sync_engine)
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
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


def run_migrations(url: str) -> None:
    """Bring the schema to the latest revision (safe to call from several processes at once)."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = sync_url(url)
    command.upgrade(cfg, "head")
