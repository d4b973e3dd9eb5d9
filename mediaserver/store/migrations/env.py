"""Alembic environment: run by Database.migrate() on a live connection (sync view of the async engine), or
from the command line against MEDIASERVER_DATABASE_URL for autogenerate."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from mediaserver.config import load
from mediaserver.store import models, sealed  # noqa: F401  (models registers the tables)
from mediaserver.store.db import Base, Database, drop_unreflected_fk_options

target_metadata = Base.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:

        async def offline_cli() -> None:
            settings = load()
            db = Database(settings.database_url, sealed.load_key(settings.data_dir, settings.sealing_key))
            async with db.engine.begin() as conn:
                await conn.run_sync(_run_with)
            await db.close()

        asyncio.run(offline_cli())
        return
    _run_with(connection)


def _run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        process_revision_directives=drop_unreflected_fk_options,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
