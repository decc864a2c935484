"""Retention of the mention history: mentions published more than ``RESONANZ_MENTION_RETENTION_DAYS``
ago are deleted, in bounded batches, by every replica's pruner (the deletes are idempotent).

With each batch go the mentions' label and query-id rows (and, by trigger or generated column, their
full-text entries), in one transaction per batch of ``RESONANZ_RETENTION_BATCH_SIZE``. Sent outbox
rows older than :data:`OUTBOX_KEEP` and tracked posts whose schedule is over and that are older than
the horizon go too.

De-duplication after pruning: the ingest path does not store a mention published before the horizon
(``HistoryHooks.keep``), so a pruned mention collected again (a late poll, a backfill of an old range)
is neither stored nor sent to ``mentions.raw`` a second time. The pruner deletes only below the
horizon minus :data:`GRACE`, so a replica whose clock is a little behind cannot store a mention
another replica has just pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.models import (
    MentionLabelRow,
    MentionQueryRow,
    MentionRow,
    OutboxRow,
    TrackedItemRow,
)

log = logging.getLogger(__name__)

MENTIONS_PRUNED = Counter("resonanz_mentions_pruned", "Mentions deleted by listening's retention pruner.")

#: Extra age beyond the retention before a mention is deleted (clock skew between replicas).
GRACE = timedelta(hours=1)
#: How long sent outbox rows are kept (for inspection after an incident).
OUTBOX_KEEP = timedelta(days=7)


class RetentionPruner:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        *,
        retention: timedelta,
        batch_size: int = 1000,
        interval: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self.retention = retention
        self._batch_size = batch_size
        self._interval = interval
        self._clock = clock

    def cutoff(self) -> datetime:
        """Mentions published before this are deleted."""
        return self._clock() - self.retention - GRACE

    async def prune_once(self) -> int:
        """Delete everything expired, batch by batch; returns the number of mentions deleted."""
        cutoff = self.cutoff()
        total = 0
        while True:
            async with self._sessions() as session, session.begin():
                seqs = list(
                    await session.scalars(
                        select(MentionRow.seq)
                        .where(MentionRow.published_at < cutoff)
                        .order_by(MentionRow.published_at)
                        .limit(self._batch_size)
                    )
                )
                if not seqs:
                    break
                await session.execute(delete(MentionLabelRow).where(MentionLabelRow.seq.in_(seqs)))
                await session.execute(delete(MentionQueryRow).where(MentionQueryRow.seq.in_(seqs)))
                await session.execute(delete(MentionRow).where(MentionRow.seq.in_(seqs)))
            total += len(seqs)
            MENTIONS_PRUNED.inc(len(seqs))
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(OutboxRow).where(
                    OutboxRow.sent.is_(True), OutboxRow.created_at < self._clock() - OUTBOX_KEEP
                )
            )
            await session.execute(
                delete(TrackedItemRow).where(
                    TrackedItemRow.next_refresh_at.is_(None), TrackedItemRow.published_at < cutoff
                )
            )
        if total:
            log.info("pruned %d mentions published before %s", total, cutoff.isoformat())
        return total

    async def run(self, stopping: asyncio.Event) -> None:
        """Prune at start and then every interval until ``stopping`` is set."""
        while not stopping.is_set():
            try:
                await self.prune_once()
            except Exception:
                log.exception("pruning expired mentions failed; retrying next interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._interval)
