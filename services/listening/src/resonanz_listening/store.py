"""Reads and writes of listening queries and stored mentions; every change is one transaction.

Every method that serves a caller takes the tenant and filters by it: a tenant never sees or
changes another tenant's rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from resonanz.common.v1.mention_pb2 import Mention
from resonanz_sdk.errors import NotFoundError, ValidationError
from resonanz_sdk.network import RawMention
from sqlalchemy import ColumnElement, Select, Table, and_, delete, exists, insert, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening import search
from resonanz_listening.models import CursorRow, MentionLabelRow, MentionQueryRow, MentionRow, QueryRow
from resonanz_listening.search import SearchQuery


def _has_label(labels: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(MentionLabelRow.seq == MentionRow.seq, MentionLabelRow.label.in_(list(labels)))


def _has_query(query_ids: Sequence[str]) -> ColumnElement[bool]:
    return exists().where(
        MentionQueryRow.seq == MentionRow.seq, MentionQueryRow.query_id.in_(list(query_ids))
    )


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
        query_ids: Sequence[str] = (),
        since: datetime | None = None,
        limit: int = 200,
    ) -> list[MentionRow]:
        """The tenant's mentions stored after ``after_seq``, in collection (= commit) order."""
        stmt: Select[MentionRow] = select(MentionRow).where(
            MentionRow.tenant == tenant, MentionRow.seq > after_seq
        )
        if networks:
            stmt = stmt.where(MentionRow.network.in_(list(networks)))
        if since is not None:
            stmt = stmt.where(MentionRow.collected_at >= since)
        if labels:
            stmt = stmt.where(_has_label(labels))
        if query_ids:
            stmt = stmt.where(_has_query(query_ids))
        async with self._sessions() as session:
            return list(await session.scalars(stmt.order_by(MentionRow.seq).limit(limit)))

    async def search_mentions(
        self,
        tenant: str,
        *,
        query: SearchQuery | None,
        labels: Sequence[str] = (),
        networks: Sequence[str] = (),
        query_ids: Sequence[str] = (),
        languages: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        after: SearchPosition | None = None,
        limit: int = 50,
    ) -> tuple[list[MentionRow], bool]:
        """Mentions matching ``query`` and the filters, newest published first, and whether more follow.

        ``since``/``until``: published at or after / before. ``after``: the position of the last
        mention of the previous page (keyset pagination on ``(published_at, seq)`` descending).
        """
        stmt: Select[MentionRow] = select(MentionRow).where(MentionRow.tenant == tenant)
        if networks:
            stmt = stmt.where(MentionRow.network.in_(list(networks)))
        if languages:
            stmt = stmt.where(MentionRow.language.in_(list(languages)))
        if since is not None:
            stmt = stmt.where(MentionRow.published_at >= since)
        if until is not None:
            stmt = stmt.where(MentionRow.published_at < until)
        if labels:
            stmt = stmt.where(_has_label(labels))
        if query_ids:
            stmt = stmt.where(_has_query(query_ids))
        if after is not None:
            stmt = stmt.where(
                or_(
                    MentionRow.published_at < after.published_at,
                    and_(MentionRow.published_at == after.published_at, MentionRow.seq < after.seq),
                )
            )
        stmt = stmt.order_by(MentionRow.published_at.desc(), MentionRow.seq.desc()).limit(limit + 1)
        async with self._sessions() as session:
            if query is not None:
                stmt = stmt.where(search.match(session.get_bind().dialect.name, query))
            try:
                rows = list(await session.scalars(stmt))
            except DBAPIError as exc:  # the engine refused the query after all: the caller's input
                if "fts5" in str(exc.orig).lower() or "tsquery" in str(exc.orig).lower():
                    raise ValidationError.single("text", "the search engine cannot run this query") from None
                raise
        return rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class SearchPosition:
    """Where a search page ended: the last mention's publication time and seq."""

    published_at: datetime
    seq: int


#: Key of the PostgreSQL advisory lock that serialises mention-writing transactions (see HistoryHooks).
MENTION_WRITE_LOCK = 0x5245_534F_4C53_4E31  # "RESOLSN1"

#: Starts tracking new mentions, in the transaction that stores them (one call per transaction).
TrackMentions = Callable[[AsyncSession, Sequence[Mention]], Awaitable[None]]

_STORED = "resonanz_listening.stored_mentions"
_QUERY_REFS = "resonanz_listening.stored_query_refs"
_QUERY_TABLE = cast("Table", MentionQueryRow.__table__)


class HistoryHooks:
    """What the history needs from every transaction that stores mentions (called by the Ingestor).

    * :meth:`begin`, first in the transaction: on PostgreSQL it takes a transaction-scoped advisory
      lock, so mention-writing transactions commit one after the other and ``seq`` grows in commit
      order. A stream that read up to seq N can then never later find a committed mention below N,
      so resuming after a cursor neither skips nor repeats. (SQLite has one writer at a time anyway.)
    * :meth:`keep`: mentions published before the retention horizon are not stored: the pruner may
      have deleted them already, and storing them again would send them to ``mentions.raw`` twice.
    * :meth:`stored` collects a new mention's query-id rows (for ``query_ids`` filters) and, when
      engagement tracking is on, the mention; :meth:`finish`, last in the transaction, writes all of
      them with one executemany each. :meth:`merged`: query ids added to a stored mention.
    """

    def __init__(
        self,
        *,
        retention: timedelta | None = None,
        track: TrackMentions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.retention = retention
        self._track = track
        self._clock = clock

    async def begin(self, session: AsyncSession) -> None:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MENTION_WRITE_LOCK})

    def keep(self, raw: RawMention) -> bool:
        if self.retention is None:
            return True
        published = raw.published_at if raw.published_at.tzinfo else raw.published_at.replace(tzinfo=UTC)
        return published >= self._clock() - self.retention

    async def stored(self, session: AsyncSession, row: MentionRow, mention: Mention) -> None:
        session.info.setdefault(_QUERY_REFS, []).extend(
            {"seq": row.seq, "query_id": query_id, "tenant": row.tenant}
            for query_id in sorted(set(mention.query_ids))
        )
        if self._track is not None:
            session.info.setdefault(_STORED, []).append(mention)

    async def finish(self, session: AsyncSession) -> None:
        """Write what :meth:`stored` collected, in a few statements (Core executemany, no ORM objects)."""
        refs: list[dict[str, Any]] = session.info.pop(_QUERY_REFS, [])
        if refs:
            await session.execute(insert(_QUERY_TABLE), refs)
        stored: list[Mention] = session.info.pop(_STORED, [])
        if stored and self._track is not None:
            await self._track(session, stored)

    async def merged(self, session: AsyncSession, row: MentionRow, added_query_ids: Iterable[str]) -> None:
        session.add_all(
            MentionQueryRow(seq=row.seq, query_id=query_id, tenant=row.tenant)
            for query_id in sorted(set(added_query_ids))
        )
