"""What an extension of the faust app gets to wire itself in: :class:`StreamContext`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from resonanz_sdk.eventbus import EventProducer, topic_name
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.streams.observers import BatchObserver

__all__ = ["INTERNAL_TOPIC_PREFIX", "Extension", "FailureHandler", "StreamContext"]

log = logging.getLogger(__name__)

#: Called once with the first error an agent could not handle (the service turns NOT_SERVING).
FailureHandler = Callable[[BaseException], Awaitable[None]]

#: Internal topics of the scoring app are named ``<RESONANZ_TOPIC_PREFIX>scoring.<name>``.
INTERNAL_TOPIC_PREFIX = "scoring."


@dataclass(slots=True)
class StreamContext:
    """The shared parts of the scoring app, handed to every ``register(app, ctx)`` function.

    * ``settings``: the process settings (every tunable is a ``RESONANZ_*`` variable);
    * ``engine``: the scoring database (tables on :data:`resonanz_scoring.models.Base`);
    * ``producer``: the sdk producer for envelopes on the sdk's topics (``alerts`` ...); started
      before any agent runs, stopped after the app;
    * ``scorer``: the loaded :class:`MentionScorer` (language, sentiment, metrics);
    * :meth:`add_observer`: get every batch of newly scored mentions;
    * :meth:`topic`: the faust topic of an sdk topic (``Topic.PUBLISH_RESULTS`` ...), raw bytes;
    * :meth:`internal_topic`: a raw-bytes faust topic for the extension's own compact events;
    * :meth:`guard`: wrap an agent's batch work: an error is reported (health NOT_SERVING) and re-raised.

    Agents should take batches with ``stream.noack_take(n, within=t)`` and ``await stream.ack(event)``
    each event after the batch is done (faust's ``take`` acknowledges even when the body fails).
    """

    app: faust.App
    settings: Settings
    engine: AsyncEngine
    producer: EventProducer
    scorer: MentionScorer
    observers: list[BatchObserver] = field(default_factory=list)
    on_failure: FailureHandler | None = None
    failure: BaseException | None = None

    inflight: set[asyncio.Future[object]] = field(default_factory=set)
    #: Set at stop: no new batch work starts (its batch stays unacknowledged and is delivered again).
    stopping: bool = False

    async def guard(self, work: Awaitable[object]) -> None:
        """Await ``work`` shielded from cancellation; on an error, report it once and re-raise.

        faust cancels an agent's task on a rebalance or at stop; cancelled inside a database
        transaction, the connection would be left invalid for the next batch. The work therefore
        runs to its end in its own task (:meth:`drain` waits for it at stop) while the agent sees
        the cancellation and does not acknowledge the batch, which is delivered again (idempotent).
        """
        if self.stopping:
            # The app is stopping: work started now could outlive faust's producer. Leave the
            # batch unacknowledged instead; it is delivered again (scoring is idempotent).
            if asyncio.iscoroutine(work):
                work.close()
            raise asyncio.CancelledError
        task = asyncio.ensure_future(work)
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.report(exc)
            raise

    async def report(self, exc: Exception) -> None:
        """Record the first unhandled failure and tell ``on_failure`` (health NOT_SERVING)."""
        log.error("the scoring stream failed: %s: %s", type(exc).__name__, exc)
        if self.failure is None:
            self.failure = exc
            if self.on_failure is not None:
                await self.on_failure(exc)

    async def drain(self) -> None:
        """Wait for guarded work still running (after its agent was cancelled)."""
        while self.inflight:
            await asyncio.gather(*list(self.inflight), return_exceptions=True)

    def topic(self, topic: str) -> faust.TopicT:
        """The faust topic of an sdk topic (prefix applied; raw bytes; created by ``ensure_topics``)."""
        return self.app.topic(
            topic_name(topic, self.settings.topic_prefix),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    def add_observer(self, observer: BatchObserver) -> None:
        """Call ``observer.observe(items)`` after every stored batch (in registration order)."""
        if not isinstance(observer, BatchObserver):
            raise TypeError(f"{observer!r} has no async observe(items) method")
        self.observers.append(observer)

    def internal_topic(self, name: str, *, partitions: int | None = None) -> faust.TopicT:
        """The faust topic ``<prefix>scoring.<name>`` (raw bytes keys and values), created at start.

        Key records by what one partition owner must see together (e.g. tenant and label), so a
        table fed by the topic is co-partitioned with it.
        """
        return self.app.topic(
            f"{self.settings.topic_prefix}{INTERNAL_TOPIC_PREFIX}{name}",
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            internal=True,
            partitions=partitions,
        )


#: ``register(app, ctx)``: define agents, tables and timers on ``app``, add observers to ``ctx``.
Extension = Callable[[faust.App, StreamContext], Any]
