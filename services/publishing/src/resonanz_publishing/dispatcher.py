"""The dispatcher: turns due PENDING targets into ``publish.requests`` events, once each.

A target is due when it is PENDING with ``due_at <= now`` and its post is SCHEDULED or PUBLISHING
(PUBLISHING: a deferred retry of a post that is already going out). Drafts and posts in review have
``due_at`` NULL and are never picked.

Claiming and staging happen in one transaction: the claimed targets become QUEUED and one outbox row
per target is written, so the request is sent exactly once per claim even with several dispatcher
replicas (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: a conditional UPDATE
PENDING -> QUEUED that only one writer can win). The outbox relay sends the events afterwards. Each
claimed post gets one ``dispatched`` audit event per pass (not one per target).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus, UtmParameters
from resonanz_sdk.db import session_factory
from resonanz_sdk.eventbus import Topic, new_envelope
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing import audit, campaigns
from resonanz_publishing.convert import now_utc, publish_requested, request_key
from resonanz_publishing.models import PostRow, TargetRow
from resonanz_publishing.outbox import add_to_outbox

log = logging.getLogger(__name__)

#: Post statuses whose due targets are dispatched.
DISPATCHABLE_POST_STATUSES = (PostStatus.POST_STATUS_SCHEDULED, PostStatus.POST_STATUS_PUBLISHING)


class Dispatcher:
    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"
        self._batch_size = batch_size

    async def dispatch_once(self, now: datetime | None = None) -> list[str]:
        """Claim one batch of due targets and stage their requests; the affected post ids."""
        now = now or now_utc()
        async with self._sessions.begin() as session:
            targets = await self._claim(session, now)
            if not targets:
                return []
            post_ids = sorted({t.post_id for t in targets})
            posts = {
                p.id: p
                for p in (
                    await session.execute(
                        select(PostRow)
                        .where(PostRow.id.in_(post_ids))
                        .execution_options(populate_existing=True)
                    )
                ).scalars()
            }
            utm = await self._campaign_utm(session, posts.values())
            for target in targets:
                post = posts[target.post_id]
                payload = publish_requested(post, target, utm.get((post.tenant, post.campaign_id)))
                add_to_outbox(
                    session,
                    Topic.PUBLISH_REQUESTS,
                    request_key(target.network, target.account),
                    new_envelope(target.tenant, payload),
                )
            by_post: dict[str, list[TargetRow]] = {}
            for target in targets:
                by_post.setdefault(target.post_id, []).append(target)
            for post_id in post_ids:
                post = posts[post_id]
                claimed = by_post[post_id]
                retry = any(t.attempts > 0 for t in claimed)
                audit.record(
                    session,
                    tenant=post.tenant,
                    action="dispatched",
                    actor=audit.SYSTEM_ACTOR,
                    post_id=post_id,
                    from_status=post.status,
                    to_status=PostStatus.POST_STATUS_PUBLISHING,
                    detail=("retry: " if retry else "")
                    + ", ".join(f"{t.network}:{t.account}" for t in claimed),
                )
            # In id order, so that concurrent dispatchers lock posts in the same order.
            await session.execute(
                update(PostRow)
                .where(PostRow.id.in_(post_ids), PostRow.status == PostStatus.POST_STATUS_SCHEDULED)
                .values(status=PostStatus.POST_STATUS_PUBLISHING, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        log.debug("dispatched %d targets of %d posts", len(targets), len(post_ids))
        return post_ids

    async def dispatch_due(self, now: datetime | None = None) -> list[str]:
        """Dispatch batches until nothing is due at ``now``; every affected post id."""
        out: list[str] = []
        while batch := await self.dispatch_once(now):
            out.extend(batch)
        return out

    async def _campaign_utm(
        self, session: AsyncSession, posts: Iterable[PostRow]
    ) -> dict[tuple[str, str], UtmParameters]:
        """The UTM parameters of the posts' campaigns that set any, by (tenant, campaign id)."""
        wanted = {(p.tenant, p.campaign_id) for p in posts if p.campaign_id}
        out: dict[tuple[str, str], UtmParameters] = {}
        for tenant, campaign_id in wanted:
            utm = campaigns.campaign_utm(await campaigns.find_in(session, tenant, campaign_id))
            if utm is not None:
                out[(tenant, campaign_id)] = utm
        return out

    async def _claim(self, session: AsyncSession, now: datetime) -> list[TargetRow]:
        due = (
            select(TargetRow)
            .join(PostRow, PostRow.id == TargetRow.post_id)
            .where(
                TargetRow.status == TargetStatus.TARGET_STATUS_PENDING,
                TargetRow.due_at <= now,
                PostRow.status.in_(DISPATCHABLE_POST_STATUSES),
            )
            .order_by(TargetRow.due_at, TargetRow.id)
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
                    .values(status=TargetStatus.TARGET_STATUS_QUEUED, next_attempt_at=None, updated_at=now)
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
                .values(status=TargetStatus.TARGET_STATUS_QUEUED, next_attempt_at=None, updated_at=now)
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
