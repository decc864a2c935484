"""Round trips through the real broker: EventProducer -> Kafka -> EventConsumer."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence

from eventbus_helpers import TOPIC, Collector, mention_envelope, running, wait_until
from resonanz.events.v1.events_pb2 import MentionCollected
from resonanz_sdk import metrics
from resonanz_sdk.eventbus import (
    EventConsumer,
    EventProducer,
    InMemoryProcessedEvents,
    ReceivedEvent,
    Topic,
    payload_of,
)
from resonanz_sdk.tracing import current_traceparent, new_traceparent, use_traceparent


def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


async def test_round_trip_keeps_envelope_key_headers_and_trace(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelope = mention_envelope(1)
    traceparent = new_traceparent()
    with use_traceparent(traceparent):
        await producer.publish(Topic.MENTIONS_RAW, envelope, key="m1")
    seen_trace: list[str | None] = []

    async def handler(batch: Sequence[ReceivedEvent]) -> None:
        seen_trace.append(current_traceparent())
        collector_events.extend(batch)

    collector_events: list[ReceivedEvent] = []
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=group(),
        topics=[Topic.MENTIONS_RAW],
        handler=handler,
        producer=producer,
        prefix=topic_prefix,
    )
    async with running(consumer):
        await wait_until(lambda: len(collector_events) == 1)
    [event] = collector_events
    assert event.envelope == envelope
    assert event.key == "m1"
    assert event.topic == "mentions.raw"
    assert event.offset == 0
    assert event.traceparent == traceparent
    assert seen_trace == [traceparent]
    payload = payload_of(event.envelope)
    assert isinstance(payload, MentionCollected)
    assert payload.mention.text == "Hallo Welt 1"
    assert current_traceparent() is None


async def test_batch_of_many_events_arrives_complete_and_in_key_order(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    produced_before = metrics.EVENTS_PRODUCED.labels(topic=TOPIC)._value.get()
    items = [(f"key{n % 7}", mention_envelope(n)) for n in range(1000)]
    await producer.publish_many(TOPIC, items)
    assert metrics.EVENTS_PRODUCED.labels(topic=TOPIC)._value.get() - produced_before == 1000
    collector = Collector()
    gid = group()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=collector,
        producer=producer,
        prefix=topic_prefix,
        max_batch=300,
    )
    async with running(consumer):
        await wait_until(lambda: len(collector.events) >= 1000)
    ids = [event.envelope.event_id for event in collector.events]
    assert len(ids) == 1000
    assert set(ids) == {envelope.event_id for _, envelope in items}
    assert max(len(batch) for batch in collector.batches) > 1
    assert all(len(batch) <= 300 for batch in collector.batches)
    # Per key, events arrive in the order they were published.
    published: dict[str, list[str]] = defaultdict(list)
    for key, envelope in items:
        published[key].append(envelope.event_id)
    received: dict[str, list[str]] = defaultdict(list)
    for event in collector.events:
        received[event.key].append(event.envelope.event_id)
    assert received == published
    ok = metrics.EVENTS_CONSUMED.labels(topic=TOPIC, group=gid, outcome="ok")._value.get()
    assert ok == 1000
    assert metrics.CONSUMER_LAG.labels(topic=TOPIC, group=gid)._value.get() == 0


async def test_group_resumes_from_committed_offsets_without_loss_or_repeats(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelopes = [mention_envelope(n) for n in range(300)]
    await producer.publish_many(TOPIC, [(f"k{n}", envelope) for n, envelope in enumerate(envelopes)])
    gid = group()
    first = Collector()
    stopping: list[asyncio.Task[None]] = []

    async def stop_midway(batch: Sequence[ReceivedEvent]) -> None:
        await first(batch)
        if len(first.events) >= 60 and not stopping:
            # Stop while this batch is in hand: stop() lets it finish and commit, then run() ends.
            stopping.append(asyncio.create_task(consumer.stop()))

    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=stop_midway,
        producer=producer,
        prefix=topic_prefix,
        max_batch=20,
    )
    async with running(consumer):
        await wait_until(lambda: bool(stopping) and stopping[0].done())
    assert 60 <= len(first.events) < 300
    more = [mention_envelope(n) for n in range(300, 350)]
    await producer.publish_many(TOPIC, [(f"k{n}", envelope) for n, envelope in enumerate(more)])
    second = Collector()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=second,
        producer=producer,
        prefix=topic_prefix,
        max_batch=20,
    )
    expected = len(envelopes) + len(more) - len(first.events)
    async with running(consumer):
        await wait_until(lambda: len(second.events) >= expected)
    first_ids = [event.envelope.event_id for event in first.events]
    second_ids = [event.envelope.event_id for event in second.events]
    assert len(second_ids) == expected
    assert not set(first_ids) & set(second_ids)
    assert sorted(first_ids + second_ids) == sorted(e.event_id for e in envelopes + more)


async def test_duplicate_event_ids_are_skipped(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelopes = [mention_envelope(n) for n in range(5)]
    # Every event twice in one batch, and the first one a third time later.
    await producer.publish_many(TOPIC, [("k", envelope) for envelope in envelopes + envelopes])
    dedupe = InMemoryProcessedEvents()
    collector = Collector()
    gid = group()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=collector,
        producer=producer,
        prefix=topic_prefix,
        dedupe=dedupe,
    )
    async with running(consumer):
        await wait_until(lambda: len(collector.events) >= 5)
        await producer.publish(TOPIC, envelopes[0], key="k")
        await producer.publish(TOPIC, mention_envelope(99), key="k")
        await wait_until(lambda: len(collector.events) >= 6)
        await wait_until(
            lambda: (
                metrics.EVENTS_CONSUMED.labels(topic=TOPIC, group=gid, outcome="duplicate")._value.get() == 6
            )
        )
    ids = [event.envelope.event_id for event in collector.events]
    assert len(ids) == 6
    assert len(set(ids)) == 6
    assert all(envelope.event_id in dedupe for envelope in envelopes)

    # A redelivery to a new member (here: a fresh group reading from the start) that shares the
    # processed-events store changes nothing.
    again = Collector()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=group(),
        topics=[TOPIC],
        handler=again,
        producer=producer,
        prefix=topic_prefix,
        dedupe=dedupe,
    )
    async with running(consumer):
        for _ in range(5):
            await consumer.poll_once(timeout_ms=300)
    assert again.events == []


async def test_without_dedupe_every_delivery_reaches_the_handler(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelope = mention_envelope(1)
    await producer.publish_many(TOPIC, [("k", envelope), ("k", envelope)])
    collector = Collector()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=group(),
        topics=[TOPIC],
        handler=collector,
        producer=producer,
        prefix=topic_prefix,
    )
    async with running(consumer):
        await wait_until(lambda: len(collector.events) >= 1)
    # Repeats inside one batch are still dropped; across batches only a dedupe store helps.
    assert [event.offset for event in collector.events] == [0]
