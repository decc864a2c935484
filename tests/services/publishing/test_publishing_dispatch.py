"""The dispatcher, the outbox and the worker's bookkeeping on both databases: each target is requested
exactly once even with concurrent dispatchers (also thousands due at once), only due targets of
scheduled or publishing posts go out, one audit event per post, campaign UTM on links, staged events
survive a failed send (re-sent with the same event id), and a worker that crashed after the network
took the post never posts it again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from delivery_helpers import insert_post, targets_of
from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest, TargetSpec
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import AuditEventRow, CampaignRow, OutboxRow, PostRow, TargetRow
from resonanz_publishing.outbox import OutboxRelay
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.store import PostStore
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, topic_name
from resonanz_sdk.manifest import Feature, Manifest, TextRules
from resonanz_sdk.network import AccountRef, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from sqlalchemy import insert, select, update
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


class LedgerNetwork(Network):
    """A network that remembers posts by idempotency key and counts the publish calls."""

    def __init__(self) -> None:
        self.posts: dict[str, PublishedPost] = {}
        self.publish_calls = 0

    @property
    def manifest(self) -> Manifest:
        return Manifest(
            network="net",
            display_name="Net",
            features=frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
            text=TextRules(max_length=100),
        )

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self.publish_calls += 1
        published = PublishedPost(f"x{len(self.posts)}", "https://net.example/x", datetime.now(UTC))
        self.posts[post.idempotency_key] = published
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return self.posts.get(idempotency_key)


class _Plugin:
    def __init__(self, network: Network) -> None:
        self.network = network

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        register(self.network)


async def test_worker_crash_after_publish_does_not_publish_again(engine: AsyncEngine) -> None:
    """A worker marked the target PUBLISHING, the network took the post, then the worker died before
    recording it. The redelivered request finds the post through find_published instead of posting again."""
    store = PostStore(engine)
    (post_id,) = await make_posts(store, 1, 1)
    await Dispatcher(engine).dispatch_once()
    (row,) = await outbox(engine)
    request = EventEnvelope.FromString(row.envelope).publish_requested

    network = LedgerNetwork()
    plugins = PluginManager(allowed=[])
    plugins.register(_Plugin(network), name="net-plugin")
    ledger = TargetLedger(engine)
    # The crashed attempt: marked PUBLISHING, published on the network, never recorded.
    start = await ledger.begin_attempt("acme", post_id, "net", "@a0")
    assert start is not None
    assert start.attempts == 1
    await network.publish(AccountRef("net", "@a0"), OutgoingPost(request.text, request.idempotency_key))

    worker = PublishWorker(ledger, plugins, BackoffPolicy(3, 0.01, 0.05))
    assert await worker.process("acme", request) == "published"
    assert await worker.process("acme", request) == "duplicate"
    assert network.publish_calls == 1
    post = await store.get_post("acme", post_id)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert post.targets[0].attempts == 2
    assert post.targets[0].external_id == network.posts[request.idempotency_key].external_id
    # The result is staged for publish.results in the same transaction.
    results = [r for r in await outbox(engine) if r.topic == Topic.PUBLISH_RESULTS.value]
    assert len(results) == 1
    assert (
        EventEnvelope.FromString(results[0].envelope).publish_result.status
        == TargetStatus.TARGET_STATUS_PUBLISHED
    )
    # Another tenant's request for the same ids touches nothing.
    assert await worker.process("globex", request) == "unknown_target"


async def test_only_due_targets_of_scheduled_or_publishing_posts_are_dispatched(engine: AsyncEngine) -> None:
    due = await insert_post(engine, [("net", "@a")])
    draft = await insert_post(engine, [("net", "@a")], status=PostStatus.POST_STATUS_DRAFT)
    in_review = await insert_post(engine, [("net", "@a")], status=PostStatus.POST_STATUS_IN_REVIEW)
    cancelled = await insert_post(engine, [("net", "@a")])
    async with session_factory(engine).begin() as session:
        await session.execute(
            update(PostRow).where(PostRow.id == cancelled).values(status=PostStatus.POST_STATUS_CANCELLED)
        )
        # A deferred retry of a post that is already publishing.
        await session.execute(
            update(PostRow).where(PostRow.id == due).values(status=PostStatus.POST_STATUS_PUBLISHING)
        )
        await session.execute(update(TargetRow).where(TargetRow.post_id == due).values(attempts=1))
    assert await Dispatcher(engine).dispatch_due() == [due]
    assert await Dispatcher(engine).dispatch_due(datetime.now(UTC) + timedelta(days=365)) == []
    for post_id in (draft, in_review, cancelled):
        assert [t.status for t in await targets_of(engine, post_id)] == [TargetStatus.TARGET_STATUS_PENDING]


async def test_one_dispatched_audit_event_per_post_and_campaign_utm_on_links(engine: AsyncEngine) -> None:
    async with session_factory(engine).begin() as session:
        session.add(
            CampaignRow(
                id="c1",
                tenant="acme",
                name="Frühling 2025",
                utm={"source": "", "medium": "social"},
                created_at=datetime.now(UTC),
            )
        )
    post_id = await insert_post(
        engine,
        [("net", "@a"), ("net", "@b"), ("other", "@c")],
        text="Neu: https://acme.example/shop",
        campaign_id="c1",
    )
    assert await Dispatcher(engine).dispatch_due() == [post_id]
    rows = await outbox(engine)
    texts = {
        (r.network, r.account): r.text
        for r in (EventEnvelope.FromString(row.envelope).publish_requested for row in rows)
    }
    assert texts[("net", "@a")] == (
        "Neu: https://acme.example/shop?utm_source=net&utm_medium=social&utm_campaign=fruhling-2025"
    )
    assert "utm_source=other" in texts[("other", "@c")]
    async with session_factory(engine)() as session:
        audit = list(
            (await session.execute(select(AuditEventRow).where(AuditEventRow.post_id == post_id))).scalars()
        )
    assert [(a.action, a.actor, a.to_status) for a in audit] == [
        ("dispatched", "system", PostStatus.POST_STATUS_PUBLISHING)
    ]
    assert audit[0].detail == "net:@a, net:@b, other:@c"


async def test_a_campaign_without_utm_fields_adds_no_parameters(engine: AsyncEngine) -> None:
    async with session_factory(engine).begin() as session:
        session.add(CampaignRow(id="c2", tenant="acme", name="Winter", utm={}, created_at=datetime.now(UTC)))
    post_id = await insert_post(
        engine, [("net", "@a")], text="Neu: https://acme.example/shop", campaign_id="c2"
    )
    assert await Dispatcher(engine).dispatch_due() == [post_id]
    (row,) = await outbox(engine)
    assert EventEnvelope.FromString(row.envelope).publish_requested.text == "Neu: https://acme.example/shop"


async def test_thousands_of_due_posts_drain_once_each_with_three_dispatchers(engine: AsyncEngine) -> None:
    count = 3000
    now = datetime.now(UTC)
    await bulk_insert_due(engine, count, now)
    dispatchers = [Dispatcher(engine) for _ in range(3)]
    started = time.perf_counter()
    results = await asyncio.gather(*(d.dispatch_due(now) for d in dispatchers))
    elapsed = time.perf_counter() - started
    assert sum(len(r) for r in results) == count
    keys = [
        EventEnvelope.FromString(r.envelope).publish_requested.idempotency_key for r in await outbox(engine)
    ]
    assert len(keys) == count
    assert len(set(keys)) == count
    print(f"drained {count} due posts with 3 dispatchers in {elapsed:.2f}s")
    assert await Dispatcher(engine).dispatch_due(now) == []


async def bulk_insert_due(engine: AsyncEngine, count: int, due: datetime) -> None:
    posts = [
        {
            "id": uuid.uuid4().hex,
            "tenant": "acme",
            "text": f"Post {i}",
            "media": [],
            "variants": [],
            "campaign_id": "",
            "labels": [],
            "status": PostStatus.POST_STATUS_SCHEDULED,
            "scheduled_at": due,
            "created_at": due,
            "updated_at": due,
        }
        for i in range(count)
    ]
    targets = [
        {
            "post_id": p["id"],
            "tenant": "acme",
            "position": 0,
            "network": "net",
            "account": f"@a{i % 50}",
            "status": TargetStatus.TARGET_STATUS_PENDING,
            "attempts": 0,
            "updated_at": due,
            "scheduled_at": due,
            "due_at": due,
        }
        for i, p in enumerate(posts)
    ]
    async with session_factory(engine).begin() as session:
        await session.execute(insert(PostRow), posts)
        await session.execute(insert(TargetRow), targets)


async def test_two_relays_on_one_database_send_each_row_once(database_url: str, engine: AsyncEngine) -> None:
    await bulk_insert_due(engine, 200, datetime.now(UTC))
    await Dispatcher(engine).dispatch_due()
    sent: list[str] = []

    async def send(topic: str, items: Sequence[tuple[str, EventEnvelope]]) -> None:
        await asyncio.sleep(0.005)  # a broker round trip, so that the relays interleave
        sent.extend(envelope.event_id for _, envelope in items)

    other = create_engine(database_url)
    try:
        relays = [OutboxRelay(e, send, batch_size=15) for e in (engine, other, engine, other)]
        counts = await asyncio.gather(*(r.relay_all() for r in relays))
    finally:
        await other.dispose()
    assert sum(counts) == 200
    assert len(sent) == 200
    assert len(set(sent)) == 200
