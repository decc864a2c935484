"""Poison records go to ``<topic>.dlq`` with their error, and the consumer carries on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from eventbus_helpers import (
    TOPIC,
    Collector,
    dlq,
    headers_of,
    mention_envelope,
    read_all,
    running,
    wait_until,
)
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_sdk import metrics
from resonanz_sdk.eventbus import EventConsumer, EventProducer, InMemoryProcessedEvents, ReceivedEvent


def group() -> str:
    return f"g-{uuid.uuid4().hex[:8]}"


async def send_raw(bootstrap: str, name: str, value: bytes, key: bytes = b"p") -> None:
    raw = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await raw.start()
    try:
        await raw.send_and_wait(name, value=value, key=key, partition=0)
    finally:
        await raw.stop()


async def test_undecodable_record_is_dead_lettered_and_next_record_processed(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    garbage = b"\xff\xff\xff not a protobuf"
    await send_raw(kafka_bootstrap, topic_prefix + TOPIC, garbage)
    good = mention_envelope(1)
    await producer.publish(TOPIC, good, key="p")
    collector = Collector()
    gid = group()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=collector,
        producer=producer,
        prefix=topic_prefix,
    )
    async with running(consumer):
        await wait_until(lambda: len(collector.events) == 1)
    assert collector.events[0].envelope == good
    [dead] = await read_all(kafka_bootstrap, dlq(topic_prefix), expected=1)
    assert dead.value == garbage
    assert dead.key == b"p"
    headers = headers_of(dead)
    assert headers["error-type"] == "DecodeError"
    assert headers["error"]
    assert headers["original-topic"] == TOPIC
    assert headers["original-offset"] == "0"
    assert headers["original-partition"] == "0"
    assert metrics.EVENTS_CONSUMED.labels(topic=TOPIC, group=gid, outcome="dead_lettered")._value.get() == 1


async def test_envelope_without_payload_is_dead_lettered(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    empty = EventEnvelope(event_id=uuid.uuid4().hex, tenant="acme", type="resonanz.events.v1.Alert")
    await send_raw(kafka_bootstrap, topic_prefix + TOPIC, empty.SerializeToString())
    await producer.publish(TOPIC, mention_envelope(2), key="p")
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
        await wait_until(lambda: len(collector.events) == 1)
    [dead] = await read_all(kafka_bootstrap, dlq(topic_prefix), expected=1)
    assert EventEnvelope.FromString(dead.value) == empty
    headers = headers_of(dead)
    assert headers["error-type"] == "ValidationError"
    assert "payload" in headers["error"]


async def test_event_that_keeps_failing_goes_to_dlq_alone_after_backoff(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelopes = [mention_envelope(n) for n in range(6)]
    bad = envelopes[2]
    await producer.publish_many(TOPIC, [("same-key", envelope) for envelope in envelopes])
    handled: list[str] = []
    calls_with_bad: list[tuple[int, float]] = []

    async def handler(batch: Sequence[ReceivedEvent]) -> None:
        ids = [event.envelope.event_id for event in batch]
        if bad.event_id in ids:
            calls_with_bad.append((len(batch), time.monotonic()))
            raise RuntimeError(f"cannot handle {bad.event_id}")
        handled.extend(ids)

    dedupe = InMemoryProcessedEvents()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=group(),
        topics=[TOPIC],
        handler=handler,
        producer=producer,
        prefix=topic_prefix,
        max_attempts=3,
        backoff_initial=0.1,
        backoff_max=0.15,
        dedupe=dedupe,
    )
    async with running(consumer):
        await wait_until(lambda: len(handled) == 5)
        [dead] = await read_all(kafka_bootstrap, dlq(topic_prefix), expected=1)
    assert sorted(handled) == sorted(e.event_id for e in envelopes if e is not bad)
    # One batch call, then max_attempts single-event calls with capped exponential backoff.
    assert calls_with_bad[0][0] > 1
    singles = [at for size, at in calls_with_bad if size == 1]
    assert len(singles) == 3
    assert singles[1] - singles[0] >= 0.1
    assert 0.15 <= singles[2] - singles[1] < 1.0
    assert EventEnvelope.FromString(dead.value) == bad
    headers = headers_of(dead)
    assert headers["error-type"] == "RuntimeError"
    assert headers["error"] == f"cannot handle {bad.event_id}"
    assert headers["attempts"] == "3"
    assert headers["event-id"] == bad.event_id
    assert headers["tenant"] == "acme"
    assert headers["original-offset"] == str(envelopes.index(bad))
    # The dead event was not marked processed; the good ones were.
    assert bad.event_id not in dedupe
    assert all(e.event_id in dedupe for e in envelopes if e is not bad)


async def test_transient_failure_is_retried_and_not_dead_lettered(
    kafka_bootstrap: str, topic_prefix: str, producer: EventProducer
) -> None:
    envelope = mention_envelope(7)
    await producer.publish(TOPIC, envelope, key="k")
    attempts: list[int] = []
    done: list[str] = []

    async def flaky(batch: Sequence[ReceivedEvent]) -> None:
        attempts.append(len(batch))
        if len(attempts) < 3:
            raise ConnectionError("database is restarting")
        done.extend(event.envelope.event_id for event in batch)

    gid = group()
    consumer = EventConsumer(
        kafka_bootstrap,
        group_id=gid,
        topics=[TOPIC],
        handler=flaky,
        producer=producer,
        prefix=topic_prefix,
        max_attempts=3,
        backoff_initial=0.01,
    )
    async with running(consumer):
        await wait_until(lambda: done == [envelope.event_id])
    assert len(attempts) == 3
    assert await read_all(kafka_bootstrap, dlq(topic_prefix), expected=0, within=1.0) == []
    assert metrics.EVENTS_CONSUMED.labels(topic=TOPIC, group=gid, outcome="dead_lettered")._value.get() == 0
