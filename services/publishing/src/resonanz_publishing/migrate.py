"""Schema migrations of the publishing service (Alembic, shipped inside the package).

``await upgrade_database(engine)`` runs at service start instead of ``metadata.create_all``; the
runner is the sdk's (:mod:`resonanz_sdk.migrations`), which also documents the locking. Specific to
publishing: a database made by the foundation's ``create_all`` (tables, no version) is stamped
``0001`` first, one made by ``create_all`` of the current models is stamped head; anything else
unversioned is refused rather than guessed at.

The version is kept in ``publishing_alembic_version`` (not ``alembic_version``): the database may be
shared with other services that keep their own.

Operators: ``python -m resonanz_publishing.migrate upgrade|current|check|history|downgrade REV``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from resonanz_sdk.migrations import Foundation, ServiceSchema

from resonanz_publishing.models import metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
FOUNDATION_REVISION = "0001"
FOUNDATION_TABLES = frozenset(
    {"publishing_posts", "publishing_post_targets", "publishing_outbox", "publishing_processed_events"}
)
#: Key of the PostgreSQL advisory lock held while migrating (any constant unique to this service).
ADVISORY_LOCK_KEY = 0x5245_534F_5055_4231  # "RESOPUB1"

SCHEMA = ServiceSchema(
    service="publishing",
    package="resonanz_publishing",
    migrations_dir=MIGRATIONS_DIR,
    metadata=metadata,
    lock_key=ADVISORY_LOCK_KEY,
    foundation=Foundation(FOUNDATION_REVISION, FOUNDATION_TABLES),
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
