"""The listening role: tables, the ``mentions.raw`` topic, the collector loop and the gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from resonanz.listening.v1 import listening_service_pb2
from resonanz.listening.v1.listening_service_pb2_grpc import add_ListeningServiceServicer_to_server
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.errors import ConfigurationError
from resonanz_sdk.eventbus import EventConsumer, EventProducer, Topic, ensure_topics, kafka_client_options
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.network import Network
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_listening.backfill import BackfillRunner, build_runner
from resonanz_listening.collection_rpc import CollectionApi
from resonanz_listening.collector import Collector, build_collector
from resonanz_listening.engagement import EngagementTracker, Schedule, parse_schedule
from resonanz_listening.ingest import Ingestor
from resonanz_listening.migrate import upgrade_database
from resonanz_listening.outbox import OutboxRelay
from resonanz_listening.rate_budget import Budgets
from resonanz_listening.retention import RetentionPruner
from resonanz_listening.servicer import ListeningServicer
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import HistoryHooks, ListeningStore

log = logging.getLogger(__name__)

SERVICE_NAME: str = listening_service_pb2.DESCRIPTOR.services_by_name["ListeningService"].full_name


class ListeningApp:
    """Implements :class:`resonanz_sdk.service.ServiceApp` for the listening service."""

    name = "listening"

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins
        self._engine: AsyncEngine | None = None
        self._producer: EventProducer | None = None
        self._server: GrpcServer | None = None
        self._collector_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._signal = MentionSignal()
        self.collector: Collector | None = None
        # L1: historical backfill and the collection RPCs' dependencies.
        self.backfill_runner: BackfillRunner | None = None
        self._backfill_task: asyncio.Task[None] | None = None
        self.collection_api: CollectionApi | None = None
        # L2: mention history (retention pruner, engagement tracker and its publish.results consumer).
        self.engagement: EngagementTracker | None = None
        self.pruner: RetentionPruner | None = None
        self._history_hooks = HistoryHooks()
        self._engagement_consumer: EventConsumer | None = None
        self._history_tasks: list[asyncio.Task[None]] = []
        #: Set once the publish.results consumer has joined its group (own posts are tracked from then).
        self.engagement_consumer_ready = asyncio.Event()

    @property
    def grpc_port(self) -> int:
        return self._server.port if self._server is not None else 0

    async def start(self) -> None:
        settings = self.settings
        if not settings.kafka_bootstrap:
            raise ConfigurationError("the listening service needs RESONANZ_KAFKA_BOOTSTRAP")
        try:
            await self._start(settings)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, settings: Settings) -> None:
        kafka = kafka_client_options(settings)
        self._stopping = asyncio.Event()
        self._signal = MentionSignal()
        self._engine = create_engine(settings.database_url_for(self.name))
        await upgrade_database(self._engine)  # Alembic: migrates, or stamps a create_all database
        sessions = session_factory(self._engine)
        await ensure_topics(
            settings.kafka_bootstrap,
            [Topic.MENTIONS_RAW, Topic.ENGAGEMENT_UPDATES, Topic.PUBLISH_RESULTS],
            prefix=settings.topic_prefix,
            client_options=kafka,
        )
        self._producer = EventProducer(
            settings.kafka_bootstrap,
            client_id="resonanz-listening",
            prefix=settings.topic_prefix,
            client_options=kafka,
        )
        await self._producer.start()
        # With a stable RESONANZ_REPLICA_ID (the pod name on Kubernetes) a restarted replica takes
        # its own outbox claims back at once instead of waiting for them to expire.
        relay = OutboxRelay(sessions, self._producer, replica_id=settings.replica_id or None)
        resent = await relay.flush()  # events stored before a crash or stop are sent first
        if resent:
            log.info("sent %d mentions.raw events left unsent by the previous run", resent)
        store = ListeningStore(sessions)
        networks = self.plugins.networks
        self._start_history(settings, sessions, relay, networks)
        # L1: collection (leases, paging, budgets, streams) and historical backfill, one budget per network.
        ingestor = Ingestor(sessions, hooks=self._history_hooks)
        budgets = Budgets(networks)
        self.collector = build_collector(
            settings,
            sessions,
            store=store,
            ingestor=ingestor,
            relay=relay,
            networks=networks,
            signal=self._signal,
            budgets=budgets,
        )
        self.backfill_runner = build_runner(
            settings,
            sessions,
            replica_id=self.collector.leases.replica_id,
            ingestor=ingestor,
            relay=relay,
            networks=networks,
            budgets=budgets,
            signal=self._signal,
        )
        self.collection_api = CollectionApi(sessions, networks)
        self._collector_task = asyncio.create_task(
            self.collector.run(self._stopping), name="listening-collector"
        )
        self._backfill_task = asyncio.create_task(
            self.backfill_runner.run(self._stopping), name="listening-backfill"
        )
        servicer = ListeningServicer(
            store,
            networks,
            self._signal,
            sessions=sessions,
            poll_interval=settings.poll_interval_seconds,
            collection=self.collection_api,
        )
        self._server = GrpcServer(
            host=settings.grpc_host,
            port=settings.listening_port,
            services=[SERVICE_NAME],
            register=lambda server: add_ListeningServiceServicer_to_server(servicer, server),
            name=self.name,
        )
        await self._server.start()
        assert self._engagement_consumer is not None
        # Joining the consumer group takes seconds: it happens in the task, not in start().
        self._history_tasks.append(
            asyncio.create_task(
                self._consume_publish_results(self._engagement_consumer), name="listening-publish-results"
            )
        )

    async def _consume_publish_results(self, consumer: EventConsumer) -> None:
        """Track published posts; if the consumer dies, say NOT_SERVING so a liveness probe restarts us."""
        try:
            await consumer.start()
            self.engagement_consumer_ready.set()
            if not self._stopping.is_set():  # stop() may have come while the group was joined
                await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the publish.results consumer (engagement tracking) stopped")
            if self._server is not None:
                await self._server.set_serving(False)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    def _start_history(
        self, settings: Settings, sessions: Any, relay: OutboxRelay, networks: Mapping[str, Network]
    ) -> None:
        """L2: history hooks for the ingestor, the pruner and the engagement tracker (tasks start here)."""
        assert self._producer is not None
        self.engagement_consumer_ready = asyncio.Event()
        schedule = Schedule(parse_schedule(settings.engagement_schedule))
        self.engagement = EngagementTracker(
            sessions,
            networks,
            schedule=schedule,
            batch_size=settings.engagement_batch_size,
            claim_seconds=settings.engagement_claim_seconds,
            interval=settings.engagement_interval_seconds,
            track_mentions=settings.engagement_track_mentions,
        )
        retention = timedelta(days=settings.mention_retention_days)
        self._history_hooks = HistoryHooks(retention=retention, track=self.engagement.track_mentions)
        self.pruner = RetentionPruner(
            sessions,
            retention=retention,
            batch_size=settings.retention_batch_size,
            interval=settings.retention_interval_seconds,
        )
        self._engagement_consumer = EventConsumer(
            settings.kafka_bootstrap,
            group_id=f"{settings.consumer_group_prefix}.listening.engagement",
            topics=[Topic.PUBLISH_RESULTS],
            handler=self.engagement.handle_publish_results,
            producer=self._producer,
            prefix=settings.topic_prefix,
            client_id="resonanz-listening",
            client_options=kafka_client_options(settings),
        )
        self._history_tasks = [
            asyncio.create_task(
                self.engagement.run(self._stopping, relay.try_flush), name="listening-engagement"
            ),
            asyncio.create_task(self.pruner.run(self._stopping), name="listening-retention"),
        ]

    async def _stop_history(self) -> None:
        if self._engagement_consumer is not None:
            with contextlib.suppress(Exception):
                await self._engagement_consumer.stop()
            self._engagement_consumer = None
        for task in self._history_tasks:
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                log.warning("%s did not stop in time; cancelled", task.get_name())
            except Exception:
                log.exception("%s ended with an error", task.get_name())
        self._history_tasks = []

    async def stop(self) -> None:
        """Stop streams, the gRPC server and the collector (finishing its round); idempotent."""
        self._stopping.set()
        self._signal.close()
        if self._server is not None:
            await self._server.stop(grace=2.0)
        if self._collector_task is not None:
            try:
                await asyncio.wait_for(self._collector_task, timeout=30)
            except TimeoutError:
                log.warning("the collector did not finish its round in time; cancelled")
            except Exception:
                log.exception("the collector ended with an error")
            self._collector_task = None
            if self.collector is not None:
                await self.collector.shutdown()  # releases the leases at once
        if self._backfill_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._backfill_task, timeout=30)
            self._backfill_task = None
            if self.backfill_runner is not None:
                with contextlib.suppress(Exception):
                    await self.backfill_runner.release()  # another replica resumes the jobs at once
        await self._stop_history()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
