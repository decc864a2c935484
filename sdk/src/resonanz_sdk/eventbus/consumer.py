"""Consuming envelopes at least once, idempotently, with dead letters instead of crashes.

One ``EventConsumer`` is one member of a consumer group. Its loop:

1. fetch up to ``max_batch`` records (``getmany``) and decode each with ``EventEnvelope.FromString``;
   undecodable records and envelopes without payload, event id or tenant go to ``<topic>.dlq``;
2. drop events whose ``event_id`` the ``ProcessedEvents`` store already knows (and repeats within
   the batch);
3. call the handler with the whole batch, under the batch's traceparent (with tracing on, in a
   CONSUMER span per event, see :mod:`resonanz_sdk.otel`); when it raises, call it
   again one event at a time, each up to ``max_attempts`` times with capped exponential backoff, so
   only the events that keep failing go to the DLQ (with headers ``error``, ``error-type``,
   ``original-topic``, ``original-partition``, ``original-offset``);
4. mark the handled ids as processed, then commit the offsets. A crash before the commit means the
   batch is delivered again, and the dedupe store skips what was already done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from resonanz.events.v1.events_pb2 import EventEnvelope

from resonanz_sdk import metrics, otel
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus.dedupe import ProcessedEvents
from resonanz_sdk.eventbus.envelope import check_envelope
from resonanz_sdk.eventbus.producer import EventProducer, Headers
from resonanz_sdk.eventbus.topics import dlq_name, topic_name
from resonanz_sdk.tracing import use_traceparent

__all__ = ["BatchHandler", "EventConsumer", "ReceivedEvent", "dead_letter_headers"]

log = logging.getLogger(__name__)

_MAX_ERROR_BYTES = 2000
_POLL_TIMEOUT_MS = 200


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One decoded event as the handler sees it; ``topic`` is the logical name (without prefix)."""

    envelope: EventEnvelope
    key: str
    topic: str
    partition: int
    offset: int
    traceparent: str | None


BatchHandler = Callable[[Sequence[ReceivedEvent]], Awaitable[None]]


@dataclass(slots=True)
class _Failure:
    record: ConsumerRecord[bytes, bytes]
    logical_topic: str
    error: BaseException
    attempts: int


def dead_letter_headers(
    original: Iterable[tuple[str, bytes]],
    error: BaseException,
    *,
    topic: str,
    partition: int,
    offset: int,
    attempts: int,
) -> Headers:
    """The headers of a dead letter: the record's own, then ``error`` (at most 2,000 bytes),
    ``error-type``, ``original-topic`` (logical name), ``original-partition``, ``original-offset``
    and ``attempts``. Every consumer that dead-letters (this one, the scoring faust agents) uses it.
    """
    message = str(error) or repr(error)
    headers: Headers = [(key, bytes(value)) for key, value in original]
    headers += [
        ("error", message.encode()[:_MAX_ERROR_BYTES]),
        ("error-type", type(error).__name__.encode()),
        ("original-topic", topic.encode()),
        ("original-partition", str(partition).encode()),
        ("original-offset", str(offset).encode()),
        ("attempts", str(attempts).encode()),
    ]
    return headers


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    # Our producer writes traceparent last: search from the end.
    for key, value in reversed(record.headers or ()):
        if key == name:
            text: str = value.decode("utf-8", errors="replace")
            return text
    return None


