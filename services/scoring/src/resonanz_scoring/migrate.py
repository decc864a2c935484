"""Schema migrations of the scoring service (Alembic, shipped inside the package).

``await upgrade_database(engine)`` runs at service start instead of ``metadata.create_all``; the
runner is the sdk's (:mod:`resonanz_sdk.migrations`), which also documents the locking. Specific to
scoring: a database made by ``create_all`` of the current models (tables, no version: how scoring
made its schema before migrations existed) is stamped head; anything else unversioned is refused
rather than guessed at, with how to leave the 0.1 walking skeleton's tables (drop them).

The version is kept in ``scoring_alembic_version`` (not ``alembic_version``): the database may be
shared with other services that keep their own.

Operators: ``python -m resonanz_scoring.migrate upgrade|current|check|history|downgrade REV``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resonanz_sdk.migrations import ServiceSchema

from resonanz_scoring import aggregate_models  # noqa: F401 - registers the aggregate tables
from resonanz_scoring.models import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this service).
ADVISORY_LOCK_KEY = 0x5245_5353_434F_5231  # "RESSCOR1"


def _refusal(_schema: ServiceSchema, tables: Sequence[str], differences: Sequence[Any]) -> str:
    return (
        "the scoring tables have no migration version and do not match the current models "
        f"(tables: {', '.join(tables)}; first differences: {list(differences[:3])}); bring them to "
        "the models and stamp the revision by hand with alembic, or, for tables of the 0.1 walking "
        "skeleton, drop them (scores are derived data: docs/scoring/migrations.md)"
    )


SCHEMA = ServiceSchema(
    service="scoring",
    package="resonanz_scoring",
    migrations_dir=MIGRATIONS_DIR,
    metadata=metadata,
    lock_key=ADVISORY_LOCK_KEY,
    refusal_message=_refusal,
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
