"""Fixtures of the publishing service tests: settings, the test networks and a running app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from aiokafka import AIOKafkaConsumer
from publishing_helpers import ResultsReader, Running, TestNetwork, plugin_manager
from pydantic import SecretStr
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_publishing.credentials import CredentialCipher
from resonanz_sdk.eventbus import topic_name
from resonanz_sdk.manifest import TextCounting
from resonanz_sdk.settings import Settings


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        credential_keys=SecretStr(CredentialCipher.generate_key()),
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        consumer_group_prefix=f"{topic_prefix}resonanz",
        plugins="",
        publishing_port=0,
        metrics_port=0,
        dispatch_interval_seconds=0.1,
        watch_poll_interval_seconds=0.2,
        publish_max_attempts=4,
        publish_backoff_base_seconds=0.02,
        publish_backoff_max_seconds=0.2,
    )


@pytest.fixture
def testnet() -> TestNetwork:
    return TestNetwork()


@pytest.fixture
def othernet() -> TestNetwork:
    return TestNetwork("othernet", max_length=20, counting=TextCounting.UTF16_UNITS)


#: Accounts the ``running`` app has connected on both test networks, for each of these tenants.
CONNECTED_TENANTS = ("acme", "globex")
CONNECTED_HANDLES = ("@acme", "@acme_de", "@a", "@b")


@pytest.fixture
async def running(settings: Settings, testnet: TestNetwork, othernet: TestNetwork) -> AsyncIterator[Running]:
    app = PublishingApp(settings, plugin_manager(testnet, othernet))
    await app.start()
    try:
        assert app.accounts is not None
        for tenant in CONNECTED_TENANTS:
            for network in (testnet.name, othernet.name):
                for handle in CONNECTED_HANDLES:
                    await app.accounts.connect(tenant, network, handle, "", {"token": "valid"}, "fixture")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = pb_grpc.PublishingServiceStub(channel)
            yield Running(app, stub, settings, {"testnet": testnet, "othernet": othernet})
    finally:
        await app.stop()


@pytest.fixture
async def read_results(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[ResultsReader]:
    """``await read_results(n)``: the first ``n`` envelopes on this test's ``publish.results`` topic."""
    consumer = AIOKafkaConsumer(
        topic_name("publish.results", topic_prefix),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=50,
    )
    started = False

    async def read(n: int, seconds: float = 15.0) -> list[EventEnvelope]:
        nonlocal started
        if not started:
            await consumer.start()
            started = True
        out: list[EventEnvelope] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while len(out) < n and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(EventEnvelope.FromString(r.value or b"") for r in records)
        return out

    try:
        yield read
    finally:
        if started:
            await consumer.stop()
