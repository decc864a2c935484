"""Scoring throughput: the faust app end to end against a plain aiokafka loop doing the same work.

Starts its own embedded Tansu broker (or uses ``RESONANZ_KAFKA_BOOTSTRAP``), builds N
``MentionCollected`` envelopes once (German and English texts of social-media length, varied
authors, engagement and labels), then per run and path:

* **faust**: the scoring faust app (:class:`~resonanz_scoring.streams.runtime.ScoringStreams`, the
  core path: no extensions) consumes ``mentions.raw`` in ``noack_take`` batches, decodes, scores in
  a thread, stores in SQLite, publishes ``mentions.scored``, acknowledges;
* **plain**: an ``AIOKafkaConsumer`` in a group takes batches with ``getmany``, runs the *same*
  :class:`~resonanz_scoring.streams.mentions.MentionPipeline` (same decoding, the same
  ``MentionScorer`` object, same store, same producer), commits after each batch.

Each path gets its own topics, group and fresh SQLite file. A warm-up batch is scored first so the
group join (seconds on Tansu) is not counted; the clock then runs from producing the N envelopes to
the N-th ``mentions.scored`` record read back. Prints mentions/s per path (median of the runs) and
the ratio faust / plain (goal: at least 0.5).

    .venv/bin/python bench/bench_scoring.py [--n 20000] [--runs 3] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from resonanz.common.v1.mention_pb2 import Author, EngagementCounts, Mention
from resonanz.events.v1.events_pb2 import MentionCollected
from resonanz_scoring.app import TOPICS, build_scorer
from resonanz_scoring.models import metadata
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.streams.mentions import MentionPipeline
from resonanz_scoring.streams.records import Record
from resonanz_scoring.streams.runtime import ScoringStreams
from resonanz_sdk.broker import EmbeddedBroker
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, new_envelope, topic_name
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings

GERMAN = [
    "Der Kundenservice von {b} war heute echt super, danke für die schnelle Hilfe!",
    "Schon wieder Probleme mit der App von {b}, total nervig und nichts funktioniert",
    "Hat jemand Erfahrung mit {b}? Überlege gerade zu wechseln",
    "{b} hat die Preise erhöht, finde ich nicht gut. #ärgerlich",
    "Neues Update von {b} ist ziemlich gelungen, gefällt mir sehr",
    "Warte seit zwei Wochen auf meine Lieferung von {b}, unmöglich",
]
ENGLISH = [
    "Just tried the new {b} release and I love it, great work team!",
    "{b} support has been useless, still waiting for an answer #fail",
    "Anyone else seeing outages with {b} this morning?",
    "Honestly {b} is the best thing that happened to my workflow",
    "Not impressed by the latest {b} update, feels slower than before",
    "{b} announced a new partnership today https://example.com/news",
]


def make_envelopes(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    items: list[tuple[str, bytes]] = []
    for i in range(n):
        brand = rng.choice(["Resonanz", "Klangwerk"])
        text = rng.choice(GERMAN if rng.random() < 0.6 else ENGLISH).format(b=brand)
        mention = Mention(
            id=f"simulated:{i}",
            tenant="acme",
            network="simulated",
            external_id=str(i),
            text=text,
            author=Author(
                id=f"u{i % 997}", handle=f"user{i % 997}", followers=int(rng.paretovariate(1.2) * 50)
            ),
            engagement=EngagementCounts(
                likes=rng.randrange(50),
                shares=rng.randrange(5),
                replies=rng.randrange(5),
                views=rng.randrange(5000),
            ),
            hashtags=["resonanz"] if i % 5 == 0 else [],
            labels=[brand.lower()],
        )
        mention.published_at.GetCurrentTime()
        envelope = new_envelope("acme", MentionCollected(mention=mention))
        items.append((mention.id, envelope.SerializeToString()))
    return items


async def produce(settings: Settings, items: list[tuple[str, bytes]]) -> None:
    producer = EventProducer(settings.kafka_bootstrap, prefix=settings.topic_prefix)
    await producer.start()
    try:
        # Same bytes for both paths: publish the serialized envelopes as they are.
        futures = [
            await producer._producer.send(
                topic_name(Topic.MENTIONS_RAW, settings.topic_prefix), value=value, key=key.encode()
            )
            for key, value in items
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def wait_scored(settings: Settings, total: int) -> None:
    """Return once ``total`` records are on ``mentions.scored`` (read from the beginning)."""
    name = topic_name(Topic.MENTIONS_SCORED, settings.topic_prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        if not partitions:
            await consumer.force_metadata_update()
            partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        while seen < total:
            fetched = await consumer.getmany(timeout_ms=200, max_records=10_000)
            seen += sum(len(records) for records in fetched.values())
    finally:
        await consumer.stop()


Runner = Callable[[Settings, MentionScorer, EventProducer], Awaitable[Callable[[], Awaitable[None]]]]


async def start_faust(
    settings: Settings, scorer: MentionScorer, producer: EventProducer
) -> Callable[[], Awaitable[None]]:
    engine = create_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    streams = ScoringStreams(settings, engine, producer, scorer, extensions=())
    await streams.start()

    async def stop() -> None:
        await streams.stop()
        await engine.dispose()

    return stop


async def start_plain(
    settings: Settings, scorer: MentionScorer, producer: EventProducer
) -> Callable[[], Awaitable[None]]:
    engine = create_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    pipeline = MentionPipeline(scorer, ScoreStore(engine), producer, [], group="bench-plain")
    prefix = settings.topic_prefix
    consumer = AIOKafkaConsumer(
        topic_name(Topic.MENTIONS_RAW, prefix),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{prefix}bench-plain",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.scoring_batch_size,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    stopping = asyncio.Event()

    async def loop() -> None:
        cut = len(prefix)
        while not stopping.is_set():
            fetched = await consumer.getmany(timeout_ms=200, max_records=settings.scoring_batch_size)
            records = [
                Record(r.topic[cut:], r.partition, r.offset, r.key, r.value, list(r.headers or ()))
                for batch in fetched.values()
                for r in batch
            ]
            if records:
                await pipeline.process(records)
                await consumer.commit()

    task = asyncio.create_task(loop())

    async def stop() -> None:
        stopping.set()
        await task
        await consumer.stop()
        await engine.dispose()

    return stop


async def run_path(
    base: Settings,
    start: Runner,
    scorer: MentionScorer,
    items: list[tuple[str, bytes]],
    warmup: list[tuple[str, bytes]],
) -> float:
    prefix = f"b{uuid.uuid4().hex[:8]}."
    directory = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    settings = base.model_copy(
        update={
            "topic_prefix": prefix,
            "consumer_group_prefix": prefix.rstrip("."),
            "database_url": f"sqlite+aiosqlite:///{directory / 'scoring.db'}",
            "data_dir": directory,
        }
    )
    await ensure_topics(settings.kafka_bootstrap, TOPICS, prefix=prefix)
    producer = EventProducer(settings.kafka_bootstrap, prefix=prefix)
    await producer.start()
    stop = await start(settings, scorer, producer)
    try:
        await produce(settings, warmup)
        await wait_scored(settings, len(warmup))
        started = time.perf_counter()
        await produce(settings, items)
        await wait_scored(settings, len(warmup) + len(items))
        elapsed = time.perf_counter() - started
    finally:
        await stop()
        await producer.stop()
    return len(items) / elapsed


async def main_async(bootstrap: str, n: int, runs: int, batch: int) -> None:
    base = Settings(
        kafka_bootstrap=bootstrap,
        scoring_batch_size=batch,
        scoring_rebalance_timeout_seconds=4.0,
        scoring_session_timeout_seconds=6.0,
        scoring_producer_max_batch_bytes=1,
        log_level="WARNING",
    )
    scorer = await asyncio.to_thread(build_scorer, base, PluginManager.from_setting(""))
    everything = make_envelopes(n + 200)
    warmup, items = everything[:200], everything[200:]
    print(f"scorer: {scorer.sentiment.name}; {n} mentions, batch {batch}, {runs} runs")
    rates: dict[str, list[float]] = {"faust": [], "plain": []}
    for run in range(runs):
        for name, start in (("plain", start_plain), ("faust", start_faust)):
            rate = await run_path(base, start, scorer, items, warmup)
            rates[name].append(rate)
            print(f"  run {run + 1} {name:5}: {rate:8.0f} mentions/s")
    faust, plain = statistics.median(rates["faust"]), statistics.median(rates["plain"])
    print(f"faust app : {faust:8.0f} mentions/s (median)")
    print(f"plain loop: {plain:8.0f} mentions/s (median)")
    print(f"ratio faust/plain: {faust / plain:.2f} (goal >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bootstrap = os.environ.get("RESONANZ_KAFKA_BOOTSTRAP", "")
    if bootstrap:
        asyncio.run(main_async(bootstrap, args.n, args.runs, args.batch))
        return
    with EmbeddedBroker(log_dir=Path(tempfile.mkdtemp(prefix="bench-tansu-"))) as broker:
        asyncio.run(main_async(broker.bootstrap, args.n, args.runs, args.batch))


if __name__ == "__main__":
    main()
