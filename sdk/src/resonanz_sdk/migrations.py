"""The schema migration runner every database-owning service uses (Alembic, shipped in its package).

A service describes its schema once as a :class:`ServiceSchema` (its migrations folder, version
table, table prefix, models' metadata, advisory lock key and how it treats a database that has
tables but no version) and gets from it:

* :meth:`ServiceSchema.upgrade_database` (run at service start instead of ``metadata.create_all``):
  an empty database gets every revision up to head; an unversioned one is stamped with the revision
  it already has (the service's :class:`Foundation` tables, or the current models exactly) or refused
  rather than guessed at; replicas starting at once do not race: on PostgreSQL the upgrade runs in
  one transaction holding ``pg_advisory_xact_lock(lock_key)``, on SQLite in one ``BEGIN IMMEDIATE``
  transaction (the database write lock), so the others wait and then find the schema at head;
* :meth:`~ServiceSchema.downgrade_database`, :meth:`~ServiceSchema.current_revision`,
  :meth:`~ServiceSchema.check_database` and the operators' CLI :meth:`~ServiceSchema.main`;
* :func:`run_env`, the whole of each service's ``migrations/env.py``.

Each service keeps its own version table (``<service>_alembic_version``, not ``alembic_version``) and
looks only at its own tables (``<service>_*``): the database may be shared with the other services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from resonanz_sdk.settings import Settings

T = TypeVar("T")

#: Builds the refusal message for an unversioned database that matches nothing known:
#: ``(schema, sorted table names, schema differences against the models)`` -> message.
RefusalMessage = Callable[["ServiceSchema", Sequence[str], Sequence[Any]], str]


@dataclass(frozen=True)
class Foundation:
    """A schema some releases made with ``create_all`` before migrations existed: exactly these
    tables (and no version) mean the database is at ``revision``."""

    revision: str
    tables: frozenset[str]


def foundation_refusal(schema: ServiceSchema, tables: Sequence[str], _differences: Sequence[Any]) -> str:
    """The default refusal: the tables match neither the foundation schema nor the current models."""
    return (
        f"the {schema.service} tables have no migration version and match neither the foundation "
        f"schema nor the current models (tables: {', '.join(tables)}); stamp the right revision by "
        "hand with alembic before starting the service"
    )


@dataclass(frozen=True)
class ServiceSchema:
    """One service's migrated schema and the operations on it.

    ``metadata`` must already hold every table of the service (import the modules that register
    them before building the schema). ``exclude_name`` names database objects outside what
    SQLAlchemy models (e.g. full-text search objects) that comparisons must ignore.
    """

    service: str
    package: str
    migrations_dir: Path
    metadata: MetaData
    lock_key: int
    foundation: Foundation | None = None
    refusal_message: RefusalMessage = foundation_refusal
    exclude_name: Callable[[str | None], bool] | None = None

    @property
    def version_table(self) -> str:
        return f"{self.service}_alembic_version"

    @property
    def table_prefix(self) -> str:
        return f"{self.service}_"

    # -- Alembic plumbing -------------------------------------------------------------------

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """An Alembic configuration built in code, so it works from an installed wheel (no
        alembic.ini). Its stdout is the current one (Alembic's default is bound at import)."""
        config = Config(stdout=sys.stdout)
        config.set_main_option("script_location", str(self.migrations_dir))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - every service ships its revisions
            raise ConfigurationError(f"no migrations found in {self.migrations_dir}")
        return head

    def migration_context(self, connection: Connection, **opts: Any) -> MigrationContext:
        return MigrationContext.configure(connection, opts={"version_table": self.version_table, **opts})

    def include_name(self, name: str | None, type_: str, _parent: Any) -> bool:
        """Autogenerate and the checks look only at this service's tables (the database may be shared)."""
        if self.exclude_name is not None and self.exclude_name(name):
            return False
        if type_ == "table":
            return name is not None and name.startswith(self.table_prefix) and name != self.version_table
        return True

    def schema_differences(self, connection: Connection) -> list[Any]:
        """What autogenerate sees between the database and the models (this service's tables only)."""
        # Server defaults are not compared (Alembic's default): it reports false differences for
        # SQLite's quoted '' defaults; the services' migration tests check defaults by writing rows.
        migration = self.migration_context(connection, include_name=self.include_name, compare_type=True)
        return list(compare_metadata(migration, self.metadata))

    def _unversioned_revision(self, connection: Connection) -> str | None:
        """The revision an unversioned database already has: None (empty), the foundation's or
        head; anything else is refused."""
        ours = {t for t in inspect(connection).get_table_names() if self.include_name(t, "table", None)}
        if not ours:
            return None
        if self.foundation is not None and ours == self.foundation.tables:
            return self.foundation.revision
        differences = self.schema_differences(connection)
        if not differences:
            return self.head_revision()
        raise ConfigurationError(self.refusal_message(self, sorted(ours), differences))

    def _upgrade_sync(self, connection: Connection, revision: str) -> None:
        config = self.alembic_config(connection)
        if self.migration_context(connection).get_current_revision() is None:
            existing = self._unversioned_revision(connection)
            if existing is not None:
                command.stamp(config, existing)
        command.upgrade(config, revision)

    def _downgrade_sync(self, connection: Connection, revision: str) -> None:
        command.downgrade(self.alembic_config(connection), revision)

    async def _run_locked(self, engine: AsyncEngine, step: Callable[[Connection], T]) -> T:
        async with migration_lock(engine, self.lock_key) as conn:
            return await conn.run_sync(step)

    # -- operations -------------------------------------------------------------------------

    async def upgrade_database(self, engine: AsyncEngine, revision: str = "head") -> None:
        """Bring the service's tables to ``revision`` (head); safe to call from every replica at once."""
        await self._run_locked(engine, lambda connection: self._upgrade_sync(connection, revision))

    async def downgrade_database(self, engine: AsyncEngine, revision: str) -> None:
        """Go back to ``revision``; what the later revisions added is dropped (``base``: every table)."""
        await self._run_locked(engine, lambda connection: self._downgrade_sync(connection, revision))

    async def current_revision(self, engine: AsyncEngine) -> str | None:
        """The revision the database is at; None when it has none (empty, or never migrated)."""
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda connection: self.migration_context(connection).get_current_revision()
            )

    async def database_is_current(self, engine: AsyncEngine) -> bool:
        """True when the database is at this code's head revision (a readiness probe's question)."""
        return await self.current_revision(engine) == self.head_revision()

    async def check_database(self, engine: AsyncEngine) -> None:
        """Raise ``FailedPreconditionError`` unless the database is at this code's head revision."""
        current = await self.current_revision(engine)
        head = self.head_revision()
        if current != head:
            raise FailedPreconditionError(
                f"{self.service} database is at revision {current or 'none'}, this code needs {head}; "
                f"run: python -m {self.package}.migrate upgrade"
            )

    # -- operators' CLI ---------------------------------------------------------------------

    async def _cli(self, args: argparse.Namespace) -> int:
        engine = create_engine(args.database_url or Settings().database_url_for(self.service))
        try:
            if args.command == "upgrade":
                await self.upgrade_database(engine, args.revision)
                print(f"{self.service} database at {await self.current_revision(engine)}")
            elif args.command == "downgrade":
                await self.downgrade_database(engine, args.revision)
                at = await self.current_revision(engine) or "base (no tables)"
                print(f"{self.service} database at {at}")
            else:
                current = await self.current_revision(engine)
                head = self.head_revision()
                print(f"{current or 'none'}{' (head)' if current == head else f' (head is {head})'}")
                if args.command == "check" and current != head:
                    return 1
        finally:
            await engine.dispose()
        return 0

    def main(self, argv: Sequence[str] | None = None) -> int:
        """``python -m <package>.migrate upgrade [REV]|downgrade REV|current|check|history``."""
        parser = argparse.ArgumentParser(
            prog=f"python -m {self.package}.migrate",
            description=f"Schema migrations of the {self.service} database (RESONANZ_DATABASE_URL, or "
            f"the SQLite file {self.service}.db under RESONANZ_DATA_DIR).",
        )
        parser.add_argument("--database-url", default="", help="overrides RESONANZ_DATABASE_URL")
        sub = parser.add_subparsers(dest="command", required=True)
        up = sub.add_parser("upgrade", help="upgrade to head (or to REVISION); stamps create_all databases")
        up.add_argument("revision", nargs="?", default="head")
        down = sub.add_parser("downgrade", help="downgrade to REVISION (drops what later revisions added)")
        down.add_argument("revision")
        sub.add_parser("current", help="print the database's revision")
        sub.add_parser("check", help="like current; exit status 1 unless the database is at head")
        sub.add_parser("history", help="list the revisions (no database needed)")
        args = parser.parse_args(argv)
        if args.command == "history":
            command.history(self.alembic_config(), verbose=False)
            return 0
        return asyncio.run(self._cli(args))


