"""Persistence: the database, the ORM models and the Alembic migrations."""
