"""The publishing service as one runnable unit: the gRPC API (posts, accounts, workspace, media), the
dispatcher, the outbox relay, the publish worker and the sweeper.

``RESONANZ_PUBLISHING_ROLES`` picks the parts one process runs: ``api`` (the four gRPC services),
``dispatcher`` (dispatcher, outbox relay, sweeper) and ``worker`` (the ``publish.requests`` consumer and
an outbox relay for the results it stages; relays may run in any number of processes). Every process
serves gRPC health and reflection on the publishing port, whatever its roles.

``PublishingApp(settings, plugins)`` implements :class:`resonanz_sdk.service.ServiceApp`; its console
script is ``resonanz-publishing`` and the embedded platform starts it next to the other roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import grpc.aio
from resonanz.publishing.v1 import (
    account_service_pb2,
    account_service_pb2_grpc,
    media_service_pb2,
    media_service_pb2_grpc,
    publishing_service_pb2,
    publishing_service_pb2_grpc,
    workspace_service_pb2,
    workspace_service_pb2_grpc,
)
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.eventbus import EventConsumer, EventProducer, Topic, ensure_topics, kafka_client_options
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.roles import parse_roles
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.access import AccessControl
from resonanz_publishing.account_servicer import AccountServicer
from resonanz_publishing.accounts import AccountStore
from resonanz_publishing.audit import AuditLog
from resonanz_publishing.campaigns import CampaignStore
from resonanz_publishing.comments import CommentStore
from resonanz_publishing.convert import now_utc
from resonanz_publishing.credentials import CredentialCipher
from resonanz_publishing.dedupe import DatabaseProcessedEvents
from resonanz_publishing.deletion import PublishedPostDeleter
from resonanz_publishing.dispatcher import Dispatcher
from resonanz_publishing.media_catalog import MediaCatalog
from resonanz_publishing.media_servicer import MediaServicer
from resonanz_publishing.media_store import media_store_from_settings
from resonanz_publishing.migrate import upgrade_database
from resonanz_publishing.notifier import ChangeNotifier, wait_for_change
from resonanz_publishing.outbox import OutboxRelay
from resonanz_publishing.queues import QueueStore, claim_next_free_slot
from resonanz_publishing.ratelimit import RateLimiter
from resonanz_publishing.retry import BackoffPolicy
from resonanz_publishing.servicer import PublishingServicer
from resonanz_publishing.store import PostStore
from resonanz_publishing.sweeper import Sweeper
from resonanz_publishing.targets import TargetLedger
from resonanz_publishing.worker import PublishWorker
from resonanz_publishing.workflow import PostWorkflow
from resonanz_publishing.workspace import MemberStore, PolicyStore
from resonanz_publishing.workspace_servicer import WorkspaceServicer

log = logging.getLogger(__name__)

SERVICE_NAME = publishing_service_pb2.DESCRIPTOR.services_by_name["PublishingService"].full_name
SERVICE_NAMES = (
    SERVICE_NAME,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
    workspace_service_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name,
    media_service_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name,
)
#: How often the sweeper recovers stale targets and prunes old rows.
SWEEP_INTERVAL_SECONDS = 30.0
TOPICS = (Topic.PUBLISH_REQUESTS, Topic.PUBLISH_RESULTS)
#: Values of ``RESONANZ_PUBLISHING_ROLES``.
ROLES = ("api", "dispatcher", "worker")


class PublishingApp:
    name = "publishing"

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        self.roles = parse_roles(
            settings.publishing_roles, allowed=ROLES, variable="RESONANZ_PUBLISHING_ROLES"
        )
        self.notifier = ChangeNotifier()
        self._engine: AsyncEngine | None = None
        self._producer: EventProducer | None = None
        self._consumer: EventConsumer | None = None
        self._server: GrpcServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatch_wake = asyncio.Event()
        self._relay_wake = asyncio.Event()
        self._sweep_wake = asyncio.Event()
        self.dispatcher: Dispatcher | None = None
        self.relay: OutboxRelay | None = None
        self.sweeper: Sweeper | None = None
        self.accounts: AccountStore | None = None

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
        log.info(
            "publishing service (%s) serving gRPC on %s:%d",
            ", ".join(role for role in ROLES if role in self.roles),
            s.grpc_host,
            self.grpc_port,
        )

    async def _start(self, s: Settings) -> None:
        roles = self.roles
        kafka = kafka_client_options(s)
        self._engine = engine = create_engine(s.database_url_for(self.name))
        await upgrade_database(engine)
        policy = BackoffPolicy(
            max_attempts=s.publish_max_attempts,
            base_seconds=s.publish_backoff_base_seconds,
            max_seconds=s.publish_backoff_max_seconds,
        )
        limiter = RateLimiter(engine)
        producer: EventProducer | None = None
        if roles & {"dispatcher", "worker"}:
            await ensure_topics(
                s.kafka_bootstrap, [str(t) for t in TOPICS], prefix=s.topic_prefix, client_options=kafka
            )
            self._producer = producer = EventProducer(
                s.kafka_bootstrap,
                client_id="resonanz-publishing",
                prefix=s.topic_prefix,
                client_options=kafka,
            )
            await producer.start()
            self.relay = OutboxRelay(engine, producer.publish_many)
            self._tasks.append(
                asyncio.create_task(self._loop("outbox relay", self._relay_once, self._relay_wake))
            )
        if "dispatcher" in roles:
            self.dispatcher = Dispatcher(engine)
            self.sweeper = Sweeper(engine, stale_after_seconds=s.publish_stale_after_seconds, limiter=limiter)
            self._tasks += [
                asyncio.create_task(self._loop("dispatcher", self._dispatch_once, self._dispatch_wake)),
                asyncio.create_task(
                    self._loop("sweeper", self._sweep_once, self._sweep_wake, SWEEP_INTERVAL_SECONDS)
                ),
            ]
        register: Callable[[grpc.aio.Server], None] = _no_services
        if roles & {"api", "worker"}:
            self.accounts = accounts = AccountStore(engine, CredentialCipher.from_settings(s))
            media = MediaCatalog(engine, media_store_from_settings(s), s.media_max_bytes)
            if producer is not None and "worker" in roles:
                worker = PublishWorker(
                    TargetLedger(engine),
                    self.plugins,
                    policy,
                    notifier=self.notifier,
                    on_staged=self._relay_wake.set,
                    accounts=accounts,
                    media=media,
                    limiter=limiter,
                    inline_retry_max_seconds=s.publish_inline_retry_max_seconds,
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
                    client_options=kafka,
                )
                await consumer.start()
                self._tasks.append(asyncio.create_task(self._consume(consumer), name="publishing worker"))
            if "api" in roles:
                register = self._api(s, policy, limiter, accounts, media)
        self._server = GrpcServer(
            host=s.grpc_host,
            port=s.publishing_port,
            services=list(SERVICE_NAMES) if "api" in roles else [],
            register=register,
            name=self.name,
        )
        await self._server.start()

    def _api(
        self,
        s: Settings,
        policy: BackoffPolicy,
        limiter: RateLimiter,
        accounts: AccountStore,
        media: MediaCatalog,
    ) -> Callable[[grpc.aio.Server], None]:
        """The servicers of the api role; returns what registers them on the gRPC server."""
        engine = self.engine
        access = AccessControl(engine)
        workflow = PostWorkflow(
            engine,
            self.plugins,
            self.notifier,
            accounts=accounts,
            media=media,
            policies=PolicyStore(engine),
            claim_slot=claim_next_free_slot,
            deleter=PublishedPostDeleter(engine, self.plugins, accounts, limiter, policy),
            on_scheduled=self._scheduled,
        )
        posts = PublishingServicer(
            store=PostStore(engine),
            workflow=workflow,
            access=access,
            comments=CommentStore(engine),
            audit=AuditLog(engine),
            notifier=self.notifier,
            watch_poll_interval=s.watch_poll_interval_seconds,
        )
        account_api = AccountServicer(accounts, QueueStore(engine), self.plugins, access)
        workspace_api = WorkspaceServicer(
            PolicyStore(engine), MemberStore(engine), CampaignStore(engine), access
        )
        media_api = MediaServicer(media, access)

        def register(server: grpc.aio.Server) -> None:
            publishing_service_pb2_grpc.add_PublishingServiceServicer_to_server(posts, server)
            account_service_pb2_grpc.add_AccountServiceServicer_to_server(account_api, server)
            workspace_service_pb2_grpc.add_WorkspaceServiceServicer_to_server(workspace_api, server)
            media_service_pb2_grpc.add_MediaServiceServicer_to_server(media_api, server)

        return register

    async def _dispatch_once(self) -> None:
        if self.dispatcher is None:
            return
        post_ids = await self.dispatcher.dispatch_due()
        if post_ids:
            self._relay_wake.set()
            for post_id in post_ids:
                self.notifier.notify(post_id)

    def _scheduled(self, due: datetime) -> None:
        """A post became SCHEDULED: wake the dispatcher when it is due already. A later post is left
        to the dispatcher's tick, which claims it within one dispatch interval of its due time, so
        creating posts for later does not cost a claim query each."""
        if due <= now_utc():
            self._dispatch_wake.set()

    async def _consume(self, consumer: EventConsumer) -> None:
        """Run the publish worker; if it dies, say NOT_SERVING so that a liveness probe restarts us."""
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the publish.requests consumer stopped")
            if self._server is not None:
                await self._server.set_serving(False)
            raise

    async def _sweep_once(self) -> None:
        if self.sweeper is not None:
            report = await self.sweeper.sweep_once()
            if report.requeued_publishing or report.requeued_queued:
                self._dispatch_wake.set()

    async def _relay_once(self) -> None:
        if self.relay is not None:
            await self.relay.relay_all()

    async def _loop(
        self,
        what: str,
        step: Callable[[], Awaitable[None]],
        wake: asyncio.Event,
        interval: float | None = None,
    ) -> None:
        """Run ``step`` every ``interval`` (default: the dispatch interval), or at once when ``wake`` is
        set; log and go on on errors."""
        while True:
            wake.clear()
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Cancelled inside a database call, which may surface as another error (e.g. a
                    # rollback of the invalidated connection): stop, do not loop on.
                    raise
                log.exception("publishing %s failed; retrying on the next tick", what)
            await wait_for_change(wake, interval or self.settings.dispatch_interval_seconds)

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
        self.sweeper = None
        self.accounts = None


def _no_services(server: grpc.aio.Server) -> None:
    """A process without the api role serves only gRPC health and reflection."""
