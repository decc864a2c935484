"""Comments on a post: the team's conversation during review (a rejection's reason is one too)."""

from __future__ import annotations

import uuid

from resonanz.publishing.v1.publishing_service_pb2 import Comment
from resonanz_sdk.db import session_factory
from resonanz_sdk.grpc import Validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from resonanz_publishing.audit import ANONYMOUS_ACTOR, record
from resonanz_publishing.convert import now_utc, to_timestamp
from resonanz_publishing.models import CommentRow
from resonanz_publishing.store import load_post

MAX_COMMENT_LENGTH = 5000


def check_comment_text(v: Validator, text: str, field: str = "text") -> None:
    if v.non_empty(text, field):
        v.max_length(text, MAX_COMMENT_LENGTH, field)


def add_comment_in(session: AsyncSession, *, tenant: str, post_id: str, author: str, text: str) -> CommentRow:
    """Add a comment in the caller's transaction (used by RejectPost for the reason)."""
    row = CommentRow(
        id=uuid.uuid4().hex,
        post_id=post_id,
        tenant=tenant,
        author=author or ANONYMOUS_ACTOR,
        text=text,
        created_at=now_utc(),
    )
    session.add(row)
    return row


class CommentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def add(self, tenant: str, post_id: str, author: str, text: str) -> CommentRow:
        """Comment on the tenant's post (NotFoundError for another tenant's); audited as ``commented``."""
        async with self._sessions.begin() as session:
            post = await load_post(session, tenant, post_id, lock=False)
            row = add_comment_in(session, tenant=tenant, post_id=post_id, author=author, text=text)
            record(
                session,
                tenant=tenant,
                action="commented",
                actor=author,
                post_id=post_id,
                from_status=post.status,
                to_status=post.status,
                detail=text[:200],
            )
        return row

    async def list_comments(self, tenant: str, post_id: str) -> list[CommentRow]:
        """Oldest first."""
        async with self._sessions() as session:
            await load_post(session, tenant, post_id, lock=False)
            stmt = (
                select(CommentRow)
                .where(CommentRow.tenant == tenant, CommentRow.post_id == post_id)
                .order_by(CommentRow.created_at, CommentRow.id)
            )
            return list((await session.execute(stmt)).scalars())


def comment_to_proto(row: CommentRow) -> Comment:
    return Comment(
        id=row.id,
        post_id=row.post_id,
        author=row.author,
        text=row.text,
        created_at=to_timestamp(row.created_at),
    )
