"""Alembic environment of the scoring service.

The service runs its migrations through :mod:`resonanz_scoring.migrate`, which hands over an open
connection (inside a transaction that already holds the migration lock) as
``config.attributes["connection"]``. Without one (``alembic`` run by hand with a ``sqlalchemy.url``,
or ``--sql`` offline mode) an async engine is created here.

Only the scoring service's own tables (``scoring_*``) are looked at: the database may be shared
with the other services, and each keeps its own version table.
"""

from __future__ import annotations

import asyncio

from alembic import context
from resonanz_scoring.migrate import VERSION_TABLE, include_name  # also registers every table
from resonanz_scoring.models import metadata
from resonanz_sdk.db import create_engine
from resonanz_sdk.settings import Settings
from sqlalchemy.engine import Connection

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table there
        include_name=include_name,
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url_for("scoring")


async def _run_with_own_engine() -> None:
    engine = create_engine(_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run_sync)
    finally:
        await engine.dispose()


def run_offline() -> None:
    """``--sql``: print the DDL instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_sync(connection)
    else:
        asyncio.run(_run_with_own_engine())


if context.is_offline_mode():
    run_offline()
else:
    run_online()
