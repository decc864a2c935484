"""Helpers of the collection tests (leases, failover, rate limits, streams, backfill).

``Replica`` runs the collection half of one listening replica exactly as ``ListeningApp`` wires it
(``build_collector`` and ``build_runner`` over a shared database, a real producer to the real
broker), without its gRPC server, so that a test can run several replicas in one process and
*kill* one: cancel its tasks without releasing anything, as a crashed process would leave it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from listening_helpers import RawTopicReader, ScriptedNetwork
from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_listening.backfill import BackfillRunner, build_runner
from resonanz_listening.collector import Collector, build_collector
from resonanz_listening.ingest import Ingestor
from resonanz_listening.migrate import upgrade_database
from resonanz_listening.models import QueryRow
from resonanz_listening.outbox import OutboxRelay
from resonanz_listening.rate_budget import Budgets
from resonanz_listening.signal import MentionSignal
from resonanz_listening.store import ListeningStore
from resonanz_sdk.db import create_engine, session_factory
from resonanz_sdk.eventbus import EventProducer, Topic, ensure_topics
from resonanz_sdk.manifest import Feature, Manifest, RateLimit, RateLimitScope, TextRules
from resonanz_sdk.network import Network
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker


class Replica:
    """The collector and backfill runner of one replica (``replica_id``) on ``settings``' database."""

    def __init__(self, settings: Settings, networks: Mapping[str, Network], replica_id: str) -> None:
        self.settings = settings.model_copy(update={"replica_id": replica_id})
        self.networks = networks
        self.replica_id = replica_id
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[Any] | None = None
        self.producer: EventProducer | None = None
        self.collector: Collector | None = None
        self.runner: BackfillRunner | None = None
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> Replica:
        s = self.settings
        self.engine = create_engine(s.database_url_for("listening"))
        await upgrade_database(self.engine)
        self.sessions = session_factory(self.engine)
        await ensure_topics(s.kafka_bootstrap, [Topic.MENTIONS_RAW], prefix=s.topic_prefix)
        self.producer = EventProducer(s.kafka_bootstrap, client_id=self.replica_id, prefix=s.topic_prefix)
        await self.producer.start()
        relay = OutboxRelay(self.sessions, self.producer)
        await relay.flush()
        ingestor = Ingestor(self.sessions)
        budgets = Budgets(self.networks)
        signal = MentionSignal()
        self.collector = build_collector(
            self.settings,
            self.sessions,
            store=ListeningStore(self.sessions),
            ingestor=ingestor,
            relay=relay,
            networks=self.networks,
            signal=signal,
            budgets=budgets,
        )
        self.runner = build_runner(
            self.settings,
            self.sessions,
            replica_id=self.replica_id,
            ingestor=ingestor,
            relay=relay,
            networks=self.networks,
            budgets=budgets,
            signal=signal,
        )
        self._stopping = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self.collector.run(self._stopping)),
            asyncio.create_task(self.runner.run(self._stopping)),
        ]
        return self

    @property
    def held(self) -> set[tuple[str, str]]:
        assert self.collector is not None
        return set(self.collector.leases.held)

    async def stop(self) -> None:
        """A graceful stop: finish the round, release leases and jobs at once (idempotent)."""
        if self.engine is None:
            return
        self._stopping.set()
        for task in self._tasks:
            await task
        if self.collector is not None:
            await self.collector.shutdown()
        if self.runner is not None:
            await self.runner.release()
        await self._close()

    async def kill(self) -> None:
        """A crash: the tasks die where they are; leases and jobs stay taken until they expire."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.collector is not None:
            await self.collector.streams.stop_all()
        await self._close()

    async def _close(self) -> None:
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
            self.producer = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None


async def add_queries(
    settings: Settings, queries: Sequence[tuple[str, str]], tenant: str = "acme"
) -> list[str]:
    """Store enabled queries ``(id, expression)`` directly (the CRUD API is tested elsewhere)."""
    engine = create_engine(settings.database_url_for("listening"))
    try:
        await upgrade_database(engine)
        store = ListeningStore(session_factory(engine))
        for i, (query_id, expression) in enumerate(queries):
            await store.add_query(
                QueryRow(
                    id=query_id,
                    tenant=tenant,
                    name=f"q{i}",
                    expression=expression,
                    languages=[],
                    networks=[],
                    label=f"L{i}",
                    role=0,
                    enabled=True,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
    finally:
        await engine.dispose()
    return [q for q, _ in queries]


class LimitedNetwork(ScriptedNetwork):
    """A scripted network whose manifest declares a tight search rate limit (app-wide)."""

    def __init__(self, name: str = "limited", *, requests: int, per_seconds: float) -> None:
        super().__init__(name)
        self._manifest = Manifest(
            network=name,
            display_name=name.title(),
            features=frozenset({Feature.SEARCH}),
            text=TextRules(500),
            rate_limits=(RateLimit("search", requests, per_seconds, RateLimitScope.APP),),
        )


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most calls that fell into any window of ``window`` seconds."""
    best, start = 0, 0
    ordered = sorted(times)
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def read_mentions(reader: RawTopicReader, count: int, *, within: float = 20.0) -> list[EventEnvelope]:
    """Read until ``count`` distinct mentions arrived (a re-delivered event does not count twice)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        envelopes = await reader.read_until(
            len(reader.envelopes) + 1, within=max(0.1, deadline - loop.time())
        )
        if len({e.mention_collected.mention.id for e in envelopes}) >= count or loop.time() >= deadline:
            return envelopes
