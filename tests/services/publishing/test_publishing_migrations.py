"""Alembic migrations of the publishing database, on SQLite and PostgreSQL (``database_url``).

* an empty database upgraded to head has exactly ``models.metadata`` (autogenerate finds no difference);
* a foundation database with data keeps it through the upgrade, and scheduled targets are backfilled;
* 0002 -> 0001 gives back the foundation schema and keeps the foundation data;
* three replicas upgrading at once end at head without error;
* a database made by the foundation's ``create_all`` (no version) is stamped 0001 and upgraded.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from resonanz_publishing import migrate
from resonanz_publishing.models import PostRow, metadata
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

# Frozen numbers (as the migrations freeze them): PostStatus / TargetStatus of resonanz.common.v1.
POST_SCHEDULED, POST_PUBLISHED = 4, 6
TARGET_PENDING, TARGET_PUBLISHED = 1, 4

_AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def foundation_metadata() -> sa.MetaData:
    """The foundation's tables exactly as its models.py declared them (before this issue), as Core."""
    md = sa.MetaData(naming_convention=metadata.naming_convention)
    when = sa.DateTime(timezone=True)
    sa.Table(
        "publishing_posts",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("media", sa.JSON, nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("scheduled_at", when, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_publishing_posts_tenant_idempotency_key"),
        sa.Index("ix_publishing_posts_tenant_created", "tenant", "created_at", "id"),
        sa.Index("ix_publishing_posts_due", "status", "scheduled_at"),
    )
    sa.Table(
        "publishing_post_targets",
        md,
        sa.Column("id", _AutoId, primary_key=True, autoincrement=True),
        sa.Column(
            "post_id", sa.String(32), sa.ForeignKey("publishing_posts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("published_at", when, nullable=True),
        sa.Column("updated_at", when, nullable=False),
        sa.UniqueConstraint(
            "post_id", "network", "account", name="uq_publishing_post_targets_post_network_account"
        ),
        sa.Index("ix_publishing_post_targets_status", "status"),
    )
    sa.Table(
        "publishing_outbox",
        md,
        sa.Column("id", _AutoId, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("sent_at", when, nullable=True),
        sa.Index("ix_publishing_outbox_unsent", "sent_at", "id"),
    )
    sa.Table(
        "publishing_processed_events",
        md,
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("processed_at", when, nullable=False),
    )
    return md


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _not_version_table(name: str | None, type_: str, _parent: Any) -> bool:
    return not (type_ == "table" and name == migrate.VERSION_TABLE)


def diffs_to_models(connection: Connection) -> list[Any]:
    """Autogenerate's differences between the database and models.metadata.

    Only the version table is left out (it is Alembic's, not a model). Server defaults are not
    compared (Alembic's default): 0002 gives new NOT NULL columns server defaults so that existing
    rows survive; the models set those values on the Python side.
    """
    context = MigrationContext.configure(
        connection, opts={"include_name": _not_version_table, "compare_type": True}
    )
    return list(compare_metadata(context, metadata))


async def diffs(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(diffs_to_models)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


def _snapshot(connection: Connection) -> dict[str, Any]:
    """Tables, columns, keys and indexes as reflected, comparable between two states of one database."""
    inspector = sa.inspect(connection)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == migrate.VERSION_TABLE:
            continue
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(str(c) for c in i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
        }
    return out


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_snapshot)


SCHEDULED_AT = datetime(2031, 5, 4, 9, 30, tzinfo=UTC)
CREATED_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _when(name: str) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, type_=sa.DateTime(timezone=True))


async def insert_foundation_rows(engine: AsyncEngine) -> None:
    """A scheduled post with two pending targets and a published post, in the foundation's shape."""
    insert_post = sa.text(
        "INSERT INTO publishing_posts (id, tenant, text, media, variants, campaign_id, labels, status,"
        " scheduled_at, created_at, updated_at, idempotency_key) VALUES (:id, 'acme', :text, '[]', '[]',"
        " 'spring', '[\"launch\"]', :status, :scheduled_at, :created_at, :created_at, :key)"
    ).bindparams(_when("scheduled_at"), _when("created_at"))
    insert_target = sa.text(
        "INSERT INTO publishing_post_targets (post_id, tenant, position, network, account, status,"
        " attempts, external_id, url, error, published_at, updated_at) VALUES (:post_id, 'acme',"
        " :position, :network, '@acme', :status, :attempts, :external_id, '', '', :published_at,"
        " :updated_at)"
    ).bindparams(_when("published_at"), _when("updated_at"))
    async with engine.begin() as conn:
        await conn.execute(
            insert_post,
            [
                {"id": "p-scheduled", "text": "Hallo Welt", "status": POST_SCHEDULED,
                 "scheduled_at": SCHEDULED_AT, "created_at": CREATED_AT, "key": "k1"},
                {"id": "p-published", "text": "Schon da", "status": POST_PUBLISHED,
                 "scheduled_at": CREATED_AT, "created_at": CREATED_AT, "key": None},
            ],
        )  # fmt: skip
        await conn.execute(
            insert_target,
            [
                {"post_id": "p-scheduled", "position": 0, "network": "testnet", "status": TARGET_PENDING,
                 "attempts": 0, "external_id": "", "published_at": None, "updated_at": CREATED_AT},
                {"post_id": "p-scheduled", "position": 1, "network": "othernet", "status": TARGET_PENDING,
                 "attempts": 0, "external_id": "", "published_at": None, "updated_at": CREATED_AT},
                {"post_id": "p-published", "position": 0, "network": "testnet", "status": TARGET_PUBLISHED,
                 "attempts": 1, "external_id": "x1", "published_at": CREATED_AT, "updated_at": CREATED_AT},
            ],
        )  # fmt: skip
        await conn.execute(
            sa.text(
                "INSERT INTO publishing_outbox (tenant, topic, key, envelope, created_at)"
                " VALUES ('acme', 'publish.requests', 'testnet:@acme', :envelope, :created_at)"
            ).bindparams(sa.bindparam("envelope", type_=sa.LargeBinary), _when("created_at")),
            {"envelope": b"\x0a\x03abc", "created_at": CREATED_AT},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO publishing_processed_events (event_id, processed_at) VALUES ('e1', :at)"
            ).bindparams(_when("at")),
            {"at": CREATED_AT},
        )


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def assert_foundation_rows_upgraded(engine: AsyncEngine) -> None:
    """The foundation rows load through the current models, with defaults and the backfill."""
    async with session_factory(engine)() as session:
        posts = {p.id: p for p in (await session.scalars(sa.select(PostRow))).all()}
    assert set(posts) == {"p-scheduled", "p-published"}
    scheduled, published = posts["p-scheduled"], posts["p-published"]
    assert (scheduled.text, scheduled.campaign_id, scheduled.labels) == ("Hallo Welt", "spring", ["launch"])
    assert scheduled.idempotency_key == "k1"
    assert utc(scheduled.scheduled_at) == SCHEDULED_AT
    for post in posts.values():
        assert (post.utm, post.created_by, post.approval_steps) == ({}, "", 0)
        assert (post.schedule_mode, post.time_zone, post.in_reply_to) == ("now", "", "")
    assert [(t.network, t.status) for t in scheduled.targets] == [
        ("testnet", TARGET_PENDING),
        ("othernet", TARGET_PENDING),
    ]
    for target in scheduled.targets:
        assert utc(target.scheduled_at) == SCHEDULED_AT
        assert utc(target.due_at) == SCHEDULED_AT
        assert (target.next_attempt_at, target.deleted_at) == (None, None)
    [done] = published.targets
    assert (done.status, done.attempts, done.external_id) == (TARGET_PUBLISHED, 1, "x1")
    assert utc(done.published_at) == CREATED_AT
    assert (done.scheduled_at, done.due_at) == (None, None)  # only pending targets of scheduled posts
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM publishing_outbox"))).scalar_one() == 1
        events = (await conn.execute(sa.text("SELECT event_id FROM publishing_processed_events"))).all()
        assert [e[0] for e in events] == ["e1"]


async def test_upgrade_from_empty_gives_exactly_the_models(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) is None
    assert not await migrate.database_is_current(engine)
    with pytest.raises(FailedPreconditionError, match="revision none"):
        await migrate.check_database(engine)

    await migrate.upgrade_database(engine)

    assert await migrate.current_revision(engine) == migrate.head_revision() == "0002"
    assert await diffs(engine) == []
    assert await table_names(engine) == set(metadata.tables) | {migrate.VERSION_TABLE}
    await migrate.check_database(engine)
    await migrate.upgrade_database(engine)  # at head: nothing to do, no error
    assert await diffs(engine) == []


async def test_foundation_database_with_data_is_upgraded_and_backfilled(engine: AsyncEngine) -> None:
    await migrate.upgrade_database(engine, "0001")
    assert await migrate.current_revision(engine) == "0001"
    assert await table_names(engine) == migrate.FOUNDATION_TABLES | {migrate.VERSION_TABLE}
    await insert_foundation_rows(engine)

    await migrate.upgrade_database(engine)

    assert await migrate.current_revision(engine) == "0002"
    assert await diffs(engine) == []
    await assert_foundation_rows_upgraded(engine)


async def test_downgrade_to_foundation_restores_its_schema_and_keeps_its_data(engine: AsyncEngine) -> None:
    await migrate.upgrade_database(engine, "0001")
    foundation = await snapshot(engine)
    await insert_foundation_rows(engine)
    await migrate.upgrade_database(engine)
    assert await snapshot(engine) != foundation

    await migrate.downgrade_database(engine, "0001")

    assert await migrate.current_revision(engine) == "0001"
    assert await snapshot(engine) == foundation
    async with engine.connect() as conn:
        # On SQLite the batch rebuild of publishing_posts must not cascade-delete the targets.
        targets = (await conn.execute(sa.text("SELECT count(*) FROM publishing_post_targets"))).scalar_one()
        posts = (await conn.execute(sa.text("SELECT count(*) FROM publishing_posts"))).scalar_one()
    assert (posts, targets) == (2, 3)

    await migrate.upgrade_database(engine)  # and up again
    assert await diffs(engine) == []
    await assert_foundation_rows_upgraded(engine)


async def test_concurrent_upgrades_end_at_head(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade_database(e) for e in engines))
        assert [await migrate.current_revision(e) for e in engines] == ["0002"] * 3
        assert await diffs(engines[0]) == []
        async with engines[0].connect() as conn:
            versions = (await conn.execute(sa.text(f"SELECT * FROM {migrate.VERSION_TABLE}"))).all()
        assert [tuple(v) for v in versions] == [("0002",)]
    finally:
        for e in engines:
            await e.dispose()


async def test_create_all_foundation_database_is_stamped_and_upgraded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(foundation_metadata().create_all)
    await insert_foundation_rows(engine)
    assert await migrate.current_revision(engine) is None

    await migrate.upgrade_database(engine)

    assert await migrate.current_revision(engine) == "0002"
    assert await diffs(engine) == []
    await assert_foundation_rows_upgraded(engine)


async def test_migrated_foundation_equals_create_all_foundation(engine: AsyncEngine) -> None:
    """0001 is the foundation's create_all: no autogenerate difference to the foundation metadata."""
    await migrate.upgrade_database(engine, "0001")
    async with engine.connect() as conn:
        found = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(
                    c, opts={"include_name": _not_version_table, "compare_type": True}
                ),
                foundation_metadata(),
            )
        )
    assert found == []


