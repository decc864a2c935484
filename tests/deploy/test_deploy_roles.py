"""Process roles, as the Helm chart runs them: one Deployment per role, all on the same database and
broker. Real broker, SQLite shared between the processes (here: apps in one event loop), real gRPC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc
import grpc.aio
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr
from resonanz.common.v1 import mention_pb2
from resonanz.common.v1.content_pb2 import PostStatus
from resonanz.events.v1 import events_pb2
from resonanz.publishing.v1 import publishing_service_pb2 as pb
from resonanz.publishing.v1 import publishing_service_pb2_grpc as pb_grpc
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_publishing.app import PublishingApp
from resonanz_publishing.credentials import CredentialCipher
from resonanz_scoring.app import ScoringApp
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.eventbus import EventProducer, Topic, new_envelope, topic_name
from resonanz_sdk.grpc import tenant_metadata
from resonanz_sdk.manifest import Feature, Manifest, MediaKind, MediaRules, TextCounting, TextRules
from resonanz_sdk.network import AccountRef, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from resonanz_sdk.settings import Settings

pytestmark = pytest.mark.integration

TENANT = "acme"


class RolesNetwork(Network):
    """A network in memory that counts publish calls per idempotency key."""

    def __init__(self) -> None:
        self._manifest = Manifest(
            network="rolesnet",
            display_name="Rolesnet",
            features=frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
            text=TextRules(max_length=280, counting=TextCounting.CODE_POINTS),
            media=MediaRules(
                max_items=1, allowed=frozenset({MediaKind.IMAGE}), max_bytes={MediaKind.IMAGE: 1000}
            ),
        )
        self.calls: list[str] = []
        self.posts: dict[str, PublishedPost] = {}

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self.calls.append(post.idempotency_key)
        published = PublishedPost(
            external_id=uuid.uuid4().hex[:8],
            url=f"https://rolesnet.example/{account.handle}",
            published_at=datetime.now(UTC),
        )
        self.posts[post.idempotency_key] = published
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return self.posts.get(idempotency_key)


class _Plugin:
    def __init__(self, network: Network) -> None:
        self._network = network

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        register(self._network)


def plugins(network: Network) -> PluginManager:
    manager = PluginManager(allowed=[])
    manager.register(_Plugin(network), name="deploy-roles-tests")
    return manager


@pytest.fixture
def base(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Settings:
    """What every process of one deployment shares: broker, database, keys, topic prefix."""
    return Settings(
        data_dir=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        credential_keys=SecretStr(CredentialCipher.generate_key()),
        topic_prefix=topic_prefix,
        consumer_group_prefix=f"{topic_prefix}resonanz",
        plugins="",
        publishing_port=0,
        scoring_port=0,
        metrics_port=0,
        dispatch_interval_seconds=0.1,
        watch_poll_interval_seconds=0.2,
    )


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return int(response.status)


async def records(settings: Settings, topic: str) -> int:
    """How many records the logical ``topic`` holds (all partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        name = topic_name(topic, settings.topic_prefix)
        if name not in await consumer.topics():
            return 0
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        await consumer.stop()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Wait until ``check()`` is true; fails after ``within`` seconds, also when a check hangs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.wait_for(check(), max(deadline - loop.time(), 0.1)):
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def start_publishing(
    stack: AsyncExitStack, base: Settings, roles: str, network: RolesNetwork
) -> PublishingApp:
    app = PublishingApp(base.model_copy(update={"publishing_roles": roles}), plugins(network))
    await app.start()
    stack.push_async_callback(app.stop)
    return app


async def create_post(stack: AsyncExitStack, api: PublishingApp) -> tuple[pb_grpc.PublishingServiceStub, str]:
    assert api.accounts is not None
    await api.accounts.connect(TENANT, "rolesnet", "@acme", "", {"token": "t"}, "test")
    channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{api.grpc_port}"))
    stub = pb_grpc.PublishingServiceStub(channel)
    created = (
        await stub.CreatePost(
            pb.CreatePostRequest(text="Hallo", targets=[pb.TargetSpec(network="rolesnet", account="@acme")]),
            metadata=tenant_metadata(TENANT),
        )
    ).post
    assert created.status == PostStatus.POST_STATUS_SCHEDULED
    return stub, created.id


async def post_status(stub: pb_grpc.PublishingServiceStub, post_id: str) -> int:
    request = pb.GetPostRequest(post_id=post_id)
    return int((await stub.GetPost(request, metadata=tenant_metadata(TENANT), timeout=10)).post.status)


async def wait_published(base: Settings, stub: pb_grpc.PublishingServiceStub, post_id: str) -> None:
    async def published() -> bool:
        return await post_status(stub, post_id) == PostStatus.POST_STATUS_PUBLISHED

    async def result_sent() -> bool:
        return await records(base, Topic.PUBLISH_RESULTS) == 1

    await eventually(published)
    await eventually(result_sent)


async def test_an_api_process_dispatches_nothing_a_dispatcher_worker_publishes(
    base: Settings, stack: AsyncExitStack
) -> None:
    network = RolesNetwork()
    api = await start_publishing(stack, base, "api", network)
    assert (api.dispatcher, api.relay, api.sweeper) == (None, None, None)
    stub, post_id = await create_post(stack, api)
    # The api alone accepts the post but dispatches nothing: many dispatch intervals later it is
    # still SCHEDULED, and nothing reached publish.requests or the network.
    await asyncio.sleep(1.0)
    assert await post_status(stub, post_id) == PostStatus.POST_STATUS_SCHEDULED
    assert await records(base, Topic.PUBLISH_REQUESTS) == 0
    assert network.calls == []

    backend = await start_publishing(stack, base, "dispatcher, worker", network)
    assert await health(backend.grpc_port) == health_pb2.HealthCheckResponse.SERVING
    await wait_published(base, stub, post_id)
    assert network.calls == [f"{post_id}:rolesnet:@acme"]


async def test_dispatcher_and_worker_in_separate_processes(base: Settings, stack: AsyncExitStack) -> None:
    """The worker relays the results it stages itself: here no dispatcher runs any more when it does."""
    network = RolesNetwork()
    api = await start_publishing(stack, base, "api", network)
    stub, post_id = await create_post(stack, api)
    dispatcher = PublishingApp(base.model_copy(update={"publishing_roles": "dispatcher"}), plugins(network))
    await dispatcher.start()
    try:

        async def requested() -> bool:
            return await records(base, Topic.PUBLISH_REQUESTS) == 1

        await eventually(requested)
        await asyncio.sleep(0.5)
        assert network.calls == []  # no worker: nobody publishes
    finally:
        await dispatcher.stop()
    worker = await start_publishing(stack, base, "worker", network)
    assert (worker.dispatcher, worker.sweeper) == (None, None)
    assert worker.relay is not None
    await wait_published(base, stub, post_id)
    assert network.calls == [f"{post_id}:rolesnet:@acme"]


async def test_a_worker_only_process_serves_health_and_nothing_else(
    base: Settings, stack: AsyncExitStack
) -> None:
    worker = await start_publishing(stack, base, "worker", RolesNetwork())
    scoring = ScoringApp(base.model_copy(update={"scoring_roles": "worker"}), PluginManager(allowed=[]))
    await scoring.start()
    stack.push_async_callback(scoring.stop)
    for port, service in (
        (worker.grpc_port, "resonanz.publishing.v1.PublishingService"),
        (scoring.grpc_port, "resonanz.scoring.v1.ScoringService"),
    ):
        assert await health(port) == health_pb2.HealthCheckResponse.SERVING
        # The application service is neither served nor reported healthy.
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await health(port, service)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{worker.grpc_port}"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await pb_grpc.PublishingServiceStub(channel).GetPost(
            pb.GetPostRequest(post_id="x"), metadata=tenant_metadata(TENANT)
        )
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_scoring_roles_split_over_processes(base: Settings, stack: AsyncExitStack) -> None:
    api = ScoringApp(base.model_copy(update={"scoring_roles": "api"}), PluginManager(allowed=[]))
    await api.start()
    stack.push_async_callback(api.stop)
    channel = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{api.grpc_port}"))
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    assert await health(api.grpc_port, "resonanz.scoring.v1.ScoringService") == (
        health_pb2.HealthCheckResponse.SERVING
    )

    mention = mention_pb2.Mention(
        id="rolesnet:1",
        tenant=TENANT,
        network="rolesnet",
        external_id="1",
        text="Acme ist großartig, danke!",
        author=mention_pb2.Author(id="a", handle="anna", followers=10),
        labels=["acme"],
    )
    mention.published_at.FromDatetime(datetime.now(UTC))
    async with EventProducer(base.kafka_bootstrap, prefix=base.topic_prefix) as producer:
        await producer.publish(
            Topic.MENTIONS_RAW, new_envelope(TENANT, events_pb2.MentionCollected(mention=mention)), key="1"
        )

    async def scored() -> list[str]:
        response = await stub.ListScoredMentions(
            scoring_service_pb2.ListScoredMentionsRequest(label="acme"), metadata=tenant_metadata(TENANT)
        )
        return [s.mention.id for s in response.mentions]

    # The api alone consumes nothing.
    await asyncio.sleep(1.0)
    assert await scored() == []

    worker = ScoringApp(base.model_copy(update={"scoring_roles": "worker"}), PluginManager(allowed=[]))
    await worker.start()
    stack.push_async_callback(worker.stop)

    async def arrived() -> bool:
        return await scored() == ["rolesnet:1"]

    await eventually(arrived)


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("publishing_roles", "api,scheduler", "RESONANZ_PUBLISHING_ROLES"),
        ("publishing_roles", " , ", "RESONANZ_PUBLISHING_ROLES"),
        ("scoring_roles", "worker,dispatcher", "RESONANZ_SCORING_ROLES"),
        ("scoring_roles", "", "RESONANZ_SCORING_ROLES"),
    ],
)
def test_unknown_roles_are_refused_naming_the_variable(
    base: Settings, field: str, value: str, variable: str
) -> None:
    settings = base.model_copy(update={field: value})
    app = PublishingApp if field == "publishing_roles" else ScoringApp
    with pytest.raises(ConfigurationError) as info:
        app(settings, PluginManager(allowed=[]))
    message = str(info.value)
    assert variable in message
    assert ("scheduler" in message) or ("dispatcher" in message) or ("names no role" in message)


def test_roles_are_case_and_blank_tolerant(base: Settings) -> None:
    app = PublishingApp(
        base.model_copy(update={"publishing_roles": " API , Worker "}), PluginManager(allowed=[])
    )
    assert app.roles == {"api", "worker"}
    assert ScoringApp(base, PluginManager(allowed=[])).roles == {"api", "worker"}
