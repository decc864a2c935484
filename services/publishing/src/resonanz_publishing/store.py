"""Posts in the database, as the gRPC API sees them: create (idempotently), get, list.

Every query filters by tenant; a post of another tenant is reported as not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from resonanz.common.v1.content_pb2 import PostStatus, TargetStatus
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import NotFoundError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_publishing.convert import from_timestamp, messages_to_json, now_utc, utc
from resonanz_publishing.models import Base, PostRow, TargetRow


@dataclass(frozen=True)
class PageCursor:
    """Where a page of posts (newest first) ends: the last post's creation time and id."""

    created_at: datetime
    post_id: str

    def encode(self) -> str:
        return f"{utc(self.created_at).isoformat()}|{self.post_id}"

    @classmethod
    def decode(cls, raw: str) -> PageCursor:
        """Raises ``ValueError`` on anything that is not a cursor written by :meth:`encode`."""
        created, sep, post_id = raw.partition("|")
        if not sep or not post_id:
            raise ValueError("not a page cursor")
        return cls(utc(datetime.fromisoformat(created)), post_id)


class PostStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def create_tables(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def create_post(self, tenant: str, request: CreatePostRequest) -> tuple[PostRow, bool]:
        """Store a validated request as a post with PENDING targets, in one transaction.

        Returns the post and whether it was created; with an ``idempotency_key`` that the tenant used
        before, the earlier post is returned instead (also when two creates race).
        """
        key = request.idempotency_key or None
        if key is not None:
            existing = await self._by_idempotency_key(tenant, key)
            if existing is not None:
                return existing, False
        now = now_utc()
        scheduled = from_timestamp(request.scheduled_at) if request.HasField("scheduled_at") else now
        post = PostRow(
            id=uuid.uuid4().hex,
            tenant=tenant,
            text=request.text,
            media=messages_to_json(request.media),
            variants=messages_to_json(request.variants),
            campaign_id=request.campaign_id,
            labels=list(request.labels),
            status=PostStatus.POST_STATUS_SCHEDULED,
            scheduled_at=scheduled,
            created_at=now,
            updated_at=now,
            idempotency_key=key,
        )
        post.targets = [
            TargetRow(
                tenant=tenant,
                position=i,
                network=t.network,
                account=t.account,
                status=TargetStatus.TARGET_STATUS_PENDING,
                attempts=0,
                external_id="",
                url="",
                error="",
                updated_at=now,
            )
            for i, t in enumerate(request.targets)
        ]
        try:
            async with self._sessions.begin() as session:
                session.add(post)
        except IntegrityError:
            if key is None:
                raise
            existing = await self._by_idempotency_key(tenant, key)
            if existing is None:
                raise
            return existing, False
        return await self.get_post(tenant, post.id), True

    async def _by_idempotency_key(self, tenant: str, key: str) -> PostRow | None:
        async with self._sessions() as session:
            stmt = select(PostRow).where(PostRow.tenant == tenant, PostRow.idempotency_key == key)
            row: PostRow | None = (await session.execute(stmt)).scalar_one_or_none()
            return row

    async def find_post(self, tenant: str, post_id: str) -> PostRow | None:
        async with self._sessions() as session:
            stmt = select(PostRow).where(PostRow.tenant == tenant, PostRow.id == post_id)
            row: PostRow | None = (await session.execute(stmt)).scalar_one_or_none()
            return row

    async def get_post(self, tenant: str, post_id: str) -> PostRow:
        post = await self.find_post(tenant, post_id)
        if post is None:
            raise NotFoundError(f"post {post_id!r} not found")
        return post

    async def list_posts(
        self,
        tenant: str,
        *,
        limit: int,
        after: PageCursor | None = None,
        status: int = PostStatus.POST_STATUS_UNSPECIFIED,
        campaign_id: str = "",
    ) -> tuple[list[PostRow], PageCursor | None]:
        """One page of the tenant's posts, newest first, and the cursor of the next page (if any)."""
        stmt = select(PostRow).where(PostRow.tenant == tenant)
        if status != PostStatus.POST_STATUS_UNSPECIFIED:
            stmt = stmt.where(PostRow.status == status)
        if campaign_id:
            stmt = stmt.where(PostRow.campaign_id == campaign_id)
        if after is not None:
            stmt = stmt.where(
                or_(
                    PostRow.created_at < after.created_at,
                    and_(PostRow.created_at == after.created_at, PostRow.id < after.post_id),
                )
            )
        stmt = stmt.order_by(PostRow.created_at.desc(), PostRow.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.execute(stmt)).scalars())
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            return rows, PageCursor(utc(last.created_at), last.id)
        return rows, None
