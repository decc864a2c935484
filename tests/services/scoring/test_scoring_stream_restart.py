"""Restart safety of the scoring faust app on the real broker and both databases.

A worker is stopped and a new one started on the same topics, group and database: the scores stay,
faust table state comes back from its changelog topic, and mentions delivered again (re-collected or
redelivered) are neither stored, published nor counted twice.

The table is defined by a small extension in this file, through the same public extension API the
service's own extensions use (an observer sending per-batch, per-key deltas to an internal topic,
an agent adding them to a ``Table``): the pattern the observer docs prescribe, on the real broker.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from resonanz.events.v1 import events_pb2
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.models import mentions
from resonanz_scoring.streams.app import app_id
from resonanz_scoring.streams.context import INTERNAL_TOPIC_PREFIX, StreamContext
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, topic_name
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import collected, eventually, mention
from sqlalchemy import func, select

pytestmark = pytest.mark.integration

ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]
DELTAS = "test-label-deltas"


class LabelTotals:
    """Mentions per (tenant, label): a faust table fed by compact deltas, one record per key and batch."""

    def __init__(self) -> None:
        self.table: Any = None

    def register(self, app: faust.App, ctx: StreamContext) -> None:
        topic = ctx.internal_topic(DELTAS)
        self.table = table = app.Table(
            f"{ctx.settings.topic_prefix}scoring-test-totals",
            default=int,
        )

        async def add(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                delta = json.loads(event.value)
                table[delta["key"]] += delta["count"]

        app.agent(topic, name="test-label-totals")(add)

        class Deltas:
            async def observe(self, items: Sequence[ScoredItem]) -> None:
                counts = Counter(f"{i.tenant}|{label}" for i in items for label in i.mention.labels)
                for key, count in sorted(counts.items()):
                    await topic.send(
                        key=key.encode(), value=json.dumps({"key": key, "count": count}).encode()
                    )

        ctx.add_observer(Deltas())


@asynccontextmanager
async def running(settings: Settings, totals: LabelTotals) -> AsyncIterator[ScoringApp]:
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=[totals.register])
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def caught_up(settings: Settings, topics: Sequence[str]) -> bool:
    """Whether the scoring app's group has committed every record of ``topics`` (real names)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=app_id(settings), enable_auto_commit=False
    )
    await consumer.start()
    try:
        for name in topics:
            partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
            if not partitions:
                await consumer.force_metadata_update()
                partitions = [
                    TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])
                ]
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                    return False
        return True
    finally:
        await consumer.stop()


async def test_scores_and_table_state_survive_a_restart_and_nothing_is_counted_twice(
    settings: Settings, producer: EventProducer, read_topic: ReadTopic
) -> None:
    engine = create_engine(settings.database_url_for("scoring"))
    first = [mention(f"testnet:{i}", labels=("acme",) if i % 3 else ("acme", "rival")) for i in range(30)]
    later = [mention(f"testnet:{i}", labels=("acme",)) for i in range(30, 40)]
    topics = [
        topic_name(Topic.MENTIONS_RAW, settings.topic_prefix),
        f"{settings.topic_prefix}{INTERNAL_TOPIC_PREFIX}{DELTAS}",
    ]
    try:
        totals = LabelTotals()
        async with running(settings, totals):
            await producer.publish_many(Topic.MENTIONS_RAW, [(m.id, collected(m)) for m in first])

            async def counted_30() -> bool:
                return bool(totals.table["acme-corp|acme"] == 30)

            await eventually(counted_30, what="30 mentions counted before the restart")

            async def committed() -> bool:
                return await caught_up(settings, topics)

            await eventually(committed, what="offsets committed before the restart")
            assert totals.table["acme-corp|rival"] == 10

        # While no worker runs: ten new mentions and five old ones delivered again.
        again = [(m.id, collected(m)) for m in first[:5]]
        await producer.publish_many(Topic.MENTIONS_RAW, [*again, *[(m.id, collected(m)) for m in later]])

        restarted = LabelTotals()
        async with running(settings, restarted):

            async def counted_40() -> bool:
                return bool(restarted.table["acme-corp|acme"] == 40)

            await eventually(counted_40, within=30.0, what="the recovered table plus the ten new mentions")
            await eventually(committed, what="every record handled after the restart")
            assert restarted.table["acme-corp|acme"] == 40
            assert restarted.table["acme-corp|rival"] == 10

        async with engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
        assert stored == 40
        records = await read_topic(Topic.MENTIONS_SCORED, 40, 5.0)
        ids = [events_pb2.EventEnvelope.FromString(r.value or b"").mention_scored.mention.id for r in records]
        assert sorted(ids) == sorted(m.id for m in [*first, *later])
    finally:
        await engine.dispose()
