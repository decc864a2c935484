"""Schema migrations of the scoring service (Alembic, shipped inside the package).

``await upgrade_database(engine)`` runs at service start instead of ``metadata.create_all``:

* an empty database gets every revision up to head;
* a database made by ``create_all`` of the current models (tables, no version: how scoring made its
  schema before migrations existed) is stamped head; anything else unversioned is refused rather
  than guessed at;
* replicas starting at once do not race: on PostgreSQL the upgrade runs in one transaction holding
  ``pg_advisory_xact_lock``; on SQLite it runs in one ``BEGIN IMMEDIATE`` transaction (the database
  write lock), so the others wait and then find the schema at head.

The version is kept in ``scoring_alembic_version`` (not ``alembic_version``): the database may be
shared with other services that keep their own.

Operators: ``python -m resonanz_scoring.migrate upgrade|current|check|history|downgrade REV``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from resonanz_sdk.settings import Settings
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from resonanz_scoring import aggregate_models  # noqa: F401 - registers the aggregate tables
from resonanz_scoring.models import metadata

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "scoring_alembic_version"
TABLE_PREFIX = "scoring_"
#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this service).
ADVISORY_LOCK_KEY = 0x5245_5353_434F_5231  # "RESSCOR1"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code, so it works from an installed wheel (no alembic.ini)."""
    config = Config(stdout=sys.stdout)  # the current stdout (Alembic's default is bound at import)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its revisions
        raise ConfigurationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _migration_context(connection: Connection, **opts: Any) -> MigrationContext:
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE, **opts})


def include_name(name: str | None, type_: str, _parent: Any) -> bool:
    """Autogenerate and the checks look only at this service's tables (the database may be shared)."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX) and name != VERSION_TABLE
    return True


def schema_differences(connection: Connection) -> list[Any]:
    """What autogenerate sees between the database and the models (this service's tables only)."""
    # Server defaults are not compared: Alembic reports false differences for SQLite's quoted ''
    # defaults; the migration test checks the defaults by writing rows instead.
    context = _migration_context(connection, include_name=include_name, compare_type=True)
    return list(compare_metadata(context, metadata))


def _unversioned_revision(connection: Connection) -> str | None:
    """The revision an unversioned database already has: None (empty) or head; else refuse."""
    ours = {t for t in inspect(connection).get_table_names() if include_name(t, "table", None)}
    if not ours:
        return None
    differences = schema_differences(connection)
    if not differences:
        return head_revision()
    raise ConfigurationError(
        "the scoring tables have no migration version and do not match the current models "
        f"(tables: {', '.join(sorted(ours))}; first differences: {differences[:3]}); bring them to "
        "the models and stamp the revision by hand with alembic, or, for tables of the 0.1 walking "
        "skeleton, drop them (scores are derived data: docs/scoring/migrations.md)"
    )


def _upgrade_sync(connection: Connection, revision: str) -> None:
    config = alembic_config(connection)
    if _migration_context(connection).get_current_revision() is None:
        existing = _unversioned_revision(connection)
        if existing is not None:
            command.stamp(config, existing)
    command.upgrade(config, revision)


def _downgrade_sync(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


@contextlib.asynccontextmanager
async def _locked(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection in one transaction that holds the migration lock; committed on success."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            yield conn
        return
    if engine.dialect.name != "sqlite":
        raise ConfigurationError(f"unsupported database {engine.dialect.name!r}")
    async with engine.connect() as conn:
        # Batch mode (later revisions) rebuilds a table by DROP + RENAME; with foreign keys on, a drop
        # could cascade. The pragma is ignored inside a transaction, so it goes first; BEGIN IMMEDIATE
        # then takes the write lock at once, so a second replica waits here for the first.
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


async def _run_locked(engine: AsyncEngine, step: Callable[[Connection], T]) -> T:
    async with _locked(engine) as conn:
        return await conn.run_sync(step)


async def upgrade_database(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the scoring tables to ``revision`` (head); safe to call from every replica at once."""
    await _run_locked(engine, lambda connection: _upgrade_sync(connection, revision))


async def downgrade_database(engine: AsyncEngine, revision: str) -> None:
    """Go back to ``revision`` (``base`` drops every scoring table and its data)."""
    await _run_locked(engine, lambda connection: _downgrade_sync(connection, revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None when it has none (empty, or never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda connection: _migration_context(connection).get_current_revision())


async def database_is_current(engine: AsyncEngine) -> bool:
    """True when the database is at this code's head revision (a readiness probe's question)."""
    return await current_revision(engine) == head_revision()


async def check_database(engine: AsyncEngine) -> None:
    """Raise ``FailedPreconditionError`` unless the database is at this code's head revision."""
    current = await current_revision(engine)
    head = head_revision()
    if current != head:
        raise FailedPreconditionError(
            f"scoring database is at revision {current or 'none'}, this code needs {head}; "
            "run: python -m resonanz_scoring.migrate upgrade"
        )


async def _cli(args: argparse.Namespace) -> int:
    engine = create_engine(args.database_url or Settings().database_url_for("scoring"))
    try:
        if args.command == "upgrade":
            await upgrade_database(engine, args.revision)
            print(f"scoring database at {await current_revision(engine)}")
        elif args.command == "downgrade":
            await downgrade_database(engine, args.revision)
            print(f"scoring database at {await current_revision(engine) or 'base (no tables)'}")
        else:
            current = await current_revision(engine)
            head = head_revision()
            print(f"{current or 'none'}{' (head)' if current == head else f' (head is {head})'}")
            if args.command == "check" and current != head:
                return 1
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m resonanz_scoring.migrate",
        description="Schema migrations of the scoring database (RESONANZ_DATABASE_URL, or the SQLite "
        "file scoring.db under RESONANZ_DATA_DIR).",
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
        command.history(alembic_config(), verbose=False)
        return 0
    return asyncio.run(_cli(args))


if __name__ == "__main__":
    sys.exit(main())
