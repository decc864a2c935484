"""Publishing envelopes: one aiokafka producer per process, headers for routing and tracing.

Every record carries the headers ``event-id``, ``event-type``, ``tenant`` and ``traceparent`` (the
current one, or a new trace). ``publish`` waits for the broker's ack; ``publish_many`` sends every
record first and then awaits all acks, which is several times faster than awaiting each send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

from aiokafka import AIOKafkaProducer
from resonanz.events.v1.events_pb2 import EventEnvelope

from resonanz_sdk import metrics
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus.topics import topic_name
from resonanz_sdk.tracing import ensure_traceparent

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


class EventProducer:
    """Publishes :class:`EventEnvelope`s to logical topics (the producer applies ``prefix``)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "resonanz",
        prefix: str = "",
        linger_ms: int = 5,
    ) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            linger_ms=linger_ms,
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
        traceparent = ensure_traceparent()
        try:
            futures = [
                await self._producer.send(
                    name,
                    value=envelope.SerializeToString(),
                    key=key.encode(),
                    headers=envelope_headers(envelope, traceparent),
                )
                for key, envelope in items
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
