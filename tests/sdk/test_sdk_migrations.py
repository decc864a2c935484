"""The shared migration runner (resonanz_sdk.migrations) on a real SQLite file, with a small service
schema written to a temporary folder: two real Alembic revisions and an env.py that is the same one
line the services use. The services' own migration tests run it on PostgreSQL too."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError, FailedPreconditionError
from resonanz_sdk.migrations import ServiceSchema, foundation_refusal
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

SCHEMA_MODULE = "sdk_migrations_demo_schema"


REVISION_1 = '''
"""demo items"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "demo_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
    )


def downgrade() -> None:
    op.drop_table("demo_items")
'''

REVISION_2 = '''
"""demo tags"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "demo_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tag", sa.String(20)),
    )


def downgrade() -> None:
    op.drop_table("demo_tags")
'''

SCHEMA_SOURCE = """
from pathlib import Path

from resonanz_sdk.migrations import Foundation, ServiceSchema
from sqlalchemy import Column, Integer, MetaData, String, Table

# The demo service's models: what revision 0002 leads to.
metadata = MetaData()
Table("demo_items", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))
Table("demo_tags", metadata, Column("id", Integer, primary_key=True), Column("tag", String(20)))

SCHEMA = ServiceSchema(
    service="demo",
    package="resonanz_demo",
    migrations_dir=Path(__file__).with_name("demo_migrations"),
    metadata=metadata,
    lock_key=0x5245_5344_454D_4F31,
    foundation=Foundation("0001", frozenset({"demo_items"})),
)
"""

ENV_SOURCE = f"""
from resonanz_sdk.migrations import run_env
from {SCHEMA_MODULE} import SCHEMA

