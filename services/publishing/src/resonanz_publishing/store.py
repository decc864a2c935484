"""Posts in the database, as the gRPC API sees them: get, list (with filters), and the reads and locks
the workflow (``workflow.py``) builds its transactions from.

Every query filters by tenant; a post of another tenant is reported as not found.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from resonanz.common.v1.content_pb2 import Post, PostStatus, TargetStatus
from resonanz.publishing.v1.publishing_service_pb2 import CreatePostRequest
from resonanz_sdk.db import session_factory
from resonanz_sdk.errors import NotFoundError
from sqlalchemy import ColumnElement, and_, cast, column, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.convert import from_timestamp, messages_to_json, now_utc, post_to_proto, utc
from resonanz_publishing.models import ApprovalRow, Base, PostRow, TargetRow


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


def new_post_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class PostFilter:
    """ListPosts filters; empty values do not filter."""

    status: int = PostStatus.POST_STATUS_UNSPECIFIED
    campaign_id: str = ""
    label: str = ""
    network: str = ""
    account: str = ""
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None


async def load_post(session: AsyncSession, tenant: str, post_id: str, *, lock: bool) -> PostRow:
    """The tenant's post with fresh targets, read in ``session``; NotFoundError when there is none.

    With ``lock`` (PostgreSQL) the targets and then the post are locked ``FOR UPDATE``, the same order
    as the dispatcher and the workers, so the caller's checks hold until it commits. On SQLite the
    caller's conditional UPDATEs guard against concurrent writers instead.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    if lock and postgres:
        await session.execute(
            select(TargetRow.id)
            .where(TargetRow.tenant == tenant, TargetRow.post_id == post_id)
            .order_by(TargetRow.id)
            .with_for_update()
        )
    stmt = (
        select(PostRow)
        .where(PostRow.tenant == tenant, PostRow.id == post_id)
        .execution_options(populate_existing=True)
    )
    if lock and postgres:
        stmt = stmt.with_for_update(of=PostRow)
    post: PostRow | None = (await session.execute(stmt)).scalar_one_or_none()
    if post is None:
        raise NotFoundError(f"post {post_id!r} not found")
    await session.refresh(post, ["targets"])
    return post


async def post_id_by_idempotency_key(session: AsyncSession, tenant: str, key: str) -> str | None:
    """The id of the tenant's post created with idempotency ``key``, or ``None`` (one query)."""
    stmt = select(PostRow.id).where(PostRow.tenant == tenant, PostRow.idempotency_key == key)
    post_id: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return post_id


async def approvals_of(session: AsyncSession, post_ids: Iterable[str]) -> dict[str, list[ApprovalRow]]:
    """The approvals of the current review round of each post, by post id."""
    ids = list(set(post_ids))
    out: defaultdict[str, list[ApprovalRow]] = defaultdict(list)
    if not ids:
        return out
    rows = (
        await session.execute(
            select(ApprovalRow).where(ApprovalRow.post_id.in_(ids)).order_by(ApprovalRow.step, ApprovalRow.id)
        )
    ).scalars()
    for row in rows:
        out[row.post_id].append(row)
    return out


class PostStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"

    async def find_by_idempotency_key(self, tenant: str, key: str) -> PostRow | None:
        return await self._by_idempotency_key(tenant, key)

    async def view(self, tenant: str, post_id: str) -> Post:
        """The post as the API shows it (targets and the current round's approvals)."""
        async with self._sessions() as session:
            # A fresh session: the targets come with the post (selectin), no refresh needed.
            stmt = select(PostRow).where(PostRow.tenant == tenant, PostRow.id == post_id)
            post: PostRow | None = (await session.execute(stmt)).scalar_one_or_none()
            if post is None:
                raise NotFoundError(f"post {post_id!r} not found")
            approvals = await approvals_of(session, [post.id])
            return post_to_proto(post, approvals.get(post.id, ()))

    async def views(self, posts: Iterable[PostRow]) -> list[Post]:
        rows = list(posts)
        async with self._sessions() as session:
            approvals = await approvals_of(session, [p.id for p in rows])
        return [post_to_proto(p, approvals.get(p.id, ())) for p in rows]

    async def create_tables(self) -> None:
        async with self._engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)

    async def create_post(self, tenant: str, request: CreatePostRequest) -> tuple[PostRow, bool]:
        """Store a validated request as a SCHEDULED post with due PENDING targets, in one transaction.

        Bypasses the workflow (no review, no account checks): for the dispatcher's tests and the
        benchmarks. The API creates posts through ``PostWorkflow.create``.

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
            id=new_post_id(),
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
                scheduled_at=scheduled,
                due_at=scheduled,
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
        filters: PostFilter | None = None,
    ) -> tuple[list[PostRow], PageCursor | None]:
        """One page of the tenant's posts, newest first, and the cursor of the next page (if any)."""
        stmt = select(PostRow).where(PostRow.tenant == tenant, *self._conditions(filters or PostFilter()))
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

    def _conditions(self, f: PostFilter) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if f.status != PostStatus.POST_STATUS_UNSPECIFIED:
            out.append(PostRow.status == f.status)
        if f.campaign_id:
            out.append(PostRow.campaign_id == f.campaign_id)
        if f.label:
            out.append(self._has_label(f.label))
        if f.network or f.account:
            on_target = [TargetRow.post_id == PostRow.id]
            if f.network:
                on_target.append(TargetRow.network == f.network)
            if f.account:
                on_target.append(TargetRow.account == f.account)
            out.append(exists().where(*on_target))
        if f.scheduled_from is not None:
            out.append(PostRow.scheduled_at >= f.scheduled_from)
        if f.scheduled_to is not None:
            out.append(PostRow.scheduled_at < f.scheduled_to)
        return out

    def _has_label(self, label: str) -> ColumnElement[bool]:
        """The post's JSON label list contains ``label`` (jsonb containment; SQLite's json_each)."""
        if self._postgres:
            return cast(PostRow.labels, JSONB).contains([label])
        each = func.json_each(PostRow.labels).table_valued("value")
        return exists().select_from(each).where(column("value") == label)
