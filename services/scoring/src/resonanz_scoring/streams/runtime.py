"""``ScoringStreams``: the faust app with its agents, run inside the service's own asyncio loop.

The app is started with ``await app.start()`` and stopped with ``await app.stop()`` (no faust
``Worker``: it would install signal handlers and own the loop, while the scoring service runs its
gRPC server, and the embedded runner all services, in one loop). Topics are created beforehand by
the caller (``ensure_topics``, with their DLQs); internal topics and changelogs by faust.

Failure: when an agent meets an error it cannot dead-letter around (the broker refuses the DLQ, the
database is gone for good), ``on_failure`` is called (the service turns its gRPC health
NOT_SERVING, so a liveness probe restarts the process) and nothing of that batch is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from resonanz_sdk.eventbus import EventProducer, Topic
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.streams.app import app_id, create_app
from resonanz_scoring.streams.context import FailureHandler, StreamContext
from resonanz_scoring.streams.extensions import EXTENSIONS, ExtensionSpec, register_extensions
from resonanz_scoring.streams.lag import LagReporter
from resonanz_scoring.streams.mentions import MentionPipeline
from resonanz_scoring.streams.observers import BatchObserver
from resonanz_scoring.streams.records import records_of

__all__ = ["ScoringStreams"]

log = logging.getLogger(__name__)

#: How often the watchdog looks whether the faust app crashed (seconds).
WATCHDOG_INTERVAL = 1.0


class ScoringStreams:
    """The scoring faust app: the mentions agent plus every extension of :data:`EXTENSIONS`."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        producer: EventProducer,
        scorer: MentionScorer,
        *,
        extensions: Sequence[ExtensionSpec] = EXTENSIONS,
        observers: Sequence[BatchObserver] = (),
        on_failure: FailureHandler | None = None,
        datadir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, datadir=datadir)
        self.context = StreamContext(
            app=self.app,
            settings=settings,
            engine=engine,
            producer=producer,
            scorer=scorer,
            on_failure=on_failure,
        )
        for observer in observers:
            self.context.add_observer(observer)
        self.pipeline = MentionPipeline(
            scorer,
            ScoreStore(engine),
            producer,
            self.context.observers,  # the same list: observers added by extensions are seen
            group=app_id(settings),
            max_attempts=settings.scoring_max_attempts,
        )
        self._define_mentions_agent()
        register_extensions(self.app, self.context, extensions)
        self.lag = LagReporter(self.app, group=app_id(settings), prefix=settings.topic_prefix)
        self._started = False
        self._watchdog: asyncio.Task[None] | None = None

    def _define_mentions_agent(self) -> None:
        settings = self.settings
        prefix = settings.topic_prefix
        pipeline = self.pipeline
        size, within = settings.scoring_batch_size, settings.scoring_batch_seconds
        guard = self.context.guard

        async def score_mentions(stream: faust.StreamT[Any]) -> None:
            assert isinstance(stream, faust.Stream)  # noack_take is not on the StreamT protocol
            async for events in stream.noack_take(size, within=within):
                await guard(pipeline.process(records_of(events, prefix)))
                for event in events:
                    await stream.ack(event)

        self.app.agent(self.context.topic(Topic.MENTIONS_RAW), name="scoring-mentions")(score_mentions)

    @property
    def failure(self) -> BaseException | None:
        """The first error an agent could not handle (None while healthy)."""
        return self.context.failure

    def add_observer(self, observer: BatchObserver) -> None:
        self.context.add_observer(observer)

    async def start(self) -> None:
        self._started = True  # also a half-started app is stopped by stop()
        self.context.stopping = False
        await self.app.start()
        self.lag.start()
        self._watchdog = asyncio.create_task(self._watch(), name="scoring-faust-watchdog")

    async def _watch(self) -> None:
        """Report a crash of the faust app itself (its consumer, a table, ...) like an agent failure."""
        while not self.app.crashed:  # noqa: ASYNC110 - mode offers no public event for a crash
            await asyncio.sleep(WATCHDOG_INTERVAL)
        reason = self.app.crash_reason or RuntimeError("the faust app crashed")
        await self.context.report(reason if isinstance(reason, Exception) else RuntimeError(repr(reason)))

    async def stop(self) -> None:
        """Let batches in hand finish, stop the agents, then flush and stop faust's producer.

        ``App.stop()`` flushes the producer before its tables and agents have stopped (their last
        changelog writes come after), and does not stop the producer, which a faust ``Worker`` would
        do later: without this, a table's last values could reach the changelog only after a new
        worker started recovering from it, and be lost to it.
        """
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None
        await self.lag.stop()
        if self._started:
            self._started = False
            try:
                # Batches already in hand finish while faust (its producer included) still runs;
                # none starts after this. Then faust stops its agents and tables.
                self.context.stopping = True
                await self.context.drain()
                await self.app.stop()
                await self.context.drain()
            finally:
                producer = self.app.producer
                await producer.flush()
                await producer.stop()
