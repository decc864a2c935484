"""``ScoringApp``: the scoring role, as its console script and the embedded runner start it.

``RESONANZ_SCORING_ROLES`` picks the parts one process runs: ``api`` (ScoringService) and ``worker``
(the faust-streaming app: the ``mentions.raw`` and ``engagement.updates`` agents and every extension
of :data:`~resonanz_scoring.streams.extensions.EXTENSIONS`). Every process serves gRPC health and
reflection on the scoring port, whatever its roles; health turns NOT_SERVING when an agent fails in a
way it cannot dead-letter around (a liveness probe then restarts the process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc.aio
from resonanz.scoring.v1 import scoring_service_pb2_grpc
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics, kafka_client_options
from resonanz_sdk.grpc import GrpcServer
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.roles import parse_roles
from resonanz_sdk.settings import Settings

from resonanz_scoring.analytics.engagement import definition_for
from resonanz_scoring.api import SERVICE_NAME, ScoringServicer, build_servicer
from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.migrate import upgrade_database
from resonanz_scoring.scorer import MentionScorer, MetricsCalculator
from resonanz_scoring.sentiment_loader import load_sentiment_scorer
from resonanz_scoring.streams.extensions import EXTENSIONS, ExtensionSpec
from resonanz_scoring.streams.runtime import ScoringStreams

log = logging.getLogger(__name__)

#: Topics this role reads or writes (``ensure_topics`` also creates their ``.dlq``).
TOPICS = (
    Topic.MENTIONS_RAW,
    Topic.MENTIONS_SCORED,
    Topic.ENGAGEMENT_UPDATES,
    Topic.PUBLISH_REQUESTS,
    Topic.PUBLISH_RESULTS,
    Topic.ALERTS,
)
#: Values of ``RESONANZ_SCORING_ROLES``.
ROLES = ("api", "worker")


def build_scorer(settings: Settings, plugins: PluginManager) -> MentionScorer:
    """The scorer of this process: language id, the sentiment scorer ``RESONANZ_SENTIMENT_SCORER``
    names, and each loaded network's engagement definition (from its manifest)."""
    definitions = {name: definition_for(network.manifest) for name, network in plugins.networks.items()}
    return MentionScorer(
        LanguageIdentifierService(), load_sentiment_scorer(settings), MetricsCalculator(definitions)
    )


class ScoringApp:
    """Runs the scoring faust app and/or answers ScoringService, as the roles say."""

    name = "scoring"

    def __init__(
        self, settings: Settings, plugins: PluginManager, *, extensions: Sequence[ExtensionSpec] = EXTENSIONS
    ) -> None:
        self.settings = settings
        self.plugins = plugins
        self.extensions = extensions
        self.roles = parse_roles(settings.scoring_roles, allowed=ROLES, variable="RESONANZ_SCORING_ROLES")
        self._engine = create_engine(settings.database_url_for(self.name))
        self._producer: EventProducer | None = None
        self._server: GrpcServer | None = None
        self.scorer: MentionScorer | None = None
        self.streams: ScoringStreams | None = None
        self._servicer: ScoringServicer | None = None

    @property
    def grpc_port(self) -> int:
        return self._server.port if self._server is not None else 0

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        await upgrade_database(self._engine)  # Alembic: migrates, or stamps a create_all database
        self.scorer = await asyncio.to_thread(build_scorer, settings, self.plugins)
        register = _no_services
        if "api" in self.roles:
            # The API needs the scorer too (ScoreDraft) and the networks' manifests (its advice).
            servicer = build_servicer(settings, self._engine, self.plugins, self.scorer)
            self._servicer = servicer

            def register(server: grpc.aio.Server) -> None:
                scoring_service_pb2_grpc.add_ScoringServiceServicer_to_server(servicer, server)

        self._server = GrpcServer(
            host=settings.grpc_host,
            port=settings.scoring_port,
            services=[SERVICE_NAME] if "api" in self.roles else [],
            register=register,
            name=self.name,
        )
        if "worker" in self.roles:
            kafka = kafka_client_options(settings)
            await ensure_topics(
                settings.kafka_bootstrap, TOPICS, prefix=settings.topic_prefix, client_options=kafka
            )
            self._producer = EventProducer(
                settings.kafka_bootstrap,
                client_id="resonanz-scoring",
                prefix=settings.topic_prefix,
                client_options=kafka,
            )
            await self._producer.start()
            self.streams = ScoringStreams(
                settings,
                self._engine,
                self._producer,
                self.scorer,
                extensions=self.extensions,
                on_failure=self._on_stream_failure,
                datadir=settings.data_dir / "scoring-faust",
            )
            await self.streams.start()
        await self._server.start()

    async def _on_stream_failure(self, exc: BaseException) -> None:
        log.error("the scoring stream failed (%s: %s): serving NOT_SERVING", type(exc).__name__, exc)
        if self._server is not None:
            await self._server.set_serving(False)  # a liveness probe restarts the process

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._servicer is not None:
            await self._servicer.aclose()  # the channel to listening, for label roles
            self._servicer = None
        if self.streams is not None:
            await self.streams.stop()
            self.streams = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._engine.dispose()


def _no_services(server: grpc.aio.Server) -> None:
    """A process without the api role serves only gRPC health and reflection."""