run_env(SCHEMA)
"""


@pytest.fixture
def schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceSchema]:
    """The demo service's schema; its env.py finds it by importing the module written here."""
    migrations = tmp_path / "demo_migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text(textwrap.dedent(ENV_SOURCE))
    (migrations / "script.py.mako").write_text("")
    (migrations / "versions" / "0001_items.py").write_text(REVISION_1)
    (migrations / "versions" / "0002_tags.py").write_text(REVISION_2)
    (tmp_path / f"{SCHEMA_MODULE}.py").write_text(textwrap.dedent(SCHEMA_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(SCHEMA_MODULE, None)
    module = importlib.import_module(SCHEMA_MODULE)
    yield module.SCHEMA
    sys.modules.pop(SCHEMA_MODULE, None)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    yield engine
    await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_an_empty_database_gets_every_revision(schema: ServiceSchema, engine: AsyncEngine) -> None:
    assert schema.version_table == "demo_alembic_version"
    assert await schema.current_revision(engine) is None
    assert not await schema.database_is_current(engine)

    await schema.upgrade_database(engine)

    assert schema.head_revision() == "0002"
    assert await schema.current_revision(engine) == "0002"
    assert await schema.database_is_current(engine)
    await schema.check_database(engine)
    assert await _tables(engine) == {"demo_items", "demo_tags", "demo_alembic_version"}
    async with engine.connect() as conn:
        assert await conn.run_sync(schema.schema_differences) == []


async def test_upgrading_twice_changes_nothing(schema: ServiceSchema, engine: AsyncEngine) -> None:
    await schema.upgrade_database(engine)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO demo_items (id, name) VALUES (1, 'kept')"))
    await schema.upgrade_database(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM demo_items"))).scalars().all() == ["kept"]
    assert await schema.current_revision(engine) == "0002"


async def test_the_foundation_is_stamped_then_upgraded(schema: ServiceSchema, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.tables["demo_items"].create)
        await conn.execute(text("INSERT INTO demo_items (id, name) VALUES (1, 'old')"))

    await schema.upgrade_database(engine)

    assert await schema.current_revision(engine) == "0002"
    assert "demo_tags" in await _tables(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM demo_items"))).scalars().all() == ["old"]


async def test_create_all_of_the_models_is_stamped_head(schema: ServiceSchema, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.create_all)

    await schema.upgrade_database(engine)

    assert await schema.current_revision(engine) == "0002"


async def test_an_unknown_unversioned_schema_is_refused(schema: ServiceSchema, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE demo_items (id INTEGER PRIMARY KEY, name VARCHAR(50))"))
        await conn.execute(text("CREATE TABLE demo_tags (id INTEGER PRIMARY KEY, label TEXT)"))

    with pytest.raises(ConfigurationError, match=r"demo tables have no migration.*: demo_items, demo_tags\)"):
        await schema.upgrade_database(engine)

    assert await schema.current_revision(engine) is None
    assert await _tables(engine) == {"demo_items", "demo_tags"}  # the refused transaction left nothing behind


async def test_a_service_can_word_its_own_refusal(schema: ServiceSchema, engine: AsyncEngine) -> None:
    seen: list[tuple[Sequence[str], int]] = []

    def refusal(refused: ServiceSchema, tables: Sequence[str], differences: Sequence[Any]) -> str:
        seen.append((tables, len(differences)))
        return f"{refused.service}: drop {', '.join(tables)}"

    own = dataclasses.replace(schema, foundation=None, refusal_message=refusal)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE demo_items (id INTEGER PRIMARY KEY, name VARCHAR(50))"))

    # Without a foundation, the 0001 tables alone are not recognised.
    with pytest.raises(ConfigurationError, match=r"^demo: drop demo_items$"):
        await own.upgrade_database(engine)
    assert seen[0][0] == ["demo_items"]
    assert seen[0][1] > 0
    assert "foundation" in foundation_refusal(own, ["demo_items"], [])


async def test_other_services_tables_are_not_looked_at(schema: ServiceSchema, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE other_things (id INTEGER PRIMARY KEY)"))
        await conn.execute(text("CREATE TABLE other_alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))

    await schema.upgrade_database(engine)

    assert await schema.current_revision(engine) == "0002"
    assert {"other_things", "other_alembic_version"} <= await _tables(engine)
    assert not schema.include_name("other_things", "table", None)
    assert not schema.include_name("demo_alembic_version", "table", None)
    assert schema.include_name("demo_items", "table", None)


async def test_excluded_names_are_left_out_of_comparisons(schema: ServiceSchema, engine: AsyncEngine) -> None:
    def fts(name: str | None) -> bool:
        return name is not None and name.startswith("demo_fts")

    excluding = dataclasses.replace(schema, exclude_name=fts)
    await excluding.upgrade_database(engine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE demo_fts (id INTEGER PRIMARY KEY)"))
    async with engine.connect() as conn:
        assert await conn.run_sync(excluding.schema_differences) == []
        assert await conn.run_sync(schema.schema_differences) != []  # the plain schema sees it


async def test_downgrade_drops_what_later_revisions_added(schema: ServiceSchema, engine: AsyncEngine) -> None:
    await schema.upgrade_database(engine)

    await schema.downgrade_database(engine, "0001")
    assert await schema.current_revision(engine) == "0001"
    assert await _tables(engine) == {"demo_items", "demo_alembic_version"}
    with pytest.raises(FailedPreconditionError, match=r"revision 0001, this code needs 0002.*resonanz_demo"):
        await schema.check_database(engine)

    await schema.downgrade_database(engine, "base")
    assert await schema.current_revision(engine) is None
    assert await _tables(engine) == {"demo_alembic_version"}


def test_the_cli(schema: ServiceSchema, url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.main(["history"]) == 0
    assert "0001 -> 0002 (head)" in capsys.readouterr().out

    assert schema.main(["--database-url", url, "check"]) == 1
    assert capsys.readouterr().out.strip() == "none (head is 0002)"

    assert schema.main(["--database-url", url, "upgrade", "0001"]) == 0
    assert capsys.readouterr().out.strip() == "demo database at 0001"
    assert schema.main(["--database-url", url, "current"]) == 0
    assert capsys.readouterr().out.strip() == "0001 (head is 0002)"

    assert schema.main(["--database-url", url, "upgrade"]) == 0
    assert schema.main(["--database-url", url, "check"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["demo database at 0002", "0002 (head)"]

    assert schema.main(["--database-url", url, "downgrade", "base"]) == 0
    assert capsys.readouterr().out.strip() == "demo database at base (no tables)"


def test_alembic_by_hand_gets_an_engine_of_its_own(schema: ServiceSchema, url: str) -> None:
    """``alembic upgrade`` with a sqlalchemy.url and no connection handed over: env.py makes one."""
    config = schema.alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")

    async def inspect_database() -> tuple[str | None, set[str]]:
        engine = create_engine(url)
        try:
            return await schema.current_revision(engine), await _tables(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(inspect_database()) == ("0002", {"demo_items", "demo_tags", "demo_alembic_version"})
