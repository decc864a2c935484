"""The dispatcher: turns PENDING targets of due posts into ``publish.requests`` events, once each.

Claiming and staging happen in one transaction: the claimed targets become QUEUED and one outbox row
per target is written, so the request is sent exactly once per target even with several dispatcher
replicas (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: a conditional UPDATE
PENDING -> QUEUED that only one writer can win). The outbox relay sends the events afterwards.
"""

from __future__ import annotations

import logging
from datetime import datetime

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz_sdk.db import session_factory
from resonanz_sdk.eventbus import Topic, new_envelope
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.convert import now_utc, publish_requested, request_key
from resonanz_publishing.models import PostRow, TargetRow
from resonanz_publishing.outbox import add_to_outbox

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, engine: AsyncEngine, *, batch_size: int = 200) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._batch_size = batch_size

    async def dispatch_once(self, now: datetime | None = None) -> list[str]:
        """Claim due PENDING targets, stage their requests in the outbox; the affected post ids."""
        now = now or now_utc()
        async with self._sessions.begin() as session:
            targets = await self._claim(session, now)
            if not targets:
                return []
            post_ids = sorted({t.post_id for t in targets})
            posts = {
                p.id: p
                for p in (await session.execute(select(PostRow).where(PostRow.id.in_(post_ids)))).scalars()
            }
            for target in targets:
                post = posts[target.post_id]
                envelope = new_envelope(target.tenant, publish_requested(post, target))
                add_to_outbox(
                    session, Topic.PUBLISH_REQUESTS, request_key(target.network, target.account), envelope
                )
            # In id order, so that concurrent dispatchers lock posts in the same order.
            await session.execute(
                update(PostRow)
                .where(PostRow.id.in_(post_ids), PostRow.status == PostStatus.POST_STATUS_SCHEDULED)
                .values(status=PostStatus.POST_STATUS_PUBLISHING, updated_at=now)
            )
        log.info("dispatched %d targets of %d posts", len(targets), len(post_ids))
        return post_ids

    async def _claim(self, session: AsyncSession, now: datetime) -> list[TargetRow]:
        due = (
            select(TargetRow)
            .join(PostRow, PostRow.id == TargetRow.post_id)
            .where(TargetRow.status == TargetStatus.TARGET_STATUS_PENDING, PostRow.scheduled_at <= now)
            .order_by(PostRow.scheduled_at, TargetRow.id)
            .limit(self._batch_size)
        )
        if not self._sqlite:
            rows = list(
                (await session.execute(due.with_for_update(of=TargetRow, skip_locked=True))).scalars()
            )
            if rows:
                await session.execute(
                    update(TargetRow)
                    .where(TargetRow.id.in_([r.id for r in rows]))
                    .values(status=TargetStatus.TARGET_STATUS_QUEUED, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
            return rows
        candidates = [r.id for r in (await session.execute(due)).scalars()]
        if not candidates:
            return []
        # One conditional UPDATE: a target claimed by a concurrent dispatcher is no longer PENDING.
        claimed = (
            await session.execute(
                update(TargetRow)
                .where(TargetRow.id.in_(candidates), TargetRow.status == TargetStatus.TARGET_STATUS_PENDING)
                .values(status=TargetStatus.TARGET_STATUS_QUEUED, updated_at=now)
                .returning(TargetRow.id)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
        ids = list(claimed)
        if not ids:
            return []
        return list(
            (
                await session.execute(
                    select(TargetRow).where(TargetRow.id.in_(ids)).execution_options(populate_existing=True)
                )
            ).scalars()
        )
