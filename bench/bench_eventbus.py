"""Event-bus overhead: EventProducer/EventConsumer against plain aiokafka, same bytes, same broker.

Starts its own embedded Tansu broker, builds N MentionCollected envelopes once, then per run:

* plain: ``AIOKafkaProducer`` sends the serialized bytes (send all, then await the acks);
  ``AIOKafkaConsumer`` in a group takes them with ``getmany`` and commits after each batch
  (no decoding: the floor the bus cannot beat). ``plain+decode`` also runs
  ``EventEnvelope.FromString`` on each record, the least any protobuf consumer must do.
* eventbus: ``EventProducer.publish_many`` with the same envelopes (headers, traceparent);
  ``EventConsumer`` decodes each record, validates it, runs a batch handler, commits.
* eventbus+dedupe: the same, with an ``InMemoryProcessedEvents`` store.

Consume time runs from the first record received to the N-th, so the consumer group join (seconds
on Tansu) is not counted. Prints the median msgs/s of each path and the ratio to plain.

    .venv/bin/python bench/bench_eventbus.py [--n 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from resonanz.common.v1.mention_pb2 import Author, Mention
from resonanz.events.v1.events_pb2 import EventEnvelope, MentionCollected
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.eventbus import (
    EventConsumer,
    EventProducer,
    InMemoryProcessedEvents,
    ReceivedEvent,
    ensure_topics,
    new_envelope,
)

TOPIC = "mentions.raw"
CONSUMER_SETTINGS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "fetch_max_wait_ms": 50}


@dataclass
class Result:
    produce: float
    consume: float


def make_envelopes(n: int) -> list[tuple[str, EventEnvelope]]:
    items = []
    for i in range(n):
        mention = Mention(
            id=f"simulated:{i}",
            tenant="acme",
            network="simulated",
            external_id=str(i),
            author=Author(handle=f"user{i % 997}"),
            text=f"Die neue Kampagne von ACME ist wirklich gelungen, Beitrag Nummer {i} #acme",
            hashtags=["acme"],
        )
        items.append((mention.id, new_envelope("acme", MentionCollected(mention=mention))))
    return items


async def plain_run(
    bootstrap: str, prefix: str, items: Sequence[tuple[str, EventEnvelope]], *, decode: bool = False
) -> Result:
    name = prefix + TOPIC
    payloads = [(key.encode(), envelope.SerializeToString()) for key, envelope in items]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send(name, value=value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        produce = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        name,
        bootstrap_servers=bootstrap,
        group_id=f"plain-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=500,
        **CONSUMER_SETTINGS,
    )
    await consumer.start()
    try:
        count = 0
        first = 0.0
        while count < len(payloads):
            fetched = await consumer.getmany(timeout_ms=200, max_records=500)
            if not fetched:
                continue
            if not count:
                first = time.perf_counter()
            count += sum(len(records) for records in fetched.values())
            if decode:
                for records in fetched.values():
                    for record in records:
                        EventEnvelope.FromString(record.value or b"")
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        consume = time.perf_counter() - first
    finally:
        await consumer.stop()
    return Result(len(payloads) / produce, len(payloads) / consume)


async def eventbus_run(
    bootstrap: str, prefix: str, items: Sequence[tuple[str, EventEnvelope]], *, dedupe: bool
) -> Result:
    async with EventProducer(bootstrap, prefix=prefix) as producer:
        started = time.perf_counter()
        await producer.publish_many(TOPIC, items)
        produce = time.perf_counter() - started
        done = asyncio.Event()
        state: dict[str, float] = {"count": 0, "first": 0.0, "last": 0.0}

        async def handler(batch: Sequence[ReceivedEvent]) -> None:
            if not state["count"]:
                state["first"] = time.perf_counter()
            state["count"] += len(batch)
            if state["count"] >= len(items):
                state["last"] = time.perf_counter()
                done.set()

        consumer = EventConsumer(
            bootstrap,
            group_id=f"bus-{uuid.uuid4().hex[:6]}",
            topics=[TOPIC],
            handler=handler,
            producer=producer,
            prefix=prefix,
            dedupe=InMemoryProcessedEvents() if dedupe else None,
        )
        await consumer.start()
        task = asyncio.create_task(consumer.run())
        try:
            await done.wait()
        finally:
            await consumer.stop()
            await task
    return Result(len(items) / produce, len(items) / (state["last"] - state["first"]))


async def bench(bootstrap: str, n: int, runs: int) -> None:
    items = make_envelopes(n)
    size = statistics.mean(len(envelope.SerializeToString()) for _, envelope in items[:1000])
    print(f"{n} envelopes of ~{size:.0f} bytes, {runs} runs, Tansu on loopback")
    paths: dict[str, Callable[[str], Awaitable[Result]]] = {
        "plain aiokafka": lambda prefix: plain_run(bootstrap, prefix, items),
        "plain+decode": lambda prefix: plain_run(bootstrap, prefix, items, decode=True),
        "eventbus": lambda prefix: eventbus_run(bootstrap, prefix, items, dedupe=False),
        "eventbus+dedupe": lambda prefix: eventbus_run(bootstrap, prefix, items, dedupe=True),
    }
    results: dict[str, list[Result]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, run in paths.items():  # interleaved, so drift hits every path alike
            prefix = f"b{uuid.uuid4().hex[:8]}."
            await ensure_topics(bootstrap, [TOPIC], prefix=prefix)
            results[name].append(await run(prefix))
    base_produce = statistics.median(r.produce for r in results["plain aiokafka"])
    base_consume = statistics.median(r.consume for r in results["plain aiokafka"])
    print(f"{'path':<18}{'produce msgs/s':>16}{'ratio':>8}{'consume msgs/s':>17}{'ratio':>8}")
    for name, rows in results.items():
        produce = statistics.median(r.produce for r in rows)
        consume = statistics.median(r.consume for r in rows)
        print(
            f"{name:<18}{produce:>16,.0f}{produce / base_produce:>8.2f}"
            f"{consume:>17,.0f}{consume / base_consume:>8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="envelopes per run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with EmbeddedBroker() as broker:
        asyncio.run(bench(broker.bootstrap, args.n, args.runs))


if __name__ == "__main__":
    main()
