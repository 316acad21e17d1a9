"""An engine on a fresh, migrated database, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from conftest import database_url_for, drop_postgres_database  # noqa: E402  (tests/conftest.py)
from openrevox.config import Settings
from openrevox.db.engine import create_engine, run_migrations


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    url = Settings(database_url=database_url_for(request.param, tmp_path)).resolved_database_url
    run_migrations(url)
    yield url
    if request.param == "postgres":
        drop_postgres_database(url)


@pytest.fixture
def run(database_url):
    """Run a coroutine function `fn(engine)` on a fresh engine."""

    def runner(fn):
        async def main():
            engine = create_engine(database_url)
            try:
                return await fn(engine)
            finally:
                # What the story left running (a dispatcher writes the carriers' call ids beside its
                # next pass) ends before the pool goes, so that no connection outlives it.
                left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
                for task in left:
                    task.cancel()
                await asyncio.gather(*left, return_exceptions=True)
                await engine.dispose()

        return asyncio.run(main())

    return runner
