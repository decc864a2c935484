"""Sends stored events (``mentions.raw``, ``engagement.updates``) to Kafka and marks them sent.

Rows are written in the transaction that makes them true: ``mentions.raw`` by
:mod:`resonanz_listening.ingest` with their mention, ``engagement.updates`` by
:mod:`resonanz_listening.engagement` with the measured counts. Each row names its topic; the relay
publishes every unsent row in batches (``publish_many``, which waits for the acks) and
then marks them sent. Unsent rows left by a crash are sent at the next start-up. A crash between the
ack and the mark re-sends those events with their original event ids, which consumers de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from resonanz_sdk import metrics
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus import EventEnvelope, EventProducer, Topic
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.models import OutboxRow

log = logging.getLogger(__name__)


def _count_produced(items: list[tuple[str, EventEnvelope]]) -> None:
    """Count acknowledged mentions.raw events per network (the key is the mention id "<network>:<id>")."""
    per_network: dict[str, int] = defaultdict(int)
    for key, _ in items:
        per_network[key.partition(":")[0] or "unknown"] += 1
    for network, count in per_network.items():
        metrics.MENTIONS_PRODUCED.labels(network=network).inc(count)


class OutboxRelay:
    def __init__(
        self, sessions: async_sessionmaker[Any], producer: EventProducer, *, batch: int = 500
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._batch = batch
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Send every unsent row; returns how many were sent. Raises BrokerError when Kafka fails."""
        sent = 0
        async with self._lock:
            while True:
                async with self._sessions() as session:
                    # Plain columns, not ORM objects: the relay only reads them.
                    rows = (
                        await session.execute(
                            select(OutboxRow.id, OutboxRow.topic, OutboxRow.key, OutboxRow.envelope)
                            .where(OutboxRow.sent.is_(False))
                            .order_by(OutboxRow.id)
                            .limit(self._batch)
                        )
                    ).all()
                if not rows:
                    return sent
                by_topic: dict[str, list[tuple[str, EventEnvelope]]] = defaultdict(list)
                for _, topic, key, envelope in rows:
                    by_topic[topic].append((key, EventEnvelope.FromString(envelope)))
                for topic, items in by_topic.items():
                    await self._producer.publish_many(topic, items)
                    if topic == str(Topic.MENTIONS_RAW):
                        _count_produced(items)
                async with self._sessions() as session, session.begin():
                    await session.execute(
                        update(OutboxRow).where(OutboxRow.id.in_([row[0] for row in rows])).values(sent=True)
                    )
                sent += len(rows)

    async def try_flush(self) -> int:
        """Like :meth:`flush`, but logs a broker failure instead of raising (rows stay unsent)."""
        try:
            return await self.flush()
        except BrokerError as exc:
            log.warning("could not send outbox events, will retry: %s", exc)
            return 0
