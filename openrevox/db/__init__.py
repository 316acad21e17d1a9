"""Storage: the async engine, shared column types, and Alembic migrations."""
