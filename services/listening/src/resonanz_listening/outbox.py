"""Sends stored events (``mentions.raw``, ``engagement.updates``) to Kafka, each row once even when
several replicas' relays flush at the same moment.

Rows are written in the transaction that makes them true: ``mentions.raw`` by
:mod:`resonanz_listening.ingest` with their mention, ``engagement.updates`` by
:mod:`resonanz_listening.engagement` with the measured counts. Each row names its topic and key.

A flush repeats, until no row is left to take:

1. **claim** up to ``batch`` unsent rows, in id order, in one short write transaction: a row is
   claimable when it is unclaimed, its claim expired (``claimed_until <= now``: a relay that died
   after claiming) or it is this relay's own; it gets ``claimed_by = replica id`` and
   ``claimed_until = now + claim_seconds``. A row whose (topic, key) has an earlier unsent row under
   another relay's live claim is not taken, so the events of one key reach the topic in id order even
   with several relays. PostgreSQL: a transaction-scoped advisory lock serialises the (millisecond)
   claim transactions, ``SELECT ... FOR UPDATE SKIP LOCKED`` picks the rows, an ``UPDATE`` claims
   them. SQLite: one conditional ``UPDATE ... WHERE id IN (SELECT ...)`` statement, which runs in
   one write transaction (SQLite has one writer at a time).
2. **produce** the claimed rows with ``publish_many`` (which waits for the broker's acks), per topic
   in id order;
3. **mark** them sent (and unclaimed). When the broker fails, the claims are released at once so
   that another replica can send the rows, and :class:`~resonanz_sdk.errors.BrokerError` is raised.

Unsent rows left by a crash are sent at the next start-up or, by another replica, once their claim
expired. Claims are taken and compared with each replica's own clock (as leases are): clock skew
between replicas shortens or lengthens a claim by the skew.

The at-least-once edge: a relay that dies (or stalls past ``claim_seconds``) after the broker acked
and before the rows are marked sent leaves them to be sent again, with their original event ids,
which consumers de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from resonanz_sdk import metrics
from resonanz_sdk.errors import BrokerError
from resonanz_sdk.eventbus import EventEnvelope, EventProducer, Topic
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from resonanz_listening.leases import default_replica_id
from resonanz_listening.models import OutboxRow

log = logging.getLogger(__name__)

#: The PostgreSQL advisory lock key that serialises outbox claim transactions (stable, arbitrary).
CLAIM_LOCK_KEY = zlib.crc32(b"resonanz.listening_outbox.claim")

#: Default time a relay owns the rows it claimed. It covers producing one batch (the producer's
#: retries included); a relay that holds rows longer may see another replica send them too.
DEFAULT_CLAIM_SECONDS = 60.0

_Claimed = tuple[int, str, str, bytes]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _count_produced(items: list[tuple[str, EventEnvelope]]) -> None:
    """Count acknowledged mentions.raw events per network (the key is the mention id "<network>:<id>")."""
    per_network: dict[str, int] = defaultdict(int)
    for key, _ in items:
        per_network[key.partition(":")[0] or "unknown"] += 1
    for network, count in per_network.items():
        metrics.MENTIONS_PRODUCED.labels(network=network).inc(count)


class OutboxRelay:
    """Sends the outbox rows of one replica. ``replica_id`` must be unique among the relays sharing the
    database (the default, ``hostname-pid-random``, is); rows claimed under it by an earlier run of
    the same id are taken back at once."""

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        producer: EventProducer,
        *,
        batch: int = 500,
        replica_id: str | None = None,
        claim_seconds: float = DEFAULT_CLAIM_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if claim_seconds <= 0:
            raise ValueError("claim_seconds must be positive")
        self._sessions = sessions
        self._producer = producer
        self._batch = batch
        self.replica_id = replica_id or default_replica_id()
        self._claim = timedelta(seconds=claim_seconds)
        self._clock = clock
        self._lock = asyncio.Lock()

    async def flush(self) -> int:
        """Send every row this relay can claim; returns how many were sent. Raises BrokerError when
        Kafka fails (the claimed rows are released and stay unsent)."""
        sent = 0
        async with self._lock:
            while True:
                rows = await self._claim_batch()
                if not rows:
                    return sent
                try:
                    await self._produce(rows)
                except BaseException:
                    await asyncio.shield(self._release([row[0] for row in rows]))
                    raise
                await self._mark_sent([row[0] for row in rows])
                sent += len(rows)

    async def try_flush(self) -> int:
        """Like :meth:`flush`, but logs a broker failure instead of raising (rows stay unsent)."""
        try:
            return await self.flush()
        except BrokerError as exc:
            log.warning("could not send outbox events, will retry: %s", exc)
            return 0

    def _claimable(self, now: datetime) -> Any:
        """Unsent, free (or expired, or ours), and no earlier unsent row of its (topic, key) is held by
        another relay's live claim."""
        mine = OutboxRow.claimed_by == self.replica_id
        earlier = aliased(OutboxRow)
        held_before = exists().where(
            earlier.topic == OutboxRow.topic,
            earlier.key == OutboxRow.key,
            earlier.sent.is_(False),
            earlier.id < OutboxRow.id,
            earlier.claimed_until > now,
            earlier.claimed_by != self.replica_id,
        )
        return and_(
            OutboxRow.sent.is_(False),
            or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= now, mine),
            ~held_before,
        )

    async def _claim_batch(self) -> list[_Claimed]:
        now = self._clock()
        until = now + self._claim
        claimable = self._claimable(now)
        claim = {"claimed_by": self.replica_id, "claimed_until": until}
        async with self._sessions() as session, session.begin():
            if _dialect(session) == "postgresql":
                await session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY)))
                ids = list(
                    await session.scalars(
                        select(OutboxRow.id)
                        .where(claimable)
                        .order_by(OutboxRow.id)
                        .limit(self._batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                if not ids:
                    return []
                await session.execute(update(OutboxRow).where(OutboxRow.id.in_(ids)).values(**claim))
            else:
                chosen = (
                    select(OutboxRow.id)
                    .where(claimable)
                    .order_by(OutboxRow.id)
                    .limit(self._batch)
                    .correlate(None)  # the UPDATE would otherwise correlate its own table away
                )
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(chosen.scalar_subquery()))
                    .values(**claim)
                    .execution_options(synchronize_session=False)
                )
            # Plain columns, not ORM objects: the relay only reads them.
            result = await session.execute(
                select(OutboxRow.id, OutboxRow.topic, OutboxRow.key, OutboxRow.envelope)
                .where(
                    OutboxRow.sent.is_(False),
                    OutboxRow.claimed_by == self.replica_id,
                    OutboxRow.claimed_until == until,
                )
                .order_by(OutboxRow.id)
            )
            return [(row[0], row[1], row[2], row[3]) for row in result]

    async def _produce(self, rows: Sequence[_Claimed]) -> None:
        by_topic: dict[str, list[tuple[str, EventEnvelope]]] = defaultdict(list)
        for _, topic, key, envelope in rows:
            by_topic[topic].append((key, EventEnvelope.FromString(envelope)))
        for topic, items in by_topic.items():
            await self._producer.publish_many(topic, items)
            if topic == str(Topic.MENTIONS_RAW):
                _count_produced(items)

    async def _mark_sent(self, ids: list[int]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids))
                .values(sent=True, claimed_by=None, claimed_until=None)
            )

    async def _release(self, ids: list[int]) -> None:
        """Give our claims back (best effort: if this fails too, they expire)."""
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(ids), OutboxRow.claimed_by == self.replica_id)
                    .values(claimed_by=None, claimed_until=None)
                )
        except Exception:
            log.warning("could not release outbox claims; they expire", exc_info=True)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
