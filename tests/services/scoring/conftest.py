"""Fixtures of the scoring tests: a real ScoringApp on the real broker and database, a producer, a channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc.aio
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from resonanz_scoring.app import ScoringApp
from resonanz_sdk.eventbus import EventProducer, topic_name
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        consumer_group_prefix=topic_prefix.rstrip("."),
        scoring_port=0,
        metrics_port=0,
        # Tansu joins a faust group in about half the rebalance timeout (peers/README.md).
        scoring_rebalance_timeout_seconds=4.0,
        scoring_session_timeout_seconds=6.0,
        scoring_batch_seconds=0.05,
        # One record per faust producer batch: Tansu's end offsets stop at the base offset of the
        # last batch (docs/scoring/streaming.md), which would cut table recovery short.
        scoring_producer_max_batch_bytes=1,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[ScoringApp]:
    scoring = ScoringApp(settings, PluginManager.from_setting(""))
    await scoring.start()
    try:
        yield scoring
    finally:
        await scoring.stop()


@pytest.fixture
async def channel(app: ScoringApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as chan:
        yield chan


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[EventProducer]:
    async with EventProducer(settings.kafka_bootstrap, prefix=settings.topic_prefix) as events:
        yield events


@pytest.fixture
def read_topic(
    settings: Settings,
) -> Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]:
    """Every record of a logical topic (all partitions, from the start), waiting until at least
    ``at_least`` arrived or ``within`` seconds passed."""

    async def read(topic: str, at_least: int, within: float) -> list[ConsumerRecord[bytes, bytes]]:
        name = topic_name(topic, settings.topic_prefix)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
            if not partitions:
                await consumer.force_metadata_update()
                partitions = [
                    TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])
                ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            records: list[ConsumerRecord[bytes, bytes]] = []
            deadline = asyncio.get_running_loop().time() + within
            while asyncio.get_running_loop().time() < deadline:
                fetched = await consumer.getmany(timeout_ms=200)
                for batch in fetched.values():
                    records.extend(batch)
                if len(records) >= at_least and not fetched:
                    break
            return records
        finally:
            await consumer.stop()

    return read
