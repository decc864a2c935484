"""The dispatcher and the outbox on both databases: each target is requested exactly once even with
concurrent dispatchers, and staged events survive a failed send (re-sent with the same event id)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, TargetSpec
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import OutboxRow
from resonanz_publishing.outbox import OutboxRelay
from resonanz_publishing.store import PostStore
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, topic_name
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await PostStore(engine).create_tables()
    try:
        yield engine
    finally:
        await engine.dispose()


async def make_posts(store: PostStore, count: int, targets: int) -> list[str]:
    ids = []
    for i in range(count):
        request = CreatePostRequest(
            text=f"Post {i}", targets=[TargetSpec(network="net", account=f"@a{j}") for j in range(targets)]
        )
        post, _ = await store.create_post("acme", request)
        ids.append(post.id)
    return ids


async def outbox(engine: AsyncEngine) -> list[OutboxRow]:
    async with session_factory(engine)() as session:
        return list((await session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars())


async def test_concurrent_dispatchers_request_each_target_once(engine: AsyncEngine) -> None:
    store = PostStore(engine)
    ids = await make_posts(store, 12, 3)
    dispatchers = [Dispatcher(engine, batch_size=5) for _ in range(4)]

    async def drain(dispatcher: Dispatcher) -> None:
        for _ in range(30):
            await dispatcher.dispatch_once()

    await asyncio.gather(*(drain(d) for d in dispatchers))
    rows = await outbox(engine)
    requests = [EventEnvelope.FromString(r.envelope).publish_requested for r in rows]
    keys = [r.idempotency_key for r in requests]
    assert len(keys) == 12 * 3
    assert len(set(keys)) == len(keys)
    assert {r.topic for r in rows} == {Topic.PUBLISH_REQUESTS.value}
    assert {r.key for r in rows} == {f"net:@a{j}" for j in range(3)}
    for post_id in ids:
        post = await store.get_post("acme", post_id)
        assert post.status == PostStatus.POST_STATUS_PUBLISHING
        assert {t.status for t in post.targets} == {TargetStatus.TARGET_STATUS_QUEUED}
    assert await Dispatcher(engine).dispatch_once() == []


async def test_posts_scheduled_later_are_not_dispatched(engine: AsyncEngine) -> None:
    store = PostStore(engine)
    request = CreatePostRequest(text="later", targets=[TargetSpec(network="net", account="@a")])
    request.scheduled_at.GetCurrentTime()
    request.scheduled_at.seconds += 600
    post, _ = await store.create_post("acme", request)
    assert await Dispatcher(engine).dispatch_once() == []
    in_ten_minutes = datetime.now(UTC) + timedelta(seconds=601)
    assert await Dispatcher(engine).dispatch_once(now=in_ten_minutes) == [post.id]


async def test_outbox_resends_after_a_failed_send_with_the_same_event_ids(
    engine: AsyncEngine, kafka_bootstrap: str, topic_prefix: str
) -> None:
    await make_posts(PostStore(engine), 2, 2)
    await Dispatcher(engine).dispatch_once()
    staged = [EventEnvelope.FromString(r.envelope).event_id for r in await outbox(engine)]
    assert len(staged) == 4

    await ensure_topics(kafka_bootstrap, [Topic.PUBLISH_REQUESTS], prefix=topic_prefix)
    producer = EventProducer(kafka_bootstrap, prefix=topic_prefix)
    relay = OutboxRelay(engine, producer.publish_many)
    with pytest.raises(BrokerError):  # the producer is down: nothing is marked sent
        await relay.relay_once()
    assert all(r.sent_at is None for r in await outbox(engine))

    async with producer:
        assert await relay.relay_all() == 4
        assert await relay.relay_all() == 0
    assert all(r.sent_at is not None for r in await outbox(engine))

    consumer = AIOKafkaConsumer(
        topic_name(Topic.PUBLISH_REQUESTS, topic_prefix),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        received: list[str] = []
        for _ in range(100):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                received.extend(EventEnvelope.FromString(r.value or b"").event_id for r in records)
            if len(received) >= 4:
                break
    finally:
        await consumer.stop()
    assert sorted(received) == sorted(staged)