@contextlib.asynccontextmanager
async def migration_lock(engine: AsyncEngine, lock_key: int) -> AsyncIterator[AsyncConnection]:
    """One connection in one transaction that holds the migration lock; committed on success."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            yield conn
        return
    if engine.dialect.name != "sqlite":
        raise ConfigurationError(f"unsupported database {engine.dialect.name!r}")
    async with engine.connect() as conn:
        # Batch mode rebuilds a table by DROP + RENAME; with foreign keys on, dropping a parent
        # table would cascade-delete its children's rows. The pragma is ignored inside a
        # transaction, so it goes first; BEGIN IMMEDIATE then takes the write lock at once, so a
        # second replica waits here for the first.
        await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
                problems = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if problems:
                    raise ConfigurationError(f"migration left dangling foreign keys: {problems[:5]}")
            except BaseException:
                await conn.rollback()
                raise
            await conn.commit()
        finally:
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            await conn.commit()


def run_env(schema: ServiceSchema) -> None:
    """The body of a service's ``migrations/env.py``.

    :meth:`ServiceSchema.upgrade_database` hands over an open connection (inside a transaction that
    already holds the migration lock) as ``config.attributes["connection"]``. Without one
    (``alembic`` run by hand with a ``sqlalchemy.url``, or ``--sql`` offline mode) an async engine
    is created here.
    """
    config = context.config

    def url() -> str:
        return config.get_main_option("sqlalchemy.url") or Settings().database_url_for(schema.service)

    def run_sync(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=schema.metadata,
            version_table=schema.version_table,
            render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds the table
            include_name=schema.include_name,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_with_own_engine() -> None:
        engine = create_engine(url())
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run_sync)
        finally:
            await engine.dispose()

    if context.is_offline_mode():  # ``--sql``: print the DDL instead of running it
        context.configure(
            url=url(),
            target_metadata=schema.metadata,
            version_table=schema.version_table,
            render_as_batch=True,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        run_sync(connection)
    else:
        asyncio.run(run_with_own_engine())