async def test_create_all_of_current_models_is_stamped_head(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await migrate.upgrade_database(engine)
    assert await migrate.current_revision(engine) == "0002"
    assert await diffs(engine) == []


async def test_unversioned_schema_of_unknown_shape_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE publishing_posts (id VARCHAR(32) PRIMARY KEY)"))
    with pytest.raises(ConfigurationError, match="no migration version"):
        await migrate.upgrade_database(engine)
    assert await migrate.current_revision(engine) is None


async def test_other_services_tables_are_left_alone(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE listening_queries (id VARCHAR(32) PRIMARY KEY)"))
    await migrate.upgrade_database(engine)
    assert "listening_queries" in await table_names(engine)
    assert await migrate.current_revision(engine) == "0002"


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "resonanz_publishing.migrate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_operator_cli(database_url: str) -> None:
    rc, out = await _cli("--database-url", database_url, "check")
    assert (rc, out.strip()) == (1, "none (head is 0002)")
    rc, out = await _cli("--database-url", database_url, "upgrade")
    assert (rc, out.strip()) == (0, "publishing database at 0002")
    rc, out = await _cli("--database-url", database_url, "check")
    assert (rc, out.strip()) == (0, "0002 (head)")


async def test_operator_cli_history_needs_no_database() -> None:
    rc, out = await _cli("history")
    assert rc == 0
    assert "0001 -> 0002 (head)" in out
    assert "<base> -> 0001" in out
