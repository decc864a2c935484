"""What an extension of the faust app gets to wire itself in: :class:`StreamContext`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from resonanz_sdk.eventbus import EventProducer
from resonanz_sdk.settings import Settings
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.scorer import MentionScorer
from resonanz_scoring.streams.observers import BatchObserver

__all__ = ["INTERNAL_TOPIC_PREFIX", "StreamContext"]

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
    * :meth:`internal_topic`: a raw-bytes faust topic for the extension's own compact events.
    """

    app: faust.App
    settings: Settings
    engine: AsyncEngine
    producer: EventProducer
    scorer: MentionScorer
    observers: list[BatchObserver] = field(default_factory=list)

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
