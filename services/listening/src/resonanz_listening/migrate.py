"""Schema migrations of the listening service (Alembic, shipped inside the package).

``await upgrade_database(engine)`` runs at service start instead of ``metadata.create_all``; the
runner is the sdk's (:mod:`resonanz_sdk.migrations`), which also documents the locking. Specific to
listening: a database made by the foundation's ``create_all`` (tables, no version) is stamped
``0001`` first, one made by ``create_all`` of the current models is stamped head; anything else
unversioned is refused rather than guessed at. The full-text search objects (PostgreSQL's generated
``search_vector`` column and GIN index, SQLite's FTS5 table, its shadow tables and triggers) are
outside what SQLAlchemy models; they are created by the same DDL in ``create_all`` and in revision
0002, checked by their own test, and left out of every schema comparison.

The version is kept in ``listening_alembic_version`` (not ``alembic_version``): the database may be
shared with other services that keep their own.

Operators: ``python -m resonanz_listening.migrate upgrade|current|check|history|downgrade REV``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from resonanz_sdk.migrations import Foundation, ServiceSchema

from resonanz_listening import (
    collection_models,  # noqa: F401 - registers the collection tables
    search,
)
from resonanz_listening.models import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
FOUNDATION_REVISION = "0001"
FOUNDATION_TABLES = frozenset(
    {
        "listening_queries",
        "listening_cursors",
        "listening_mentions",
        "listening_mention_labels",
        "listening_outbox",
    }
)
#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this service).
ADVISORY_LOCK_KEY = 0x5245_534F_4C53_4D31  # "RESOLSM1"

SCHEMA = ServiceSchema(
    service="listening",
    package="resonanz_listening",
    migrations_dir=MIGRATIONS_DIR,
    metadata=metadata,
    lock_key=ADVISORY_LOCK_KEY,
    foundation=Foundation(FOUNDATION_REVISION, FOUNDATION_TABLES),
    exclude_name=search.is_search_object,
)

VERSION_TABLE = SCHEMA.version_table

head_revision = SCHEMA.head_revision
schema_differences = SCHEMA.schema_differences
upgrade_database = SCHEMA.upgrade_database
downgrade_database = SCHEMA.downgrade_database
current_revision = SCHEMA.current_revision
database_is_current = SCHEMA.database_is_current
check_database = SCHEMA.check_database
main = SCHEMA.main


if __name__ == "__main__":
    sys.exit(main())
