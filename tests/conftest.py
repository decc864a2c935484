"""Fixtures shared by every test: the real embedded broker and real databases.

* ``kafka_bootstrap`` starts one embedded Tansu broker for the whole run (or uses
  ``RESONANZ_TEST_KAFKA_BOOTSTRAP`` when set, e.g. an Apache Kafka in a later CI stage).
* ``topic_prefix`` gives every test its own topic namespace on that broker, so tests never see each
  other's events.
* ``database_url`` runs a test twice: on a fresh SQLite file and on a fresh PostgreSQL database on
  127.0.0.1:5432 (``RESONANZ_TEST_POSTGRES_URL`` overrides; the database is created and dropped).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from resonanz_sdk.broker import EmbeddedBroker

POSTGRES_ADMIN_DSN = os.environ.get("RESONANZ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("RESONANZ_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    with EmbeddedBroker(log_dir=tmp_path_factory.mktemp("tansu")) as broker:
        yield broker.bootstrap


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


async def _create_postgres_database() -> tuple[str, str]:
    name = f"resonanz_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


async def _drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database of each kind; the test runs once per kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    name, url = await _create_postgres_database()
    try:
        yield url
    finally:
        await _drop_postgres_database(name)
