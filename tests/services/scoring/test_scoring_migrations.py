"""Alembic migrations of the scoring database, on both databases: an empty database migrated to head
has exactly the ORM's schema (models.py and aggregate_models.py, server defaults included); running
again changes nothing; create_all databases are stamped; replicas starting at once do not race."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from resonanz_scoring import migrate
from resonanz_scoring.models import metadata
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

#: Every table the models declare (models.py and aggregate_models.py, registered by ``migrate``).
SCORING_TABLES = frozenset(
    {
        "scoring_mentions",
        "scoring_mention_labels",
        "scoring_mention_hashtags",
        "scoring_mention_links",
        "scoring_cascades",
        "scoring_cascade_members",
        "scoring_cascade_labels",
        "scoring_alerts",
        "scoring_own_posts",
        "scoring_campaign_terms",
        "scoring_campaign_mentions",
    }
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def differences(engine: AsyncEngine) -> list[object]:
    async with engine.connect() as conn:
        return await conn.run_sync(migrate.schema_differences)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_table_names)


def _indexes(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {t: {i["name"] or "" for i in inspector.get_indexes(t)} for t in SCORING_TABLES}


async def test_the_models_declare_every_scoring_table() -> None:
    assert {t for t in metadata.tables if t.startswith("scoring_")} == SCORING_TABLES


async def test_an_empty_database_migrates_to_exactly_the_models(engine: AsyncEngine) -> None:
    await migrate.upgrade_database(engine)
    assert await differences(engine) == []
    assert SCORING_TABLES | {migrate.VERSION_TABLE} <= await tables(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await migrate.database_is_current(engine)
    await migrate.check_database(engine)
    async with engine.connect() as conn:
        indexes = await conn.run_sync(_indexes)
    expected = {t: {i.name or "" for i in metadata.tables[t].indexes} for t in SCORING_TABLES}
    assert indexes == expected

    # The server defaults exist in the database itself (rows written before a column existed, or by
    # SQL outside the ORM, get them): a row given only the columns without one reads them back.
    at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scoring_mentions (tenant, mention_id, network, author, occurred_at, language, "
                "sentiment, sentiment_confidence, polarity, engagement, engagement_rate, estimated_reach, "
                "author_influence, scorer, scored_at, mention, emitted) VALUES ('acme', 'x:1', 'x', 'ann', "
                ":at, 'de', 1, 0.9, 0.5, 3, 0.1, 100, 0.2, 'lexicon', :at, :payload, :emitted)"
            ),
            {"at": at, "payload": b"\x00", "emitted": False},
        )
        row = (
            await conn.execute(
                text(
                    "SELECT author_id, author_handle, author_followers, author_verified, in_reply_to, "
                    "reshare_of, quote_of, likes, shares, replies, quotes, views, estimated_impressions "
                    "FROM scoring_mentions"
                )
            )
        ).one()
    assert tuple(row) == ("", "", 0, False, "", "", "", 0, 0, 0, 0, 0, 0)


async def test_running_the_migration_again_is_a_no_op(engine: AsyncEngine) -> None:
    await migrate.upgrade_database(engine)
    at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO scoring_cascade_members (tenant, mention_id, root_mention_id) "
                "VALUES ('acme', 'x:2', 'x:1')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO scoring_campaign_terms (tenant, campaign_id, kind, term, since) "
                "VALUES ('acme', 'c1', 'hashtag', 'launch', :at)"
            ),
            {"at": at},
        )
    before = await tables(engine)
    await migrate.upgrade_database(engine)
    await migrate.upgrade_database(engine)
    assert await tables(engine) == before
    assert await differences(engine) == []
    assert await migrate.current_revision(engine) == migrate.head_revision()
    async with engine.connect() as conn:
        members = (
            await conn.execute(text("SELECT mention_id, root_mention_id FROM scoring_cascade_members"))
        ).all()
        terms = (await conn.execute(text("SELECT term FROM scoring_campaign_terms"))).all()
        versions = (await conn.execute(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}"))).all()
    assert [tuple(r) for r in members] == [("x:2", "x:1")]
    assert [tuple(r) for r in terms] == [("launch",)]
    assert [tuple(r) for r in versions] == [(migrate.head_revision(),)]


async def test_a_create_all_database_is_stamped_head_and_keeps_its_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            text(
                "INSERT INTO scoring_cascade_members (tenant, mention_id, root_mention_id) "
                "VALUES ('acme', 'x:2', 'x:1')"
            )
        )
    assert await migrate.current_revision(engine) is None
    with pytest.raises(FailedPreconditionError):
        await migrate.check_database(engine)
    await migrate.upgrade_database(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    assert await differences(engine) == []
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM scoring_cascade_members"))).scalar_one()
    assert count == 1


async def test_an_unversioned_database_unlike_the_models_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE scoring_mentions (tenant VARCHAR(63) PRIMARY KEY)"))
    with pytest.raises(ConfigurationError, match="no migration version"):
        await migrate.upgrade_database(engine)
    assert await migrate.current_revision(engine) is None
    assert await tables(engine) == {"scoring_mentions"}


async def test_replicas_starting_at_once_on_an_empty_database(database_url: str) -> None:
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate.upgrade_database(e) for e in engines))
        assert await migrate.current_revision(engines[0]) == migrate.head_revision()
        assert await differences(engines[0]) == []
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}"))).all()
        assert [tuple(r) for r in versions] == [(migrate.head_revision(),)]
    finally:
        for e in engines:
            await e.dispose()


async def test_downgrade_to_base_drops_only_the_scoring_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE listening_other (id INTEGER PRIMARY KEY)"))
    await migrate.upgrade_database(engine)
    await migrate.downgrade_database(engine, "base")
    assert await migrate.current_revision(engine) is None
    assert not (await tables(engine)) & SCORING_TABLES
    assert "listening_other" in await tables(engine)
    await migrate.upgrade_database(engine)
    assert await differences(engine) == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resonanz_scoring.migrate", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
        timeout=60,
    )


async def test_the_cli_upgrades_and_checks(database_url: str) -> None:
    head = migrate.head_revision()
    check = await asyncio.to_thread(_cli, "--database-url", database_url, "check")
    assert check.returncode == 1, check.stderr
    assert check.stdout.strip() == f"none (head is {head})"
    upgrade = await asyncio.to_thread(_cli, "--database-url", database_url, "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.strip() == f"scoring database at {head}"
    check = await asyncio.to_thread(_cli, "--database-url", database_url, "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"{head} (head)"


def test_the_cli_lists_the_history_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate.main(["history"]) == 0
    assert f"<base> -> {migrate.head_revision()} (head)" in capsys.readouterr().out
