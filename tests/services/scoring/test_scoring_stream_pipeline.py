"""The scoring faust app's data path on the real broker and both databases: once-only storage,
publication and observation of redelivered mentions, observer failures retried, engagement updates,
dead letters, and health when an agent fails for good."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import faust
import grpc.aio
import pytest
from aiokafka import ConsumerRecord
from grpc_health.v1 import health_pb2, health_pb2_grpc
from resonanz.common.v1 import mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.models import mention_labels, mentions
from resonanz_scoring.streams.context import StreamContext
from resonanz_scoring.streams.engagement import register as engagement_extension
from resonanz_scoring.streams.extensions import ExtensionSpec
from resonanz_scoring.streams.mentions import scored_event_id
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, dlq_name, new_envelope
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import RecordingObserver, collected, eventually, mention, observing
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]


@asynccontextmanager
async def running(settings: Settings, extensions: Sequence[ExtensionSpec]) -> AsyncIterator[ScoringApp]:
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=extensions)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(settings.database_url_for("scoring"))
    yield db
    await db.dispose()


async def stored_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(mentions))).scalar_one())


async def test_a_redelivered_mention_is_stored_published_and_observed_once(
    settings: Settings, producer: EventProducer, read_topic: ReadTopic, engine: AsyncEngine
) -> None:
    observer = RecordingObserver()
    async with running(settings, [observing(observer)]):
        a, b = mention("testnet:a"), mention("testnet:b")
        await producer.publish_many(Topic.MENTIONS_RAW, [(a.id, collected(a)), (b.id, collected(b))])

        async def two_observed() -> bool:
            return len(observer.items) >= 2

        await eventually(two_observed, what="a and b observed")
        # The same mention again (a new envelope: re-collected or redelivered), and after it on the
        # same partition (same key) a new one, so that seeing the new one means a's repeat was handled.
        c = mention("testnet:c")
        await producer.publish_many(Topic.MENTIONS_RAW, [(a.id, collected(a)), (a.id, collected(c))])

        async def c_observed() -> bool:
            return "testnet:c" in observer.ids

        await eventually(c_observed, what="c observed")

    assert sorted(observer.ids) == ["testnet:a", "testnet:b", "testnet:c"]
    assert {item.tenant for item in observer.items} == {"acme-corp"}
    assert all(item.score.mention_id == item.mention.id for item in observer.items)
    assert await stored_count(engine) == 3
    records = await read_topic(Topic.MENTIONS_SCORED, 3, 5.0)
    envelopes = [events_pb2.EventEnvelope.FromString(r.value or b"") for r in records]
    assert sorted(e.mention_scored.mention.id for e in envelopes) == ["testnet:a", "testnet:b", "testnet:c"]
    assert {e.event_id for e in envelopes} == {
        scored_event_id("acme-corp", m) for m in ("testnet:a", "testnet:b", "testnet:c")
    }


async def test_a_failing_observer_is_retried_and_the_batch_completes_once(
    settings: Settings, producer: EventProducer, read_topic: ReadTopic, engine: AsyncEngine
) -> None:
    observer = RecordingObserver(fail_first=1)
    async with running(settings, [observing(observer)]):
        batch = [mention(f"testnet:{i}") for i in range(5)]
        await producer.publish_many(Topic.MENTIONS_RAW, [(m.id, collected(m)) for m in batch])

        async def all_done() -> bool:
            # Flagged done only after the observers returned: every row flagged = every item observed.
            async with engine.connect() as conn:
                flags = (await conn.execute(select(mentions.c.emitted))).scalars().all()
            return len(flags) == 5 and all(flags)

        await eventually(all_done, what="every mention stored, published, observed and flagged")

    assert observer.calls >= 2  # the first call failed, the items came again
    assert sorted(set(observer.ids)) == sorted(m.id for m in batch)
    # A retried batch may publish again, always with the same deterministic event id.
    records = await read_topic(Topic.MENTIONS_SCORED, 5, 5.0)
    ids = {events_pb2.EventEnvelope.FromString(r.value or b"").event_id for r in records}
    assert ids == {scored_event_id("acme-corp", m.id) for m in batch}


def engagement_update(
    mention_id: str,
    counts: mention_pb2.EngagementCounts,
    measured_at: datetime,
    *,
    subject: events_pb2.EngagementSubject.ValueType = events_pb2.ENGAGEMENT_SUBJECT_MENTION,
) -> events_pb2.EventEnvelope:
    network, external_id = mention_id.split(":", 1)
    update = events_pb2.EngagementUpdated(
        network=network, external_id=external_id, mention_id=mention_id, engagement=counts, subject=subject
    )
    update.measured_at.FromDatetime(measured_at)
    return new_envelope("acme-corp", update)


async def _row(engine: AsyncEngine, mention_id: str) -> dict[str, object]:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(mentions).where(mentions.c.mention_id == mention_id))).mappings().one()
        )
        return dict(row)


async def test_engagement_updates_refresh_the_stored_mention_and_its_metrics(
    settings: Settings, producer: EventProducer, read_topic: ReadTopic, engine: AsyncEngine
) -> None:
    async with running(settings, [engagement_extension]) as app:
        assert app.scorer is not None
        m = mention("testnet:e", followers=1000, likes=1)
        await producer.publish(Topic.MENTIONS_RAW, collected(m), key=m.id)

        async def stored() -> bool:
            return await stored_count(engine) == 1

        await eventually(stored, what="the mention stored")
        before = await _row(engine, m.id)
        t0 = datetime.now(UTC)
        fresh = mention_pb2.EngagementCounts(likes=40, shares=3, replies=2, quotes=1, views=9000)
        stale = mention_pb2.EngagementCounts(likes=7)
        own = mention_pb2.EngagementCounts(likes=999)
        key = m.id
        await producer.publish(Topic.ENGAGEMENT_UPDATES, engagement_update(m.id, fresh, t0), key=key)
        await producer.publish_raw(Topic.ENGAGEMENT_UPDATES, b"\x00garbage", key=key.encode(), headers=[])
        # Older than the applied one: ignored. About the brand's own post: not this agent's.
        await producer.publish(
            Topic.ENGAGEMENT_UPDATES, engagement_update(m.id, stale, t0 - timedelta(minutes=5)), key=key
        )
        await producer.publish(
            Topic.ENGAGEMENT_UPDATES,
            engagement_update(
                m.id, own, t0 + timedelta(minutes=5), subject=events_pb2.ENGAGEMENT_SUBJECT_OWN_POST
            ),
            key=key,
        )
        dead = await read_topic(dlq_name(Topic.ENGAGEMENT_UPDATES), 1, 20.0)
        # Everything before a sentinel on the same partition is handled once the sentinel is.
        sentinel_counts = mention_pb2.EngagementCounts(likes=41, shares=3, replies=2, quotes=1, views=9000)
        await producer.publish(
            Topic.ENGAGEMENT_UPDATES,
            engagement_update(m.id, sentinel_counts, t0 + timedelta(seconds=1)),
            key=key,
        )

        async def sentinel_applied() -> bool:
            return (await _row(engine, m.id))["likes"] == 41

        await eventually(sentinel_applied, what="the last update applied")
        metrics = app.scorer.metrics.metrics([(m.network, m.author, sentinel_counts)])[0]

    after = await _row(engine, m.id)
    assert before["likes"] == 1
    assert before["updated_at"] is None
    assert (after["likes"], after["shares"], after["replies"], after["quotes"], after["views"]) == (
        41,
        3,
        2,
        1,
        9000,
    )
    assert after["engagement"] == 41 + 3 + 2 + 1 == metrics.engagement
    assert after["engagement_rate"] == pytest.approx(47 / 1000)
    assert after["estimated_reach"] == metrics.estimated_reach > before["estimated_reach"]  # type: ignore[operator]
    assert after["estimated_impressions"] == metrics.estimated_impressions == 9000  # the network's views
    assert mention_pb2.Mention.FromString(after["mention"]).engagement == sentinel_counts  # type: ignore[arg-type]
    async with engine.connect() as conn:
        label = (await conn.execute(select(mention_labels))).mappings().one()
    assert (label["engagement"], label["estimated_reach"], label["estimated_impressions"]) == (
        47,
        metrics.estimated_reach,
        9000,
    )
    assert [r.key for r in dead] == [b"testnet:e"]
    assert dict(dead[0].headers)["original-topic"] == b"engagement.updates"


async def test_an_agent_failing_for_good_turns_health_not_serving(settings: Settings) -> None:
    """An agent whose batch work fails without a way around it (here: a test extension whose work
    always raises inside ``ctx.guard``) reports it; the process serves NOT_SERVING."""

    def failing(app: faust.App, ctx: StreamContext) -> None:
        topic = ctx.internal_topic("test-failing")

        async def boom() -> None:
            raise RuntimeError("the database is gone")

        async def agent(stream: faust.StreamT[bytes]) -> None:
            async for _ in stream:
                await ctx.guard(boom())

        app.agent(topic, name="test-failing")(agent)

        async def poke() -> None:
            await topic.send(key=b"k", value=b"v")

        app.task(poke)

    async with running(settings, [failing]) as app:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def not_serving() -> bool:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
                return bool(reply.status == health_pb2.HealthCheckResponse.NOT_SERVING)

            await eventually(not_serving, what="health NOT_SERVING")
        assert app.streams is not None
        assert isinstance(app.streams.failure, RuntimeError)


async def test_a_crash_of_the_faust_app_itself_turns_health_not_serving(settings: Settings) -> None:
    """A crash below the agents (faust's consumer, a table: injected here with faust's own
    ``crash``) is seen by the watchdog and reported like an agent failure."""
    async with running(settings, []) as app:
        assert app.streams is not None
        await app.streams.app.crash(RuntimeError("the consumer died"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def not_serving() -> bool:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
                return bool(reply.status == health_pb2.HealthCheckResponse.NOT_SERVING)

            await eventually(not_serving, what="health NOT_SERVING")
        assert isinstance(app.streams.failure, RuntimeError)
