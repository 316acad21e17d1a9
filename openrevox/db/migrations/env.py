"""Alembic environment: runs on SQLite and PostgreSQL through a blocking driver."""

import sqlalchemy as sa
from alembic import context

from openrevox.db.schema import metadata

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")

# Several processes (serve + workers) may start at once: on PostgreSQL one migrates at a time.
MIGRATION_LOCK_ID = 7_404_170


def run_migrations_online() -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()
    engine.dispose()


run_migrations_online()
