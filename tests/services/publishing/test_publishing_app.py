"""The publishing service end to end: real gRPC, real broker, real databases (SQLite and PostgreSQL).

The network here is ``TestNetwork``, a small network defined in this module and registered through
the real PluginManager hook, not the simulated plugin: these tests need exact control over failures
(rate limits, permanent refusals, expired credentials) and an exact count, per idempotency key, of the
publish calls that created a post.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from aiokafka import AIOKafkaConsumer
from resonanz.common.v1.content_pb2 import NetworkVariant, Post, PostStatus, TargetStatus
from resonanz.events.v1.events_pb2 import EventEnvelope, PublishRequested, PublishResult
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_publishing.models import OutboxRow, PostRow
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import (
    AuthenticationFailedError,
    NetworkError,
    PermanentNetworkError,
    RateLimitedError,
)
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope, topic_name
from resonanz_sdk.grpc import field_violations, tenant_metadata
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextCounting, TextRules
from resonanz_sdk.network import AccountRef, Credentials, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from resonanz_sdk.settings import Settings
from sqlalchemy import func, select


class TestNetwork(Network):
    """A tiny network kept in memory. ``faults`` are raised by the next publish calls, in order.

    ``accepted`` counts, per idempotency key, the publish calls that created a post: a post is
    published twice exactly when some count is above 1.
    """

    __test__ = False  # not a test class

    def __init__(
        self,
        name: str = "testnet",
        *,
        max_length: int = 280,
        counting: TextCounting = TextCounting.CODE_POINTS,
        features: frozenset[Feature] = frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
        media: MediaRules | None = None,
    ) -> None:
        self._manifest = Manifest(
            network=name,
            display_name=name.title(),
            features=features,
            text=TextRules(max_length=max_length, counting=counting),
            media=media
            or MediaRules(
                max_items=2,
                allowed=frozenset({MediaKind.IMAGE}),
                max_bytes={MediaKind.IMAGE: 1_000_000},
            ),
        )
        self.faults: list[NetworkError] = []
        self.calls: list[str] = []
        self.accepted: Counter[str] = Counter()
        self.posts: dict[str, PublishedPost] = {}
        self.texts: dict[str, str] = {}
        self.refreshed = 0
        self.valid_token = ""

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self.calls.append(post.idempotency_key)
        await asyncio.sleep(0)
        if self.valid_token and account.credentials.get("token") != self.valid_token:
            raise AuthenticationFailedError(self.name, "token expired")
        if self.faults:
            raise self.faults.pop(0)
        self.accepted[post.idempotency_key] += 1
        external_id = uuid.uuid4().hex[:12]
        published = PublishedPost(
            external_id=external_id,
            url=f"https://{self.name}.example/{account.handle}/{external_id}",
            published_at=datetime.now(UTC),
        )
        self.posts[post.idempotency_key] = published
        self.texts[post.idempotency_key] = post.text
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return self.posts.get(idempotency_key)

    async def refresh_credentials(self, account: AccountRef) -> Credentials:
        self.refreshed += 1
        return Credentials({"token": self.valid_token})


class _Plugin:
    def __init__(self, networks: list[Network]) -> None:
        self._networks = networks

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        for network in self._networks:
            register(network)


def plugin_manager(*networks: Network) -> PluginManager:
    pm = PluginManager(allowed=[])
    pm.register(_Plugin(list(networks)), name="publishing-tests")
    return pm


@dataclass
class Running:
    app: PublishingApp
    stub: pb_grpc.PublishingServiceAsyncStub
    settings: Settings
    networks: dict[str, TestNetwork] = field(default_factory=dict)


def md(tenant: str = "acme") -> tuple[tuple[str, str], ...]:
    return tenant_metadata(tenant)


def create_request(
    text: str = "Hallo Welt! #launch", *targets: tuple[str, str], key: str = "", campaign: str = ""
) -> pb.CreatePostRequest:
    return pb.CreatePostRequest(
        text=text,
        targets=[pb.TargetSpec(network=n, account=a) for n, a in (targets or (("testnet", "@acme"),))],
        idempotency_key=key,
        campaign_id=campaign,
    )


async def wait_for_post(
    stub: pb_grpc.PublishingServiceAsyncStub,
    post_id: str,
    done: Callable[[Post], bool],
    *,
    tenant: str = "acme",
    seconds: float = 15.0,
) -> Post:
    """Poll GetPost until ``done(post)``; fails the test after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        post = (await stub.GetPost(pb.GetPostRequest(post_id=post_id), metadata=md(tenant))).post
        if done(post):
            return post
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"post {post_id} never got there; last seen: {post}")
        await asyncio.sleep(0.05)


