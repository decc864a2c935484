"""Helpers for event-bus tests: a started producer, running consumers, and raw DLQ reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from resonanz.common.v1.mention_pb2 import Mention
from resonanz.events.v1.events_pb2 import EventEnvelope, MentionCollected
from resonanz_sdk.eventbus import (
    EventConsumer,
    ReceivedEvent,
    dlq_name,
    new_envelope,
    topic_name,
)

TOPIC = "mentions.raw"


def mention_envelope(n: int, tenant: str = "acme") -> EventEnvelope:
    return new_envelope(tenant, MentionCollected(mention=Mention(id=f"m{n}", text=f"Hallo Welt {n}")))


async def wait_until(condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class Collector:
    """A batch handler that records everything it was given."""

    def __init__(self) -> None:
        self.batches: list[list[ReceivedEvent]] = []

    async def __call__(self, batch: Sequence[ReceivedEvent]) -> None:
        self.batches.append(list(batch))

    @property
    def events(self) -> list[ReceivedEvent]:
        return [event for batch in self.batches for event in batch]


@asynccontextmanager
async def running(consumer: EventConsumer) -> AsyncIterator[EventConsumer]:
    """Start ``consumer.run()`` in a task; stop it (and check it ended cleanly) on exit."""
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 10)


async def read_all(
    bootstrap: str, name: str, expected: int, within: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``expected`` records of topic ``name`` from the beginning, without a consumer group."""
    consumer = AIOKafkaConsumer(
        name, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=50
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + within
        while len(records) < expected and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=200)
            for batch in fetched.values():
                records.extend(batch)
        # Give anything unexpected a moment to show up too.
        fetched = await consumer.getmany(timeout_ms=300)
        for batch in fetched.values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


def dlq(prefix: str, topic: str = TOPIC) -> str:
    return dlq_name(topic_name(topic, prefix))


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {key: bytes(value).decode() for key, value in record.headers}
