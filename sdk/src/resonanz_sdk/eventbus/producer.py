"""Publishing envelopes: one aiokafka producer per process, headers for routing and tracing.

Every record carries the headers ``event-id``, ``event-type``, ``tenant`` and ``traceparent`` (the
current one, or a new trace; with tracing on, that of the record's own PRODUCER span, see
:mod:`resonanz_sdk.otel`). ``publish`` waits for the broker's ack; ``publish_many`` sends every
record first and then awaits all acks, which is several times faster than awaiting each send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from resonanz.events.v1.events_pb2 import EventEnvelope

from resonanz_sdk import metrics, otel
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus.topics import topic_name
from resonanz_sdk.tracing import current_traceparent, ensure_traceparent

__all__ = ["EventProducer", "Headers", "envelope_headers"]

Headers = list[tuple[str, bytes]]


def envelope_headers(envelope: EventEnvelope, traceparent: str) -> Headers:
    """The Kafka headers of an envelope record."""
    return [
        ("event-id", envelope.event_id.encode()),
        ("event-type", envelope.type.encode()),
        ("tenant", envelope.tenant.encode()),
        ("traceparent", traceparent.encode()),
    ]


def _producer_spans(name: str, items: Sequence[tuple[str, EventEnvelope]]) -> list[otel.SpanStart]:
    """One PRODUCER span per record, child of the current traceparent (none when tracing is off)."""
    if otel.tracer() is None:
        return []
    parent = current_traceparent()
    return [
        (
            f"send {name}",
            otel.SpanKind.PRODUCER,
            parent,
            {
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": name,
                "messaging.message.id": envelope.event_id,
                "messaging.kafka.message.key": key,
                "resonanz.event.type": envelope.type,
            },
        )
        for key, envelope in items
    ]


class EventProducer:
    """Publishes :class:`EventEnvelope`s to logical topics (the producer applies ``prefix``).

    ``client_options`` are extra aiokafka client arguments: the security settings of
    :func:`~resonanz_sdk.eventbus.security.kafka_client_options`.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "resonanz",
        prefix: str = "",
        linger_ms: int = 5,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            linger_ms=linger_ms,
            **dict(client_options or {}),
        )
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        try:
            await self._producer.start()
        except Exception as exc:
            await self._producer.stop()
            raise BrokerError(f"cannot connect the producer to {self.bootstrap}: {exc}") from exc
        self._started = True

    async def stop(self) -> None:
        """Flush what is buffered and disconnect; idempotent."""
        if self._started:
            self._started = False
            await self._producer.stop()

    async def __aenter__(self) -> EventProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _require_started(self) -> None:
        if not self._started:
            raise BrokerError("the event producer is not started")

    async def publish(self, topic: str, envelope: EventEnvelope, *, key: str) -> None:
        """Publish one envelope keyed by ``key`` and wait for the broker's ack."""
        await self.publish_many(topic, [(key, envelope)])

    async def publish_many(self, topic: str, items: Sequence[tuple[str, EventEnvelope]]) -> None:
        """Publish ``(key, envelope)`` pairs in order, then wait for every ack (raises BrokerError)."""
        self._require_started()
        if not items:
            return
        name = topic_name(topic, self.prefix)
        with otel.spans(_producer_spans(name, items)) as traced:
            traceparents = traced or [ensure_traceparent()] * len(items)
            try:
                futures = [
                    await self._producer.send(
                        name,
                        value=envelope.SerializeToString(),
                        key=key.encode(),
                        headers=envelope_headers(envelope, traceparent),
                    )
                    for (key, envelope), traceparent in zip(items, traceparents, strict=True)
                ]
                await asyncio.gather(*futures)
            except Exception as exc:
                raise BrokerError(f"publishing to {name} failed: {exc}") from exc
        metrics.EVENTS_PRODUCED.labels(topic=str(topic)).inc(len(items))

    async def publish_raw(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: Headers
    ) -> None:
        """Publish one record as given (used for dead letters) and wait for its ack."""
        self._require_started()
        name = topic_name(topic, self.prefix)
        try:
            await self._producer.send_and_wait(name, value=value, key=key, headers=headers)
        except Exception as exc:
            raise BrokerError(f"publishing to {name} failed: {exc}") from exc
        metrics.EVENTS_PRODUCED.labels(topic=str(topic)).inc()