def is_final(post: Post) -> bool:
    return post.status in (
        PostStatus.POST_STATUS_PUBLISHED,
        PostStatus.POST_STATUS_PARTLY_PUBLISHED,
        PostStatus.POST_STATUS_FAILED,
    )


ResultsReader = Callable[[int], Awaitable[list[EventEnvelope]]]


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> Settings:
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        consumer_group_prefix=f"{topic_prefix}resonanz",
        plugins="",
        publishing_port=0,
        metrics_port=0,
        dispatch_interval_seconds=0.1,
        watch_poll_interval_seconds=0.2,
        publish_max_attempts=4,
        publish_backoff_base_seconds=0.02,
        publish_backoff_max_seconds=0.2,
    )


@pytest.fixture
def testnet() -> TestNetwork:
    return TestNetwork()


@pytest.fixture
def othernet() -> TestNetwork:
    return TestNetwork("othernet", max_length=20, counting=TextCounting.UTF16_UNITS)


@pytest.fixture
async def running(settings: Settings, testnet: TestNetwork, othernet: TestNetwork) -> AsyncIterator[Running]:
    app = PublishingApp(settings, plugin_manager(testnet, othernet))
    await app.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = pb_grpc.PublishingServiceStub(channel)
            yield Running(app, stub, settings, {"testnet": testnet, "othernet": othernet})
    finally:
        await app.stop()


