"""Alembic migrations of the listening database, on both databases: an empty database migrated to head
has exactly the ORM's schema (and the same full-text search objects as create_all); a foundation
database keeps its mentions and gets them searchable; create_all databases are stamped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from resonanz.common.v1.mention_pb2 import Mention
from resonanz_listening import migrate, search
from resonanz_listening.models import MentionQueryRow, MentionRow, metadata
from resonanz_listening.store import ListeningStore
from resonanz_sdk.db import create_engine, session_factory
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def search_objects(connection: Connection) -> set[str]:
    """The full-text search objects the database has (outside what SQLAlchemy models)."""
    if connection.dialect.name == "postgresql":
        inspector = inspect(connection)
        found = {c["name"] for c in inspector.get_columns("listening_mentions")}
        found |= {i["name"] for i in inspector.get_indexes("listening_mentions") if i["name"]}
        return found & {search.SEARCH_VECTOR, search.SEARCH_INDEX}
    rows = connection.execute(
        text("SELECT name FROM sqlite_master WHERE name LIKE :prefix"), {"prefix": f"{search.FTS_TABLE}%"}
    )
    return {name for (name,) in rows}


async def schema(engine: AsyncEngine) -> tuple[list[object], set[str]]:
    async with engine.connect() as conn:
        diffs = await conn.run_sync(migrate.schema_differences)
        objects = await conn.run_sync(search_objects)
    return diffs, objects


async def test_an_empty_database_migrates_to_exactly_the_models(
    engine: AsyncEngine, database_url: str
) -> None:
    await migrate.upgrade_database(engine)
    diffs, objects = await schema(engine)
    assert diffs == []
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await migrate.database_is_current(engine)
    tables = {t for t in metadata.tables if t.startswith("listening_")}
    async with engine.connect() as conn:
        have = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= have
    assert {"listening_tracked_items", "listening_leases", "listening_backfills"} <= tables

    # The search objects are the ones create_all makes.
    other = create_engine(database_url.replace(".db", "-create-all.db")) if "sqlite" in database_url else None
    if other is not None:
        async with other.begin() as conn:
            await conn.run_sync(metadata.create_all)
        _, created = await schema(other)
        await other.dispose()
    else:
        created = {search.SEARCH_VECTOR, search.SEARCH_INDEX}
    assert objects == created
    assert objects  # never empty: search works on both


async def test_a_create_all_database_is_stamped_head(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await migrate.upgrade_database(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert (await schema(engine))[0] == []
    await migrate.upgrade_database(engine)  # idempotent


async def test_foundation_mentions_survive_and_become_searchable(engine: AsyncEngine) -> None:
    await migrate.upgrade_database(engine, "0001")
    published = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    mention = Mention(
        id="scripted:1",
        tenant="acme",
        network="scripted",
        external_id="1",
        text="Die Lieferungen kommen heute",
        language_hint="de-DE",
        query_ids=["q1", "q2"],
    )
    mention.published_at.FromDatetime(published)
    mention.collected_at.FromDatetime(published)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO listening_mentions (tenant, mention_id, network, search_text, collected_at, "
                "payload) VALUES ('acme', 'scripted:1', 'scripted', :text, :at, :payload)"
            ),
            {"text": mention.text.casefold(), "at": published, "payload": mention.SerializeToString()},
        )
    await migrate.upgrade_database(engine)
    assert (await schema(engine))[0] == []
    sessions = session_factory(engine)
    async with sessions() as session:
        row = (await session.scalars(select(MentionRow))).one()
        refs = sorted(await session.scalars(select(MentionQueryRow.query_id)))
    assert row.published_at.replace(tzinfo=UTC) == published
    assert row.language == "de"
    assert refs == ["q1", "q2"]
    query = search.parse("lieferungen")
    rows, _ = await ListeningStore(sessions).search_mentions("acme", query=query)
    assert [r.mention_id for r in rows] == ["scripted:1"]

    await migrate.downgrade_database(engine, "0001")
    assert (await schema(engine))[1] == set()
    await migrate.upgrade_database(engine)
    assert (await schema(engine))[0] == []
