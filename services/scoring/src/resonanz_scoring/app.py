"""``ScoringApp``: the scoring role, as its console script and the embedded runner start it.

``RESONANZ_SCORING_ROLES`` picks the parts one process runs: ``api`` (ScoringService) and ``worker``
(the ``mentions.raw`` consumer). Every process serves gRPC health and reflection on the scoring port,
whatever its roles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc.aio
from resonanz.scoring.v1 import scoring_service_pb2_grpc
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import (
    EventConsumer,
    EventProducer,
    InMemoryProcessedEvents,
    Topic,
    ensure_topics,
    kafka_client_options,
)
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.roles import parse_roles
from resonanz_sdk.settings import Settings

from resonanz_scoring.api import SERVICE_NAME, ScoringServicer
from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.lexicon import LexiconScorer
from resonanz_scoring.models import metadata
from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.worker import ScoringWorker

log = logging.getLogger(__name__)

#: Topics this role reads or writes (``ensure_topics`` also creates their ``.dlq``).
TOPICS = (Topic.MENTIONS_RAW, Topic.MENTIONS_SCORED)
#: Values of ``RESONANZ_SCORING_ROLES``.
ROLES = ("api", "worker")


class ScoringApp:
    """Consumes ``mentions.raw``, stores scores, emits ``mentions.scored``, answers ScoringService."""

    name = "scoring"

    def __init__(self, settings: Settings, plugins: PluginManager) -> None:
        self.settings = settings
        self.plugins = plugins  # scorer plugins come in a later issue
        self.roles = parse_roles(settings.scoring_roles, allowed=ROLES, variable="RESONANZ_SCORING_ROLES")
        self._engine = create_engine(settings.database_url_for(self.name))
        self._producer: EventProducer | None = None
        self._consumer: EventConsumer | None = None
        self._server: GrpcServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def grpc_port(self) -> int:
        return self._server.port if self._server is not None else 0

    @property
    def group_id(self) -> str:
        return f"{self.settings.consumer_group_prefix}.{self.name}.mentions"

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        kafka = kafka_client_options(settings)
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        if "worker" in self.roles:
            await ensure_topics(
                settings.kafka_bootstrap, TOPICS, prefix=settings.topic_prefix, client_options=kafka
            )
            scorer = MentionScorer(await asyncio.to_thread(LanguageIdentifierService), LexiconScorer())
            self._producer = EventProducer(
                settings.kafka_bootstrap,
                client_id="resonanz-scoring",
                prefix=settings.topic_prefix,
                client_options=kafka,
            )
            await self._producer.start()
            worker = ScoringWorker(scorer, ScoreStore(self._engine), self._producer)
            self._consumer = EventConsumer(
                settings.kafka_bootstrap,
                group_id=self.group_id,
                topics=[Topic.MENTIONS_RAW],
                handler=worker.handle,
                producer=self._producer,
                prefix=settings.topic_prefix,
                dedupe=InMemoryProcessedEvents(),
                client_id="resonanz-scoring",
                client_options=kafka,
            )
            await self._consumer.start()
            self._task = asyncio.create_task(self._consume(self._consumer), name="scoring-consumer")
        register = _no_services
        if "api" in self.roles:
            servicer = ScoringServicer(self._engine)

            def register(server: grpc.aio.Server) -> None:
                scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, server)

        self._server = GrpcServer(
            host=settings.grpc_host,
            port=settings.scoring_port,
            services=[SERVICE_NAME] if "api" in self.roles else [],
            register=register,
            name=self.name,
        )
        await self._server.start()

    async def _consume(self, consumer: EventConsumer) -> None:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the mentions.raw consumer stopped")
            if self._server is not None:
                await self._server.set_serving(False)  # a liveness probe restarts the process
            raise

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._engine.dispose()


def _no_services(server: grpc.aio.Server) -> None:
    """A process without the api role serves only gRPC health and reflection."""
