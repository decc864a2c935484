"""``LagReporter``: ``resonanz_consumer_lag{topic, group}`` for the scoring app's faust consumer.

faust's consumer is not the sdk's ``EventConsumer``, which sets the gauge itself; this sets it the
same way for every topic an agent of the app consumes (the public topics and the app's internal
topics; table changelogs are not counted, they are read for recovery, never committed):

    lag(topic) = sum over the partitions of ``topic`` this worker owns of
                 max(end offset - committed offset, 0)

* committed offset: the offset faust last committed for the group (the next record to process);
  for a partition the group never committed, the partition's first offset (the app starts from the
  earliest record), so a fresh group's backlog is counted too;
* end offset: the partition's high watermark.

It is updated

* after each commit of the app (every ``RESONANZ_SCORING_COMMIT_INTERVAL_SECONDS`` while batches
  are acknowledged), from the high watermarks the consumer's last fetches carried: no broker round
  trip, nothing per message;
* every :data:`REFRESH_SECONDS` on a timer, with one ListOffsets request for the owned partitions
  (the only way to see the backlog of partitions faust pauses while its tables recover, or of a
  worker that is stuck).

A partition that a rebalance moved away is dropped (its new owner reports it) and a topic with no
partition left here reads 0. Sum by ``group`` and ``topic`` across pods for the group's lag.

On Tansu a partition's end is the base offset of its last batch + 1 (docs/event-bus.md), so the
lag can read a few records low while producers batch; it never reads below 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import faust
from faust.sensors.base import Sensor
from faust.types import TP
from resonanz_sdk import metrics

__all__ = ["REFRESH_SECONDS", "LagReporter"]

log = logging.getLogger(__name__)

#: How often the lag is refreshed from the broker's end offsets (seconds).
REFRESH_SECONDS = 5.0


class _CommitSensor(Sensor):
    """A faust sensor that reports the lag after each commit of the app's consumer."""

    def __init__(self, reporter: LagReporter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reporter = reporter

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self._reporter.report_cached()


class LagReporter:
    """Keeps ``resonanz_consumer_lag`` current for one faust app (one consumer group)."""

    def __init__(
        self, app: faust.App, *, group: str, prefix: str, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self.app = app
        self.group = group
        self.prefix = prefix
        self.refresh_seconds = refresh_seconds
        self._ends: dict[TP, int] = {}
        self._starts: dict[TP, int] = {}  # first offsets of partitions the group never committed
        self._reported: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        app.sensors.add(_CommitSensor(self))

    def topics(self) -> set[str]:
        """The (prefixed) topics the app's agents consume."""
        names: set[str] = set()
        for agent in self.app.agents.values():
            channel = agent.channel
            if isinstance(channel, faust.TopicT):
                names.update(channel.topics)
        return names

    def _logical(self, name: str) -> str:
        return name[len(self.prefix) :] if self.prefix and name.startswith(self.prefix) else name

    def _owned(self) -> set[TP]:
        topics = self.topics()
        return {tp for tp in self.app.consumer.assignment() if tp.topic in topics}

    def _committed(self, tp: TP) -> int | None:
        # faust keeps the offsets it committed (the next offset to read) per partition, seeded
        # from the group's committed offsets on assignment; there is no public accessor.
        committed: Mapping[TP, int | None] = getattr(self.app.consumer, "_committed_offset", {})
        offset = committed.get(tp)
        return offset if offset is not None else self._starts.get(tp)

    def report_cached(self) -> None:
        """Set the gauge from the end offsets the consumer's fetches last carried (no round trip)."""
        try:
            owned = self._owned()
            for tp in owned:
                end = self.app.consumer.highwater(tp)
                if end is not None and end >= self._ends.get(tp, 0):
                    self._ends[tp] = end
            self._set(owned)
        except Exception:  # a metric never breaks the stream (e.g. consumer stopping mid-commit)
            log.debug("faust consumer lag not reported", exc_info=True)

    async def refresh(self) -> None:
        """Ask the broker for the end (and, where nothing is committed, the first) offsets, then report."""
        owned = self._owned()
        if owned:
            consumer = self.app.consumer
            self._ends.update(await consumer.highwaters(*owned))
            unknown = [tp for tp in owned if self._committed(tp) is None]
            if unknown:
                self._starts.update(await consumer.earliest_offsets(*unknown))
        self._set(owned)

    def _set(self, owned: Iterable[TP]) -> None:
        owned = set(owned)
        for tp in [tp for tp in self._ends if tp not in owned]:
            del self._ends[tp]
        for tp in [tp for tp in self._starts if tp not in owned]:
            del self._starts[tp]
        totals = dict.fromkeys(self._reported, 0)  # a topic no longer owned here reads 0
        for tp in owned:
            end, committed = self._ends.get(tp), self._committed(tp)
            if end is None or committed is None:
                continue
            logical = self._logical(tp.topic)
            totals[logical] = totals.get(logical, 0) + max(end - committed, 0)
        for logical, total in totals.items():
            metrics.CONSUMER_LAG.labels(topic=logical, group=self.group).set(total)
        self._reported = set(totals)

    def start(self) -> None:
        """Start the refresh timer (after the app started)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="scoring-faust-lag")

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker is briefly away, a rebalance runs: next tick
                log.debug("faust consumer lag refresh failed", exc_info=True)
            await asyncio.sleep(self.refresh_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
