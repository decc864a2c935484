"""Fixtures of the listening service tests: settings for the real broker and both databases, a running
``ListeningApp`` with a ``ScriptedNetwork`` (see ``listening_helpers``), a gRPC stub and a topic reader.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc.aio
import pytest
from listening_helpers import RawTopicReader, ScriptedNetwork, plugin_manager
from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceStub
from resonanz_listening.app import ListeningApp
from resonanz_sdk.settings import Settings

if TYPE_CHECKING:
    from resonanz.listening.v1.listening_service_pb2_grpc import ListeningServiceAsyncStub


@pytest.fixture
def network() -> ScriptedNetwork:
    return ScriptedNetwork()


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        listening_port=0,
        metrics_port=0,
        poll_interval_seconds=0.1,
        plugins="",
    )


@pytest.fixture
async def app(settings: Settings, network: ScriptedNetwork) -> AsyncIterator[ListeningApp]:
    app = ListeningApp(settings, plugin_manager(network))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def stub(app: ListeningApp) -> AsyncIterator[ListeningServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        yield ListeningServiceStub(channel)


@pytest.fixture
async def raw_topic(
    kafka_bootstrap: str, topic_prefix: str, app: ListeningApp
) -> AsyncIterator[RawTopicReader]:
    reader = RawTopicReader(kafka_bootstrap, topic_prefix)
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()
