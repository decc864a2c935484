"""State transitions of one post target in the database, each in its own transaction.

The worker calls :meth:`TargetLedger.begin_attempt` before it talks to the network and
:meth:`TargetLedger.finish` afterwards; ``finish`` also recomputes the post's status and stages the
``publish.results`` event in the outbox in the same transaction. A retry that has to wait longer than
the worker wants to sleep is handed back to the dispatcher with :meth:`TargetLedger.defer` (PENDING
again, due later, attempts kept).

Lock order is always target, then post (as in the dispatcher), so concurrent writers cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from resonanz.common.v1.content_pb2 import TargetStatus
from resonanz_sdk.db import session_factory
from resonanz_sdk.eventbus import Topic, new_envelope
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.audit import SYSTEM_ACTOR, record
from resonanz_publishing.convert import now_utc, publish_result
from resonanz_publishing.models import PostRow, TargetRow
from resonanz_publishing.outbox import add_to_outbox
from resonanz_publishing.status import FINAL_TARGET_STATUSES, post_status_from_targets

_OPEN_STATUSES = (
    TargetStatus.TARGET_STATUS_PENDING,
    TargetStatus.TARGET_STATUS_QUEUED,
    TargetStatus.TARGET_STATUS_PUBLISHING,
)


#: The audit action of each final target status.
_FINISH_ACTIONS: dict[int, str] = {
    TargetStatus.TARGET_STATUS_PUBLISHED: "published",
    TargetStatus.TARGET_STATUS_FAILED: "failed",
    TargetStatus.TARGET_STATUS_CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class AttemptStart:
    """The outcome of :meth:`TargetLedger.begin_attempt`."""

    target_id: int
    post_id: str
    #: Attempts so far, this one included; above 1 an earlier attempt may have gone through.
    attempts: int
    #: The target was already final (PUBLISHED, FAILED, CANCELLED): nothing to do.
    already_final: bool
    #: The target waits for a deferred retry that is not due yet (a stale request): nothing to do now.
    not_due: bool = False


class TargetLedger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        self._sqlite = engine.dialect.name == "sqlite"

    async def begin_attempt(
        self, tenant: str, post_id: str, network: str, account: str
    ) -> AttemptStart | None:
        """Mark the target PUBLISHING with one more attempt; ``None`` when there is no such target.

        A PENDING target waiting for a deferred retry (``next_attempt_at`` in the future) is left
        alone, so a stray earlier request never retries before the network's Retry-After; the
        dispatcher clears ``next_attempt_at`` when it re-sends the request.
        """
        now = now_utc()
        async with self._sessions.begin() as session:
            row = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.tenant == tenant,
                        TargetRow.post_id == post_id,
                        TargetRow.network == network,
                        TargetRow.account == account,
                        TargetRow.status.in_(_OPEN_STATUSES),
                        or_(
                            TargetRow.status != TargetStatus.TARGET_STATUS_PENDING,
                            TargetRow.next_attempt_at.is_(None),
                            TargetRow.next_attempt_at <= now,
                        ),
                    )
                    .values(
                        status=TargetStatus.TARGET_STATUS_PUBLISHING,
                        attempts=TargetRow.attempts + 1,
                        next_attempt_at=None,
                        updated_at=now,
                    )
                    .returning(TargetRow.id, TargetRow.attempts)
                    .execution_options(synchronize_session=False)
                )
            ).one_or_none()
            if row is None:
                existing = (
                    await session.execute(
                        select(TargetRow.id, TargetRow.attempts, TargetRow.status).where(
                            TargetRow.tenant == tenant,
                            TargetRow.post_id == post_id,
                            TargetRow.network == network,
                            TargetRow.account == account,
                        )
                    )
                ).one_or_none()
                if existing is None:
                    return None
                if existing.status in FINAL_TARGET_STATUSES:
                    return AttemptStart(existing.id, post_id, existing.attempts, already_final=True)
                return AttemptStart(
                    existing.id, post_id, existing.attempts, already_final=False, not_due=True
                )
            await self._recompute_post(session, post_id, now)
            return AttemptStart(row.id, post_id, row.attempts, already_final=False)

    async def bump_attempt(self, target_id: int) -> int:
        """Count one more network call for the target; the new attempt count."""
        async with self._sessions.begin() as session:
            attempts: int = (
                await session.execute(
                    update(TargetRow)
                    .where(TargetRow.id == target_id)
                    .values(attempts=TargetRow.attempts + 1, updated_at=now_utc())
                    .returning(TargetRow.attempts)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one()
            return attempts

    async def defer(self, target_id: int, *, due_at: datetime, error: str, uncount: bool = False) -> bool:
        """Hand a PUBLISHING target back to the dispatcher: PENDING, due (and next attempt) at ``due_at``.

        The attempts are kept (so the post stays PUBLISHING and the next attempt asks
        ``find_published`` first) and ``error`` says why it waits. ``uncount`` takes back the attempt
        that :meth:`begin_attempt` counted when no network call was made (our own rate limit was full).
        Returns ``False`` (and changes nothing) when the target is no longer PUBLISHING.
        """
        now = now_utc()
        async with self._sessions.begin() as session:
            changed = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.id == target_id, TargetRow.status == TargetStatus.TARGET_STATUS_PUBLISHING
                    )
                    .values(
                        status=TargetStatus.TARGET_STATUS_PENDING,
                        due_at=due_at,
                        next_attempt_at=due_at,
                        error=error,
                        attempts=TargetRow.attempts - (1 if uncount else 0),
                        updated_at=now,
                    )
                    .returning(TargetRow.post_id)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
            if changed is None:
                return False
            await self._recompute_post(session, changed, now)
            return True

    async def finish(
        self,
        target_id: int,
        *,
        status: int,
        external_id: str = "",
        url: str = "",
        published_at: datetime | None = None,
        error: str = "",
    ) -> bool:
        """Record the final outcome, recompute the post status and stage ``publish.results``.

        Returns ``False`` (and changes nothing) when the target is no longer PUBLISHING.
        """
        if status not in FINAL_TARGET_STATUSES:
            raise ValueError("finish needs a final target status")
        now = now_utc()
        async with self._sessions.begin() as session:
            changed = (
                await session.execute(
                    update(TargetRow)
                    .where(
                        TargetRow.id == target_id, TargetRow.status == TargetStatus.TARGET_STATUS_PUBLISHING
                    )
                    .values(
                        status=status,
                        external_id=external_id,
                        url=url,
                        published_at=published_at,
                        error=error,
                        updated_at=now,
                    )
                    .returning(TargetRow.post_id)
                    .execution_options(synchronize_session=False)
                )
            ).scalar_one_or_none()
            if changed is None:
                return False
            before = (await session.execute(select(PostRow.status).where(PostRow.id == changed))).scalar_one()
            post, targets = await self._recompute_post(session, changed, now)
            target = next(t for t in targets if t.id == target_id)
            envelope = new_envelope(post.tenant, publish_result(post, target))
            add_to_outbox(session, Topic.PUBLISH_RESULTS, post.id, envelope)
            published = status == TargetStatus.TARGET_STATUS_PUBLISHED
            outcome = url or external_id if published else error
            record(
                session,
                tenant=post.tenant,
                action=_FINISH_ACTIONS[status],
                actor=SYSTEM_ACTOR,
                post_id=post.id,
                from_status=before,
                to_status=post.status,
                detail=f"{target.network}:{target.account}: {outcome}" if outcome else "",
            )
            return True

    async def _recompute_post(
        self, session: AsyncSession, post_id: str, now: datetime
    ) -> tuple[PostRow, list[TargetRow]]:
        stmt = select(PostRow).where(PostRow.id == post_id).execution_options(populate_existing=True)
        if not self._sqlite:
            stmt = stmt.with_for_update(of=PostRow)
        post = (await session.execute(stmt)).scalar_one()
        targets = list(
            (
                await session.execute(
                    select(TargetRow)
                    .where(TargetRow.post_id == post_id)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )
        status = post_status_from_targets([t.status for t in targets], [t.attempts for t in targets])
        if status != post.status:
            post.status = status
        post.updated_at = now
        return post, targets
