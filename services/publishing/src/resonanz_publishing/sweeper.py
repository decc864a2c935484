"""Housekeeping on a tick: recover targets whose worker died, prune what is no longer needed.

* A target PUBLISHING for longer than ``stale_after_seconds`` lost its worker (a crash between
  "marked PUBLISHING" and "recorded the outcome"; a live worker refreshes ``updated_at`` on every
  retry). It goes back to PENDING, due now, attempts kept: the retry asks the network
  (``find_published``) whether the earlier attempt went through before publishing again.
* A target QUEUED for longer than ``stale_after_seconds`` whose account has no unsent request left in
  the outbox was requested but never picked up (e.g. the request went to the dead-letter topic). It
  goes back to PENDING, due now, the same way.
* Sent outbox rows and processed-event ids older than ``retention_seconds`` are deleted in batches,
  and old rate-limit windows with them.

Every replica may run the sweeper: each step is a conditional UPDATE or DELETE that is safe to race.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz_sdk.db import session_factory
from resonanz_sdk.eventbus import Topic
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.convert import now_utc
from resonanz_publishing.models import OutboxRow, ProcessedEventRow, TargetRow
from resonanz_publishing.ratelimit import RateLimiter

log = logging.getLogger(__name__)

#: How long sent outbox rows and processed-event ids are kept.
DEFAULT_RETENTION_SECONDS = 7 * 86400.0
#: Rows deleted per transaction when pruning.
PRUNE_BATCH_SIZE = 1000


@dataclass(frozen=True)
class SweepReport:
    requeued_publishing: int = 0
    requeued_queued: int = 0
    pruned_outbox: int = 0
    pruned_processed: int = 0
    pruned_windows: int = 0


class Sweeper:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        stale_after_seconds: float,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        batch_size: int = PRUNE_BATCH_SIZE,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._sessions = session_factory(engine)
        self._stale = timedelta(seconds=stale_after_seconds)
        self._retention = timedelta(seconds=retention_seconds)
        self._batch_size = batch_size
        self._limiter = limiter

    async def sweep_once(self, now: datetime | None = None) -> SweepReport:
        """One pass of every job; what it did."""
        now = now or now_utc()
        report = SweepReport(
            requeued_publishing=await self.requeue_stale_publishing(now),
            requeued_queued=await self.requeue_lost_requests(now),
            pruned_outbox=await self.prune_outbox(now),
            pruned_processed=await self.prune_processed_events(now),
            pruned_windows=await self._limiter.prune() if self._limiter is not None else 0,
        )
        if report.requeued_publishing or report.requeued_queued:
            log.warning(
                "re-queued %d stale PUBLISHING and %d lost QUEUED targets",
                report.requeued_publishing,
                report.requeued_queued,
            )
        return report

    async def requeue_stale_publishing(self, now: datetime) -> int:
        """PUBLISHING targets untouched for ``stale_after_seconds`` -> PENDING, due now."""
        async with self._sessions.begin() as session:
            ids = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.status == TargetStatus.TARGET_STATUS_PUBLISHING,
                        TargetRow.updated_at < now - self._stale,
                    )
                    .values(
                        status=TargetStatus.TARGET_STATUS_PENDING,
                        due_at=now,
                        next_attempt_at=None,
                        error="the worker stopped during the attempt; retrying",
                        updated_at=now,
                    )
                    .returning(TargetRow.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        return len(ids)

    async def requeue_lost_requests(self, now: datetime) -> int:
        """QUEUED targets whose request went out long ago and was never picked up -> PENDING, due now."""
        unsent_for_account = exists().where(
            and_(
                OutboxRow.sent_at.is_(None),
                OutboxRow.topic == Topic.PUBLISH_REQUESTS.value,
                OutboxRow.key == TargetRow.network + ":" + TargetRow.account,
            )
        )
        async with self._sessions.begin() as session:
            ids = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.status == TargetStatus.TARGET_STATUS_QUEUED,
                        TargetRow.updated_at < now - self._stale,
                        ~unsent_for_account,
                    )
                    .values(
                        status=TargetStatus.TARGET_STATUS_PENDING,
                        due_at=now,
                        next_attempt_at=None,
                        updated_at=now,
                    )
                    .returning(TargetRow.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        return len(ids)

    async def prune_outbox(self, now: datetime) -> int:
        """Delete outbox rows sent before the retention, in batches."""
        cutoff = now - self._retention
        batch = select(OutboxRow.id).where(OutboxRow.sent_at < cutoff).limit(self._batch_size)
        total = 0
        while True:
            async with self._sessions.begin() as session:
                ids = list((await session.execute(batch)).scalars())
                if ids:
                    await session.execute(
                        delete(OutboxRow)
                        .where(OutboxRow.id.in_(ids))
                        .execution_options(synchronize_session=False)
                    )
            total += len(ids)
            if len(ids) < self._batch_size:
                return total

    async def prune_processed_events(self, now: datetime) -> int:
        """Delete processed-event ids older than the retention, in batches."""
        cutoff = now - self._retention
        batch = (
            select(ProcessedEventRow.event_id)
            .where(ProcessedEventRow.processed_at < cutoff)
            .limit(self._batch_size)
        )
        total = 0
        while True:
            async with self._sessions.begin() as session:
                ids = list((await session.execute(batch)).scalars())
                if ids:
                    await session.execute(
                        delete(ProcessedEventRow)
                        .where(ProcessedEventRow.event_id.in_(ids))
                        .execution_options(synchronize_session=False)
                    )
            total += len(ids)
            if len(ids) < self._batch_size:
                return total
