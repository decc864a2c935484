"""The publishing service as one runnable unit: gRPC API, dispatcher, outbox relay and publish worker.

``PublishingApp(settings, plugins)`` implements :class:`resonanz_sdk.service.ServiceApp`; its console
script is ``resonanz-publishing`` and the embedded platform starts it next to the other roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from resonanz.publishing.v1 import publishing_service_pb2, publishing_service_pb2_grpc
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.eventbus import EventConsumer, EventProducer, Topic, ensure_topics
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.dedupe import DatabaseProcessedEvents
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.notifier import ChangeNotifier, wait_for_change
from resonanz_publishing.outbox import OutboxRelay
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.servicer import PublishingServicer
from resonanz_publishing.store import PostStore
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker

log = logging.getLogger(__name__)

SERVICE_NAME = publishing_service_pb2.DESCRIPTOR.services_by_name["PublishingService"].full_name
TOPICS = (Topic.PUBLISH_REQUESTS, Topic.PUBLISH_RESULTS)


class PublishingApp:
    name = "publishing"

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        self.notifier = ChangeNotifier()
        self._engine: AsyncEngine | None = None
        self._producer: EventProducer | None = None
        self._consumer: EventConsumer | None = None
        self._server: GrpcServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatch_wake = asyncio.Event()
        self._relay_wake = asyncio.Event()
        self.dispatcher: Dispatcher | None = None
        self.relay: OutboxRelay | None = None

    @property
    def grpc_port(self) -> int:
        return self._server.port if self._server is not None else 0

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the publishing app is not started")
        return self._engine

    async def start(self) -> None:
        s = self.settings
        if not s.kafka_bootstrap:
            raise ConfigurationError("the publishing service needs RESONANZ_KAFKA_BOOTSTRAP")
        try:
            await self._start(s)
        except BaseException:
            await self.stop()
            raise
        log.info("publishing service serving gRPC on %s:%d", s.grpc_host, self.grpc_port)

    async def _start(self, s: Settings) -> None:
        self._engine = engine = create_engine(s.database_url_for(self.name))
        store = PostStore(engine)
        await store.create_tables()
        await ensure_topics(s.kafka_bootstrap, [str(t) for t in TOPICS], prefix=s.topic_prefix)

        self._producer = producer = EventProducer(
            s.kafka_bootstrap, client_id="resonanz-publishing", prefix=s.topic_prefix
        )
        await producer.start()
        self.relay = OutboxRelay(engine, producer.publish_many)
        self.dispatcher = Dispatcher(engine)
        worker = PublishWorker(
            TargetLedger(engine),
            self.plugins,
            BackoffPolicy(
                max_attempts=s.publish_max_attempts,
                base_seconds=s.publish_backoff_base_seconds,
                max_seconds=s.publish_backoff_max_seconds,
            ),
            notifier=self.notifier,
            on_staged=self._relay_wake.set,
        )
        self._consumer = consumer = EventConsumer(
            s.kafka_bootstrap,
            group_id=f"{s.consumer_group_prefix}.publishing.worker",
            topics=[Topic.PUBLISH_REQUESTS],
            handler=worker.handle_batch,
            producer=producer,
            prefix=s.topic_prefix,
            max_batch=100,
            dedupe=DatabaseProcessedEvents(engine),
        )
        await consumer.start()

        servicer = PublishingServicer(
            store,
            self.plugins,
            self.notifier,
            watch_poll_interval=s.watch_poll_interval_seconds,
            on_created=self._dispatch_wake.set,
        )
        self._server = GrpcServer(
            host=s.grpc_host,
            port=s.publishing_port,
            services=[SERVICE_NAME],
            register=lambda server: publishing_service_pb2_grpc.add_PublishingServiceServicer_to_server(
                servicer, server
            ),
            name=self.name,
        )
        self._tasks = [
            asyncio.create_task(self._loop("dispatcher", self._dispatch_once, self._dispatch_wake)),
            asyncio.create_task(self._loop("outbox relay", self._relay_once, self._relay_wake)),
            asyncio.create_task(consumer.run(), name="publishing worker"),
        ]
        await self._server.start()

    async def _dispatch_once(self) -> None:
        if self.dispatcher is None:
            return
        post_ids = await self.dispatcher.dispatch_once()
        if post_ids:
            self._relay_wake.set()
            for post_id in post_ids:
                self.notifier.notify(post_id)

    async def _relay_once(self) -> None:
        if self.relay is not None:
            await self.relay.relay_all()

    async def _loop(self, what: str, step: Callable[[], Awaitable[None]], wake: asyncio.Event) -> None:
        """Run ``step`` every dispatch interval, or at once when ``wake`` is set; log and go on on errors."""
        while True:
            wake.clear()
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publishing %s failed; retrying on the next tick", what)
            await wait_for_change(wake, self.settings.dispatch_interval_seconds)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2.0)
        if self._consumer is not None:
            await self._consumer.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await self.relay.relay_all()  # send what the last transactions staged
        if self._producer is not None:
            await self._producer.stop()
        if self._engine is not None:
            await self._engine.dispose()
        self._server = self._consumer = self._producer = None
        self._engine = None
        self.relay = self.dispatcher = None
