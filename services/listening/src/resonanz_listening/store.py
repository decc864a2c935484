"""Reads and writes of listening queries and stored mentions; every change is one transaction.

Every method that serves a caller takes the tenant and filters by it: a tenant never sees or
changes another tenant's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from resonanz_sdk.errors import NotFoundError
from sqlalchemy import ColumnElement, Select, delete, exists, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from resonanz_listening.models import CursorRow, MentionLabelRow, MentionRow, QueryRow


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_label(labels: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(MentionLabelRow.seq == MentionRow.seq, MentionLabelRow.label.in_(list(labels)))


class ListeningStore:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    # -- queries -------------------------------------------------------------------------------

    async def add_query(self, row: QueryRow) -> QueryRow:
        async with self._sessions() as session, session.begin():
            session.add(row)
        return row

    async def get_query(self, tenant: str, query_id: str) -> QueryRow:
        async with self._sessions() as session:
            row: QueryRow | None = await session.scalar(
                select(QueryRow).where(QueryRow.tenant == tenant, QueryRow.id == query_id)
            )
        if row is None:
            raise NotFoundError(f"listening query {query_id!r} does not exist")
        return row

    async def list_queries(self, tenant: str, *, offset: int, limit: int) -> tuple[list[QueryRow], bool]:
        """One page of the tenant's queries, oldest first, and whether more follow."""
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(QueryRow)
                    .where(QueryRow.tenant == tenant)
                    .order_by(QueryRow.created_at, QueryRow.id)
                    .offset(offset)
                    .limit(limit + 1)
                )
            )
        return rows[:limit], len(rows) > limit

    async def delete_query(self, tenant: str, query_id: str) -> None:
        """Delete the query and its cursors; mentions it collected stay."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(CursorRow).where(CursorRow.tenant == tenant, CursorRow.query_id == query_id)
            )
            result = await session.execute(
                delete(QueryRow).where(QueryRow.tenant == tenant, QueryRow.id == query_id)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFoundError(f"listening query {query_id!r} does not exist")

    async def enabled_queries(self) -> list[QueryRow]:
        """Every enabled query of every tenant (for the collector)."""
        async with self._sessions() as session:
            return list(
                await session.scalars(
                    select(QueryRow).where(QueryRow.enabled.is_(True)).order_by(QueryRow.created_at)
                )
            )

    async def cursors(self) -> dict[tuple[str, str], str | None]:
        """The stored search cursor of every (query id, network)."""
        async with self._sessions() as session:
            rows = await session.execute(select(CursorRow.query_id, CursorRow.network, CursorRow.cursor))
            return {(q, n): c for q, n, c in rows}

    # -- mentions ------------------------------------------------------------------------------

    async def mentions_after(
        self,
        tenant: str,
        *,
        after_seq: int,
        labels: Sequence[str] = (),
        networks: Sequence[str] = (),
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[MentionRow]:
        """The tenant's mentions stored after ``after_seq``, in collection order."""
        stmt: Select[MentionRow] = select(MentionRow).where(
            MentionRow.tenant == tenant, MentionRow.seq > after_seq
        )
        if networks:
            stmt = stmt.where(MentionRow.network.in_(list(networks)))
        if since is not None:
            stmt = stmt.where(MentionRow.collected_at >= since)
        if labels:
            stmt = stmt.where(_has_label(labels))
        async with self._sessions() as session:
            return list(await session.scalars(stmt.order_by(MentionRow.seq).limit(limit)))

    async def search_mentions(
        self,
        tenant: str,
        *,
        text: str,
        labels: Sequence[str] = (),
        before_seq: int | None = None,
        limit: int = 50,
    ) -> tuple[list[MentionRow], bool]:
        """Mentions whose text contains ``text`` (case-insensitive), newest first, and whether more follow."""
        stmt: Select[MentionRow] = select(MentionRow).where(MentionRow.tenant == tenant)
        if text:
            stmt = stmt.where(MentionRow.search_text.like(_like_pattern(text.casefold()), escape="\\"))
        if labels:
            stmt = stmt.where(_has_label(labels))
        if before_seq is not None:
            stmt = stmt.where(MentionRow.seq < before_seq)
        async with self._sessions() as session:
            rows = list(await session.scalars(stmt.order_by(MentionRow.seq.desc()).limit(limit + 1)))
        return rows[:limit], len(rows) > limit