@pytest.fixture
async def read_results(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[ResultsReader]:
    """``await read_results(n)``: the first ``n`` envelopes on this test's ``publish.results`` topic."""
    consumer = AIOKafkaConsumer(
        topic_name("publish.results", topic_prefix),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=50,
    )
    started = False

    async def read(n: int, seconds: float = 15.0) -> list[EventEnvelope]:
        nonlocal started
        if not started:
            await consumer.start()
            started = True
        out: list[EventEnvelope] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while len(out) < n and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(EventEnvelope.FromString(r.value or b"") for r in records)
        return out

    try:
        yield read
    finally:
        if started:
            await consumer.stop()


pytestmark = pytest.mark.integration


async def count_posts(running: Running) -> int:
    async with session_factory(running.app.engine)() as session:
        return int((await session.execute(select(func.count()).select_from(PostRow))).scalar_one())


async def watch_all(running: Running, post_id: str, tenant: str = "acme") -> list[int]:
    """Every status WatchPost sends for ``post_id``, until the server ends the stream."""
    stream = running.stub.WatchPost(pb.WatchPostRequest(post_id=post_id), metadata=md(tenant))
    return [message.post.status async for message in stream]


async def test_three_targets_publish_once_each_and_watch_ends_published(
    running: Running, read_results: ResultsReader
) -> None:
    request = create_request(
        "Hallo Welt! Unser neues Produkt ist da #launch",
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    )
    request.variants.append(NetworkVariant(network="othernet", text="Kurz: neu! #launch"))
    created = (await running.stub.CreatePost(request, metadata=md())).post
    assert created.status == PostStatus.POST_STATUS_SCHEDULED
    assert [(t.network, t.account) for t in created.targets] == [
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    ]

    seen = await watch_all(running, created.id)
    assert seen[-1] == PostStatus.POST_STATUS_PUBLISHED
    assert len(seen) >= 2  # the post as it was, then at least its final state

    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    for target in post.targets:
        assert target.status == TargetStatus.TARGET_STATUS_PUBLISHED
        assert target.attempts == 1
        assert target.external_id
        assert target.url.startswith("https://")
        assert target.HasField("published_at")
    testnet, othernet = running.networks["testnet"], running.networks["othernet"]
    assert testnet.accepted == {f"{created.id}:testnet:@acme": 1, f"{created.id}:testnet:@acme_de": 1}
    assert othernet.accepted == {f"{created.id}:othernet:@acme": 1}
    # The variant went to its network, the default text elsewhere.
    assert othernet.texts[f"{created.id}:othernet:@acme"] == "Kurz: neu! #launch"
    assert testnet.texts[f"{created.id}:testnet:@acme"] == request.text

    results = await read_results(3)
    assert len(results) == 3
    payloads = [r.publish_result for r in results]
    assert {(p.network, p.account) for p in payloads} == {
        ("testnet", "@acme"),
        ("testnet", "@acme_de"),
        ("othernet", "@acme"),
    }
    for envelope, payload in zip(results, payloads, strict=True):
        assert envelope.tenant == "acme"
        assert envelope.type == PublishResult.DESCRIPTOR.full_name
        assert payload.post_id == created.id
        assert payload.status == TargetStatus.TARGET_STATUS_PUBLISHED
        assert payload.attempts == 1


async def test_redelivered_request_publishes_once(running: Running) -> None:
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    await wait_for_post(running.stub, created.id, is_final)
    key = f"{created.id}:testnet:@acme"
    request = PublishRequested(
        post_id=created.id,
        network="testnet",
        account="@acme",
        text="Hallo Welt! #launch",
        idempotency_key=key,
    )
    envelope = new_envelope("acme", request)
    async with EventProducer(
        running.settings.kafka_bootstrap, prefix=running.settings.topic_prefix
    ) as producer:
        # The same event twice (a redelivery) and a new event for the same target (a re-send).
        await producer.publish(Topic.PUBLISH_REQUESTS, envelope, key="testnet:@acme")
        await producer.publish(Topic.PUBLISH_REQUESTS, envelope, key="testnet:@acme")
        await producer.publish(Topic.PUBLISH_REQUESTS, new_envelope("acme", request), key="testnet:@acme")
    # A later post on the same account (same key, same partition) is handled after the duplicates.
    later = (await running.stub.CreatePost(create_request("Noch einer"), metadata=md())).post
    await wait_for_post(running.stub, later.id, is_final)

    testnet = running.networks["testnet"]
    assert testnet.accepted[key] == 1
    assert testnet.calls.count(key) == 1
    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert post.targets[0].attempts == 1


async def test_rate_limited_then_published(running: Running) -> None:
    testnet = running.networks["testnet"]
    testnet.faults = [RateLimitedError("testnet", "slow down", retry_after=0.05) for _ in range(3)]
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert post.targets[0].attempts == 4
    key = f"{created.id}:testnet:@acme"
    assert testnet.calls.count(key) == 4
    assert testnet.accepted[key] == 1


async def test_gives_up_after_max_attempts_and_permanent_errors_fail_at_once(running: Running) -> None:
    testnet, othernet = running.networks["testnet"], running.networks["othernet"]
    testnet.faults = [RateLimitedError("testnet", "slow down") for _ in range(10)]
    othernet.faults = [PermanentNetworkError("othernet", "content refused")]
    created = (
        await running.stub.CreatePost(
            create_request("Hi", ("testnet", "@a"), ("othernet", "@b")), metadata=md()
        )
    ).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_FAILED
    by_network = {t.network: t for t in post.targets}
    assert by_network["testnet"].status == TargetStatus.TARGET_STATUS_FAILED
    assert by_network["testnet"].attempts == running.settings.publish_max_attempts
    assert "gave up after 4 attempts" in by_network["testnet"].error
    assert "slow down" in by_network["testnet"].error
    assert by_network["othernet"].status == TargetStatus.TARGET_STATUS_FAILED
    assert by_network["othernet"].attempts == 1
    assert by_network["othernet"].error == "content refused"

    # One target fails, one succeeds: PARTLY_PUBLISHED.
    testnet.faults = []
    othernet.faults = [PermanentNetworkError("othernet", "content refused")]
    created = (
        await running.stub.CreatePost(
            create_request("Hi", ("testnet", "@a"), ("othernet", "@b")), metadata=md()
        )
    ).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PARTLY_PUBLISHED


async def test_expired_credentials_are_refreshed_once(running: Running) -> None:
    testnet = running.networks["testnet"]
    testnet.valid_token = "fresh"
    created = (await running.stub.CreatePost(create_request(), metadata=md())).post
    post = await wait_for_post(running.stub, created.id, is_final)
    assert post.status == PostStatus.POST_STATUS_PUBLISHED
    assert testnet.refreshed == 1
    assert post.targets[0].attempts == 2


async def test_validation_errors_name_the_field_and_write_nothing(running: Running) -> None:
    cases: list[tuple[pb.CreatePostRequest, str, str]] = [
        (pb.CreatePostRequest(text="Hallo"), "targets", "at least one"),
        (create_request("Hallo", ("testnet", "@a"), ("nowhere", "@b")), "targets[1].network", "nowhere"),
        (create_request("x" * 281), "text", "testnet"),
        (create_request("Hallo", ("testnet", "")), "targets[0].account", "empty"),
    ]
    too_long_variant = create_request("Hallo", ("testnet", "@a"), ("othernet", "@b"))
    too_long_variant.variants.append(NetworkVariant(network="othernet", text="🎉" * 11))  # 22 UTF-16 units
    cases.append((too_long_variant, "variants[0].text", "othernet"))
    for request, field_path, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.stub.CreatePost(request, metadata=md())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        violations = field_violations(info.value)
        assert any(v.field == field_path and words in v.description for v in violations), violations
    assert await count_posts(running) == 0
    async with session_factory(running.app.engine)() as session:
        assert (await session.execute(select(func.count()).select_from(OutboxRow))).scalar_one() == 0

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.CreatePost(create_request())  # no tenant
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_create_post_is_idempotent_per_tenant(running: Running) -> None:
    first = (await running.stub.CreatePost(create_request(key="launch-1"), metadata=md())).post
    again = (await running.stub.CreatePost(create_request(key="launch-1"), metadata=md())).post
    assert again.id == first.id
    assert again.idempotency_key == "launch-1"
    concurrent = await asyncio.gather(
        *(running.stub.CreatePost(create_request(key="launch-2"), metadata=md()) for _ in range(5))
    )
    assert len({r.post.id for r in concurrent}) == 1
    other_tenant = (await running.stub.CreatePost(create_request(key="launch-1"), metadata=md("globex"))).post
    assert other_tenant.id != first.id
    assert await count_posts(running) == 3
    await wait_for_post(running.stub, first.id, is_final)
    assert running.networks["testnet"].accepted[f"{first.id}:testnet:@acme"] == 1


async def test_tenants_cannot_see_each_others_posts(running: Running) -> None:
    created = (await running.stub.CreatePost(create_request(), metadata=md("acme"))).post
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md("globex"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await watch_all(running, created.id, "globex")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await running.stub.ListPosts(pb.ListPostsRequest(), metadata=md("globex"))
    assert list(listed.posts) == []
    mine = await running.stub.ListPosts(pb.ListPostsRequest(), metadata=md("acme"))
    assert [p.id for p in mine.posts] == [created.id]


async def test_list_posts_pages_newest_first_and_filters(running: Running) -> None:
    ids = []
    for i in range(5):
        post = (
            await running.stub.CreatePost(
                create_request(f"Post {i}", campaign="spring" if i % 2 == 0 else ""), metadata=md()
            )
        ).post
        ids.append(post.id)
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await running.stub.ListPosts(pb.ListPostsRequest(page_size=2, page_token=token), metadata=md())
        pages.append([p.id for p in page.posts])
        token = page.next_page_token
        if not token:
            break
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]

    spring = await running.stub.ListPosts(pb.ListPostsRequest(campaign_id="spring"), metadata=md())
    assert [p.id for p in spring.posts] == [ids[4], ids[2], ids[0]]

    for post_id in ids:
        await wait_for_post(running.stub, post_id, is_final)
    published = await running.stub.ListPosts(
        pb.ListPostsRequest(status=PostStatus.POST_STATUS_PUBLISHED), metadata=md()
    )
    assert len(published.posts) == 5
    failed = await running.stub.ListPosts(
        pb.ListPostsRequest(status=PostStatus.POST_STATUS_FAILED), metadata=md()
    )
    assert list(failed.posts) == []

    for bad in (pb.ListPostsRequest(page_token="not-a-token"), pb.ListPostsRequest(page_size=-1)):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await running.stub.ListPosts(bad, metadata=md())
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(info.value)} & {"page_token", "page_size"}


async def test_scheduled_post_waits_until_due(running: Running) -> None:
    request = create_request()
    request.scheduled_at.GetCurrentTime()
    request.scheduled_at.seconds += 3600
    created = (await running.stub.CreatePost(request, metadata=md())).post
    await asyncio.sleep(0.5)  # several dispatcher ticks
    post = (await running.stub.GetPost(pb.GetPostRequest(post_id=created.id), metadata=md())).post
    assert post.status == PostStatus.POST_STATUS_SCHEDULED
    assert post.targets[0].status == TargetStatus.TARGET_STATUS_PENDING
    assert running.networks["testnet"].calls == []
