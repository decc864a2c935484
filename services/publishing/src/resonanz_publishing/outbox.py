"""The transactional outbox: events are stored with the change they announce, then sent to Kafka.

A crash after the commit and before the send re-sends the stored envelope (same event id) on the next
relay pass, so nothing is dropped; consumers de-duplicate. On PostgreSQL several relays share the work
with ``FOR UPDATE SKIP LOCKED``; on SQLite a relay takes the database's write lock before it reads, so
two relays (two replicas on one file) never send the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from resonanz.events.v1.events_pb2 import EventEnvelope
from resonanz_sdk.db import session_factory
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.convert import now_utc
from resonanz_publishing.models import OutboxRow

log = logging.getLogger(__name__)

#: ``(topic, [(key, envelope), ...])`` -> sent (waits for the broker's acks).
Sender = Callable[[str, Sequence[tuple[str, EventEnvelope]]], Awaitable[None]]


def add_to_outbox(session: AsyncSession, topic: str, key: str, envelope: EventEnvelope) -> None:
    """Stage ``envelope`` for sending, in the caller's transaction."""
    session.add(
        OutboxRow(
            tenant=envelope.tenant,
            topic=str(topic),
            key=key,
            envelope=envelope.SerializeToString(),
            created_at=now_utc(),
            sent_at=None,
        )
    )


class OutboxRelay:
    def __init__(self, engine: AsyncEngine, send: Sender, *, batch_size: int = 500) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._send = send
        self._batch_size = batch_size

    async def relay_once(self) -> int:
        """Send one batch of unsent events in order and mark them sent; the number sent."""
        async with self._sessions.begin() as session:
            if self._sqlite:
                # A write first: it takes SQLite's write lock, which the relay keeps until it has marked
                # the rows sent. Reads alone lock nothing, and two relays would send the same rows.
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == -1)
                    .values(sent_at=None)
                    .execution_options(synchronize_session=False)
                )
            stmt = (
                select(OutboxRow)
                .where(OutboxRow.sent_at.is_(None))
                .order_by(OutboxRow.id)
                .limit(self._batch_size)
            )
            if not self._sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.execute(stmt)).scalars())
            if not rows:
                return 0
            # Consecutive rows of one topic go out in one batch, preserving the outbox order.
            groups: list[tuple[str, list[tuple[str, EventEnvelope]]]] = []
            for row in rows:
                item = (row.key, EventEnvelope.FromString(row.envelope))
                if groups and groups[-1][0] == row.topic:
                    groups[-1][1].append(item)
                else:
                    groups.append((row.topic, [item]))
            for topic, items in groups:
                await self._send(topic, items)
            await session.execute(
                update(OutboxRow).where(OutboxRow.id.in_([r.id for r in rows])).values(sent_at=now_utc())
            )
        log.debug("outbox relayed %d events", len(rows))
        return len(rows)

    async def relay_all(self) -> int:
        """Relay until the outbox is empty; the number sent."""
        total = 0
        while sent := await self.relay_once():
            total += sent
        return total
