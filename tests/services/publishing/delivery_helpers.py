"""Shared by the delivery tests (dispatch, rate limits, deferred retries, crash, delete).

* :func:`open_engine`: an engine on a fresh database with every publishing table.
* :func:`insert_post`: a SCHEDULED post with due targets, written directly (no gRPC, no store), so
  the delivery tests depend only on the tables.
* :class:`ClockedNetwork`: an in-memory network that timestamps every call, raises queued faults,
  remembers posts by idempotency key, replies and deletes; its manifest may carry rate limits.
* :class:`RedisNetwork`: a network whose posts live in the real Redis on 127.0.0.1:6379, so a worker
  process can be SIGKILLed and another process still sees what the network accepted.
* :class:`Pipeline`: dispatcher + outbox relay + EventConsumer + PublishWorker against the real broker,
  wired like the app with every delivery collaborator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.dedupe import DatabaseProcessedEvents
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.models import Base, PostRow, TargetRow
from resonanz_publishing.outbox import OutboxRelay
from resonanz_publishing.ratelimit import RateLimiter
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import AuthenticationFailedError, NetworkError
from resonanz_sdk.eventbus import EventConsumer, EventProducer, Topic, ensure_topics
from resonanz_sdk.manifest import Feature, Manifest, RateLimit, TextRules
from resonanz_sdk.network import AccountRef, Credentials, Network, OutgoingPost, PublishedPost
from resonanz_sdk.plugins import PluginManager, hookimpl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

REDIS_HOST = os.environ.get("RESONANZ_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("RESONANZ_TEST_REDIS_PORT", "6379"))


@contextlib.asynccontextmanager
async def open_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


async def insert_post(
    engine: AsyncEngine,
    targets: Sequence[tuple[str, str]] = (("clocked", "@acme"),),
    *,
    tenant: str = "acme",
    text: str = "Hallo Welt",
    due_at: datetime | None = None,
    status: int = PostStatus.POST_STATUS_SCHEDULED,
    campaign_id: str = "",
    in_reply_to: str = "",
    media: list[dict[str, object]] | None = None,
) -> str:
    """A post with PENDING targets due at ``due_at`` (default: now); its id."""
    now = datetime.now(UTC)
    due = due_at or now
    post = PostRow(
        id=uuid.uuid4().hex,
        tenant=tenant,
        text=text,
        media=media or [],
        variants=[],
        campaign_id=campaign_id,
        labels=[],
        status=status,
        scheduled_at=due,
        created_at=now,
        updated_at=now,
        in_reply_to=in_reply_to,
    )
    post.targets = [
        TargetRow(
            tenant=tenant,
            position=i,
            network=network,
            account=account,
            status=TargetStatus.TARGET_STATUS_PENDING,
            attempts=0,
            updated_at=now,
            scheduled_at=due,
            due_at=due if status == PostStatus.POST_STATUS_SCHEDULED else None,
        )
        for i, (network, account) in enumerate(targets)
    ]
    async with session_factory(engine).begin() as session:
        session.add(post)
    return post.id


async def targets_of(engine: AsyncEngine, post_id: str) -> list[TargetRow]:
    async with session_factory(engine)() as session:
        stmt = select(TargetRow).where(TargetRow.post_id == post_id).order_by(TargetRow.position)
        return list((await session.execute(stmt)).scalars())


async def post_of(engine: AsyncEngine, post_id: str) -> PostRow:
    async with session_factory(engine)() as session:
        row: PostRow = (await session.execute(select(PostRow).where(PostRow.id == post_id))).scalar_one()
        return row


async def wait_until(check: Callable[[], object], seconds: float = 30.0, what: str = "condition") -> None:
    """Poll an async (or plain) ``check`` until it is truthy."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class ClockedNetwork(Network):
    """In memory; ``faults`` are raised by the next calls of ``publish``/``reply``/``delete`` in order.

    ``calls`` holds ``(operation, idempotency key or external id, time.time(), outcome)`` of every call.
    """

    __test__ = False

    def __init__(
        self,
        name: str = "clocked",
        *,
        rate_limits: tuple[RateLimit, ...] = (),
        valid_token: str = "",
        refresh_to: str | None = None,
    ) -> None:
        self._manifest = Manifest(
            network=name,
            display_name=name.title(),
            features=frozenset({Feature.PUBLISH, Feature.REPLY, Feature.DELETE, Feature.LOOKUP_PUBLISHED}),
            text=TextRules(max_length=500),
            rate_limits=rate_limits,
        )
        self.faults: list[NetworkError] = []
        self.calls: list[tuple[str, str, float, str]] = []
        self.accepted: Counter[str] = Counter()
        self.posts: dict[str, PublishedPost] = {}
        self.outgoing: dict[str, OutgoingPost] = {}
        self.deleted: list[str] = []
        self.valid_token = valid_token
        #: What ``refresh_credentials`` hands out; ``None``: it fails.
        self.refresh_to = refresh_to
        self.refreshed = 0
        self.seen_tokens: list[str] = []

    @property
    def manifest(self) -> Manifest:
        return self._manifest

    def _check(self, operation: str, key: str, account: AccountRef) -> None:
        self.seen_tokens.append(account.credentials.get("token"))
        if self.valid_token and account.credentials.get("token") != self.valid_token:
            self.calls.append((operation, key, time.time(), "auth"))
            raise AuthenticationFailedError(self.name, "token expired")
        if self.faults:
            fault = self.faults.pop(0)
            retry_after = getattr(fault, "retry_after", None)
            self.calls.append((operation, key, time.time(), f"{type(fault).__name__}:{retry_after or 0}"))
            raise fault

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        await asyncio.sleep(0)
        self._check("publish", post.idempotency_key, account)
        return self._accept("publish", account, post)

    async def reply(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        await asyncio.sleep(0)
        self._check("reply", post.idempotency_key, account)
        return self._accept("reply", account, post)

    def _accept(self, operation: str, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        self.calls.append((operation, post.idempotency_key, time.time(), "ok"))
        self.accepted[post.idempotency_key] += 1
        external_id = uuid.uuid4().hex[:12]
        published = PublishedPost(
            external_id, f"https://{self.name}.example/{external_id}", datetime.now(UTC)
        )
        self.posts[post.idempotency_key] = published
        self.outgoing[post.idempotency_key] = post
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        return self.posts.get(idempotency_key)

    async def delete(self, account: AccountRef, external_id: str) -> None:
        await asyncio.sleep(0)
        self._check("delete", external_id, account)
        self.calls.append(("delete", external_id, time.time(), "ok"))
        self.deleted.append(external_id)

    async def refresh_credentials(self, account: AccountRef) -> Credentials:
        self.refreshed += 1
        if self.refresh_to is None:
            raise AuthenticationFailedError(self.name, "refresh token revoked")
        return Credentials({"token": self.refresh_to})

    def call_times(self, key: str, operation: str = "publish") -> list[tuple[float, str]]:
        return [(t, outcome) for op, k, t, outcome in self.calls if k == key and op == operation]


class _Plugin:
    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = list(networks)

    @hookimpl
    def register_networks(self, register: Callable[[Network], None]) -> None:
        for network in self._networks:
            register(network)


def plugins_of(*networks: Network) -> PluginManager:
    pm = PluginManager(allowed=[])
    pm.register(_Plugin(networks), name="delivery-tests")
    return pm


# -- Redis ---------------------------------------------------------------------------------------


class Redis:
    """The few RESP commands the crash test needs, over one asyncio connection (no client library)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str = REDIS_HOST, port: int = REDIS_PORT) -> Redis:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def command(self, *args: str | int) -> object:
        parts = [str(a).encode() for a in args]
        payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        async with self._lock:
            self._writer.write(payload)
            await self._writer.drain()
            return await self._read()

    async def _read(self) -> object:
        line = (await self._reader.readline()).rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(f"redis: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = await self._reader.readexactly(size + 2)
            return data[:-2].decode()
        if kind == b"*":
            return [await self._read() for _ in range(int(rest))]
        raise RuntimeError(f"redis: unexpected reply {line!r}")


class RedisNetwork(Network):
    """Posts live in Redis under ``<namespace>:post:<idempotency key>``.

    ``<namespace>:accepted:<key>`` counts publish calls that created a post (every call does: this
    network does not de-duplicate). With ``hang_after_accept`` the publish call never returns once the
    post is stored (and ``<namespace>:accepted-signal`` is set), so its process can be killed "after the
    network took the post and before the worker recorded it".
    """

    def __init__(self, namespace: str, *, hang_after_accept: bool = False) -> None:
        self.namespace = namespace
        self.hang_after_accept = hang_after_accept
        self._redis: Redis | None = None

    @property
    def manifest(self) -> Manifest:
        return Manifest(
            network="redisnet",
            display_name="Redis network",
            features=frozenset({Feature.PUBLISH, Feature.LOOKUP_PUBLISHED}),
            text=TextRules(max_length=500),
        )

    async def _conn(self) -> Redis:
        if self._redis is None:
            self._redis = await Redis.connect()
        return self._redis

    async def publish(self, account: AccountRef, post: OutgoingPost) -> PublishedPost:
        redis = await self._conn()
        published = PublishedPost(uuid.uuid4().hex[:12], "https://redisnet.example/p", datetime.now(UTC))
        value = json.dumps({"external_id": published.external_id, "url": published.url})
        # No de-duplication on the network's side: a second publish would be a second post.
        await redis.command("SET", f"{self.namespace}:post:{post.idempotency_key}", value)
        await redis.command("INCR", f"{self.namespace}:accepted:{post.idempotency_key}")
        if self.hang_after_accept:
            await redis.command("SET", f"{self.namespace}:accepted-signal", post.idempotency_key)
            await asyncio.Event().wait()  # killed here
        return published

    async def find_published(self, account: AccountRef, idempotency_key: str) -> PublishedPost | None:
        redis = await self._conn()
        raw = await redis.command("GET", f"{self.namespace}:post:{idempotency_key}")
        if raw is None:
            return None
        data = json.loads(str(raw))
        return PublishedPost(data["external_id"], data["url"], datetime.now(UTC))

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.close()
            self._redis = None


# -- the delivery pipeline ----------------------------------------------------------------------


@dataclass
class Pipeline:
    """Dispatcher, outbox relay and one worker consumer, running until :meth:`stop`."""

    engine: AsyncEngine
    worker: PublishWorker
    dispatcher: Dispatcher
    relay: OutboxRelay
    producer: EventProducer
    consumer: EventConsumer
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(
        cls,
        engine: AsyncEngine,
        plugins: PluginManager,
        *,
        bootstrap: str,
        prefix: str,
        policy: BackoffPolicy,
        inline_retry_max_seconds: float,
        accounts: AccountStore | None = None,
        limiter: RateLimiter | None = None,
        tick: float = 0.05,
    ) -> Pipeline:
        await ensure_topics(bootstrap, [Topic.PUBLISH_REQUESTS, Topic.PUBLISH_RESULTS], prefix=prefix)
        producer = EventProducer(bootstrap, prefix=prefix)
        await producer.start()
        worker = PublishWorker(
            TargetLedger(engine),
            plugins,
            policy,
            accounts=accounts,
            limiter=limiter,
            inline_retry_max_seconds=inline_retry_max_seconds,
        )
        consumer = EventConsumer(
            bootstrap,
            group_id=f"{prefix}delivery.worker",
            topics=[Topic.PUBLISH_REQUESTS],
            handler=worker.handle_batch,
            producer=producer,
            prefix=prefix,
            max_batch=50,
            dedupe=DatabaseProcessedEvents(engine),
        )
        await consumer.start()
        pipeline = cls(
            engine, worker, Dispatcher(engine), OutboxRelay(engine, producer.publish_many), producer, consumer
        )
        pipeline.tasks = [
            asyncio.create_task(pipeline._tick(tick)),
            asyncio.create_task(consumer.run()),
        ]
        return pipeline

    async def _tick(self, seconds: float) -> None:
        while True:
            await self.dispatcher.dispatch_due()
            await self.relay.relay_all()
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        await self.consumer.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.producer.stop()