class EventConsumer:
    """A consumer-group member that feeds batches of :class:`ReceivedEvent` to ``handler``.

    ``client_options`` are extra aiokafka client arguments: the security settings of
    :func:`~resonanz_sdk.eventbus.security.kafka_client_options`.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        group_id: str,
        topics: Sequence[str],
        handler: BatchHandler,
        producer: EventProducer,
        prefix: str = "",
        max_batch: int = 500,
        max_attempts: int = 3,
        dedupe: ProcessedEvents | None = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 2.0,
        auto_offset_reset: str = "earliest",
        client_id: str = "resonanz",
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not topics:
            raise ValueError("an EventConsumer needs at least one topic")
        if max_batch < 1 or max_attempts < 1:
            raise ValueError("max_batch and max_attempts must be at least 1")
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topics = [str(topic) for topic in topics]
        self.prefix = prefix
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.dedupe = dedupe
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._handler = handler
        self._producer = producer
        self._consumer = AIOKafkaConsumer(
            *(topic_name(topic, prefix) for topic in self.topics),
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            max_poll_records=max_batch,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
            fetch_max_wait_ms=50,
            **dict(client_options or {}),
        )
        self._logical_names: dict[str, str] = {}
        self._lag: dict[TopicPartition, int] = {}
        self._started = False
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self._consumer.start()
        except Exception as exc:
            await self._consumer.stop()
            raise BrokerError(f"cannot connect the consumer to {self.bootstrap}: {exc}") from exc
        self._stopping.clear()
        self._started = True

    async def stop(self) -> None:
        """Finish the batch in hand, let ``run()`` return, leave the group; idempotent."""
        self._stopping.set()
        await self._idle.wait()
        if self._started:
            self._started = False
            await self._consumer.stop()

    async def __aenter__(self) -> EventConsumer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self) -> None:
        """Consume until :meth:`stop` is called (starts the consumer if needed)."""
        await self.start()
        self._idle.clear()
        try:
            while not self._stopping.is_set():
                await self.poll_once()
        finally:
            self._idle.set()

    # -- one batch -----------------------------------------------------------------------------

    async def poll_once(self, timeout_ms: int = _POLL_TIMEOUT_MS) -> int:
        """Fetch, handle and commit one batch; returns how many records it took."""
        fetched = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_batch)
        records = [record for partition_records in fetched.values() for record in partition_records]
        if not records:
            return 0
        await self._process(records)
        offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
        await self._commit(offsets)
        self._report_lag(offsets)
        return len(records)

    def _logical(self, name: str) -> str:
        logical = self._logical_names.get(name)
        if logical is None:
            logical = name[len(self.prefix) :] if self.prefix and name.startswith(self.prefix) else name
            self._logical_names[name] = logical
        return logical

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        events: list[ReceivedEvent] = []
        by_offset: dict[tuple[str, int, int], ConsumerRecord[bytes, bytes]] = {}
        failures: list[_Failure] = []
        seen: set[str] = set()
        duplicates: dict[str, int] = {}
        for record in records:
            logical = self._logical(record.topic)
            try:
                envelope = EventEnvelope.FromString(record.value or b"")
                check_envelope(envelope)
            except Exception as exc:  # DecodeError, ValidationError: poison, not retryable
                failures.append(_Failure(record, logical, exc, attempts=0))
                continue
            if envelope.event_id in seen:
                duplicates[logical] = duplicates.get(logical, 0) + 1
                continue
            seen.add(envelope.event_id)
            event = ReceivedEvent(
                envelope=envelope,
                key=(record.key or b"").decode("utf-8", errors="replace"),
                topic=logical,
                partition=record.partition,
                offset=record.offset,
                traceparent=_header(record, "traceparent"),
            )
            by_offset[(logical, record.partition, record.offset)] = record
            events.append(event)
        if self.dedupe is not None and events:
            new_ids = await self.dedupe.filter_new(event.envelope.event_id for event in events)
            fresh = [event for event in events if event.envelope.event_id in new_ids]
            for event in events:
                if event.envelope.event_id not in new_ids:
                    duplicates[event.topic] = duplicates.get(event.topic, 0) + 1
            events = fresh
        for logical, count in duplicates.items():
            metrics.EVENTS_CONSUMED.labels(topic=logical, group=self.group_id, outcome="duplicate").inc(count)
        if events:
            handled, failed = await self._handle(events)
            failures.extend(
                _Failure(
                    by_offset[(event.topic, event.partition, event.offset)],
                    event.topic,
                    error,
                    self.max_attempts,
                )
                for event, error in failed
            )
            if handled:
                if self.dedupe is not None:
                    await self.dedupe.mark(event.envelope.event_id for event in handled)
                self._count(handled, "ok")
        for failure in failures:
            await self._dead_letter(failure)

    async def _handle(
        self, events: list[ReceivedEvent]
    ) -> tuple[list[ReceivedEvent], list[tuple[ReceivedEvent, BaseException]]]:
        """Run the handler on the batch, then one by one on failure; returns (handled, failed)."""
        try:
            await self._call(events)
        except Exception as exc:
            if len(events) == 1 and self.max_attempts == 1:
                return [], [(events[0], exc)]
            log.warning(
                "handler of group %s failed on a batch of %d events (%s); retrying them one by one",
                self.group_id,
                len(events),
                exc,
            )
        else:
            return events, []
        handled: list[ReceivedEvent] = []
        failed: list[tuple[ReceivedEvent, BaseException]] = []
        for event in events:
            error = await self._retry_one(event)
            if error is None:
                handled.append(event)
            else:
                failed.append((event, error))
        return handled, failed

    async def _retry_one(self, event: ReceivedEvent) -> BaseException | None:
        delay = self.backoff_initial
        error: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._call([event])
            except Exception as exc:
                error = exc
                if attempt < self.max_attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.backoff_max)
            else:
                return None
        return error

    async def _call(self, events: Sequence[ReceivedEvent]) -> None:
        # With tracing on: a CONSUMER span per event, the first one current in the handler.
        with (
            otel.spans(self._consumer_spans(events)) as traced,
            use_traceparent(traced[0] if traced else events[0].traceparent),
        ):
            await self._handler(events)

    def _consumer_spans(self, events: Sequence[ReceivedEvent]) -> list[otel.SpanStart]:
        if otel.tracer() is None:
            return []
        return [
            (
                f"process {topic_name(event.topic, self.prefix)}",
                otel.SpanKind.CONSUMER,
                event.traceparent,
                {
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": topic_name(event.topic, self.prefix),
                    "messaging.consumer.group.name": self.group_id,
                    "messaging.destination.partition.id": str(event.partition),
                    "messaging.kafka.offset": event.offset,
                    "messaging.message.id": event.envelope.event_id,
                    "resonanz.event.type": event.envelope.type,
                },
            )
            for event in events
        ]

    async def _dead_letter(self, failure: _Failure) -> None:
        record = failure.record
        error = failure.error
        message = str(error) or repr(error)
        headers = dead_letter_headers(
            record.headers or (),
            error,
            topic=failure.logical_topic,
            partition=record.partition,
            offset=record.offset,
            attempts=failure.attempts,
        )
        log.error(
            "dead-lettering %s[%d]@%d after %d attempts: %s: %s",
            failure.logical_topic,
            record.partition,
            record.offset,
            failure.attempts,
            type(error).__name__,
            message,
        )
        # Raises BrokerError when the DLQ cannot take it: then nothing is committed and the
        # record comes back, rather than being lost.
        await self._producer.publish_raw(
            dlq_name(failure.logical_topic), record.value, key=record.key, headers=headers
        )
        metrics.EVENTS_CONSUMED.labels(
            topic=failure.logical_topic, group=self.group_id, outcome="dead_lettered"
        ).inc()
        metrics.DEAD_LETTERS.labels(topic=failure.logical_topic).inc()

    def _count(self, events: Sequence[ReceivedEvent], outcome: str) -> None:
        per_topic: dict[str, int] = {}
        for event in events:
            per_topic[event.topic] = per_topic.get(event.topic, 0) + 1
        for logical, count in per_topic.items():
            metrics.EVENTS_CONSUMED.labels(topic=logical, group=self.group_id, outcome=outcome).inc(count)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced while we worked: the new owner gets these records again and the
            # dedupe store (if any) skips them. At-least-once, never lost.
            log.warning("commit of group %s failed after a rebalance: %s", self.group_id, exc)
        except KafkaError as exc:
            log.warning("commit of group %s failed: %s", self.group_id, exc)

    def _report_lag(self, offsets: dict[TopicPartition, int]) -> None:
        """Set the lag gauge per topic: the sum over the partitions this member owns."""
        for tp, next_offset in offsets.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                self._lag[tp] = max(highwater - next_offset, 0)
        assigned = self._consumer.assignment()
        totals: dict[str, int] = {}
        for tp, lag in list(self._lag.items()):
            if tp not in assigned:  # moved to another member by a rebalance: it reports it now
                del self._lag[tp]
                continue
            totals[tp.topic] = totals.get(tp.topic, 0) + lag
        for name, total in totals.items():
            metrics.CONSUMER_LAG.labels(topic=self._logical(name), group=self.group_id).set(total)
