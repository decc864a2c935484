"""Stores what one collection round found, in one transaction per round.

In that transaction: the new search cursor of every (query, network) searched, each new mention
(unique per tenant and mention id; a mention several queries matched is stored once with all their
ids and labels), its labels, and one ``mentions.raw`` outbox row per *new* mention. Either all of it
is committed or none, so a crash never loses a mention whose cursor moved past it, and never stores a
mention without its event.

A result may carry a *fence* (:class:`Fence`, e.g. the collection lease of its (query, network)):
the fence is checked first, in the same transaction, and a result whose fence no longer holds is
dropped whole (no cursor, no mentions), so a replica that lost its lease changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from resonanz.events.v1.events_pb2 import MentionCollected
from resonanz_sdk.eventbus import Topic, new_envelope
from resonanz_sdk.network import RawMention
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening import convert
from resonanz_listening.models import CursorRow, MentionLabelRow, MentionRow, OutboxRow, QueryRow
from resonanz_listening.store import HistoryHooks


class Fence(Protocol):
    """A condition checked inside the write transaction before a result is stored."""

    async def holds(self, session: AsyncSession) -> bool:
        """Whether the writer may still write (e.g. still holds the lease, same generation)."""
        ...


@dataclass(frozen=True)
class SearchResult:
    """One (query, network) search: the matching mentions and where the next search continues."""

    query_id: str
    tenant: str
    label: str
    network: str
    cursor: str | None
    mentions: Sequence[RawMention]
    #: Checked first; when it no longer holds the result is dropped whole.
    fence: Fence | None = None
    #: False for backfill and stream results: they never move the live search cursor.
    write_cursor: bool = True
    #: The query expression the search ran with; when set and the query has changed since
    #: (UpdateQuery committed meanwhile), the result is dropped whole, cursor included.
    expression: str | None = None


@dataclass
class RoundOutcome:
    """What :meth:`Ingestor.store_round` stored."""

    #: New mentions per network.
    new_by_network: Counter[str] = field(default_factory=Counter)
    #: New mentions per (query id, network); a new mention matched by two queries counts for both.
    new_by_query: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: (query id, network) of the results dropped because their fence no longer held.
    fenced_out: set[tuple[str, str]] = field(default_factory=set)


#: Runs inside the round's transaction after the mentions are stored (progress, collection state).
Extra = Callable[[AsyncSession, RoundOutcome], Awaitable[None]]


#: The columns a new mention row is inserted with (``seq`` is assigned by the database).
_MENTION_COLUMNS = tuple(c.key for c in MentionRow.__table__.columns if c.key != "seq")


@dataclass
class _Pending:
    network: str
    raw: RawMention
    query_ids: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


class Ingestor:
    """Stores rounds; ``hooks`` (the mention history's, see :class:`HistoryHooks`) run in each one."""

    def __init__(self, sessions: async_sessionmaker[Any], *, hooks: HistoryHooks | None = None) -> None:
        self._sessions = sessions
        self._hooks = hooks or HistoryHooks()

    @property
    def sessions(self) -> async_sessionmaker[Any]:
        return self._sessions

    async def store(self, results: Sequence[SearchResult], *, collected_at: datetime) -> Counter[str]:
        """Store one round; returns the number of new mentions per network."""
        if not results:
            return Counter()
        return (await self.store_round(results, collected_at=collected_at)).new_by_network

    async def store_round(
        self, results: Sequence[SearchResult], *, collected_at: datetime, extra: Extra | None = None
    ) -> RoundOutcome:
        """Store one round (checking fences first); ``extra`` runs in the same transaction."""
        outcome = RoundOutcome()
        if not results and extra is None:
            return outcome
        async with self._sessions() as session, session.begin():
            await self._hooks.begin(session)  # L2: serialises mention writers (seq = commit order)
            results = await self._fenced(session, results, outcome)
            query_ids = {r.query_id for r in results}
            rows = await session.execute(
                select(QueryRow.id, QueryRow.expression).where(QueryRow.id.in_(query_ids))
            )
            live: dict[str, str] = {query_id: expression for query_id, expression in rows}  # noqa: C416
            pending: dict[tuple[str, str], _Pending] = {}
            for result in results:
                if result.query_id not in live:
                    continue  # deleted while we searched: its cursor and mentions are not wanted
                if result.expression is not None and live[result.query_id] != result.expression:
                    continue  # updated while we searched: the old search's cursor is not wanted
                if result.write_cursor:
                    await session.merge(
                        CursorRow(
                            query_id=result.query_id,
                            network=result.network,
                            tenant=result.tenant,
                            cursor=result.cursor,
                            updated_at=collected_at,
                        )
                    )
                for raw in result.mentions:
                    if not self._hooks.keep(raw):
                        continue  # L2: published before the retention horizon
                    key = (result.tenant, convert.mention_id(result.network, raw.external_id))
                    item = pending.setdefault(key, _Pending(result.network, raw))
                    item.query_ids.add(result.query_id)
                    item.labels.add(result.label)
            tenants = {tenant for tenant, _ in pending}
            for tenant in sorted(tenants):
                items = {mid: p for (t, mid), p in pending.items() if t == tenant}
                await self._store_tenant(session, tenant, items, collected_at, outcome)
            await self._hooks.finish(session)  # L2: batched work for the new mentions
            if extra is not None:
                await extra(session, outcome)
        return outcome

    @staticmethod
    async def _fenced(
        session: AsyncSession, results: Sequence[SearchResult], outcome: RoundOutcome
    ) -> list[SearchResult]:
        """The results whose fence still holds (each distinct fence is checked once, first)."""
        verdicts: dict[int, bool] = {}
        kept: list[SearchResult] = []
        for result in results:
            fence = result.fence
            if fence is not None:
                if id(fence) not in verdicts:
                    verdicts[id(fence)] = await fence.holds(session)
                if not verdicts[id(fence)]:
                    outcome.fenced_out.add((result.query_id, result.network))
                    continue
            kept.append(result)
        return kept

    async def _store_tenant(
        self,
        session: AsyncSession,
        tenant: str,
        items: dict[str, _Pending],
        collected_at: datetime,
        outcome: RoundOutcome,
    ) -> None:
        existing: dict[str, MentionRow] = {}
        ids = list(items)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await session.scalars(
                select(MentionRow).where(MentionRow.tenant == tenant, MentionRow.mention_id.in_(chunk))
            )
            existing.update({row.mention_id: row for row in rows})

        new_rows: list[tuple[MentionRow, _Pending, Any]] = []
        for mid, item in items.items():
            row = existing.get(mid)
            if row is not None:
                await self._merge_into(session, row, item)
                continue
            mention = convert.raw_to_mention(
                tenant=tenant,
                network=item.network,
                raw=item.raw,
                query_ids=item.query_ids,
                labels=item.labels,
                collected_at=collected_at,
            )
            new_rows.append((convert.mention_to_row(mention), item, mention))
        if not new_rows:
            return
        # Bulk inserts (one executemany per table, no ORM unit of work): half the CPU of a flush of
        # ORM objects. ``seq`` is read back by mention id; the rows stay transient.
        await session.execute(
            insert(MentionRow),
            [{c: getattr(row, c) for c in _MENTION_COLUMNS} for row, _, _ in new_rows],
        )
        seqs: dict[str, int] = {}
        new_ids = [row.mention_id for row, _, _ in new_rows]
        for start in range(0, len(new_ids), 500):
            found = await session.execute(
                select(MentionRow.mention_id, MentionRow.seq).where(
                    MentionRow.tenant == tenant, MentionRow.mention_id.in_(new_ids[start : start + 500])
                )
            )
            seqs.update({mention_id: seq for mention_id, seq in found})  # noqa: C416
        labels: list[dict[str, Any]] = []
        outbox: list[dict[str, Any]] = []
        for row, item, mention in new_rows:
            row.seq = seqs[row.mention_id]
            labels.extend({"seq": row.seq, "label": label, "tenant": tenant} for label in sorted(item.labels))
            await self._hooks.stored(session, row, mention)  # L2: query-id index, engagement tracking
            envelope = new_envelope(tenant, MentionCollected(mention=mention))
            outbox.append(
                {
                    "tenant": tenant,
                    "topic": str(Topic.MENTIONS_RAW),
                    "key": mention.id,
                    "envelope": envelope.SerializeToString(),
                    "created_at": collected_at,
                    "sent": False,
                }
            )
            outcome.new_by_network[item.network] += 1
            for query_id in item.query_ids:
                outcome.new_by_query[(query_id, item.network)] += 1
        if labels:
            await session.execute(insert(MentionLabelRow), labels)
        await session.execute(insert(OutboxRow), outbox)

    async def _merge_into(self, session: AsyncSession, row: MentionRow, item: _Pending) -> None:
        """A mention seen again, maybe by other queries: add their ids and labels (no new event)."""
        mention = convert.mention_from_row(row)
        query_ids = set(mention.query_ids) | item.query_ids
        labels = set(mention.labels) | item.labels
        if query_ids == set(mention.query_ids) and labels == set(mention.labels):
            return
        for label in sorted(labels - set(mention.labels)):
            session.add(MentionLabelRow(seq=row.seq, label=label, tenant=row.tenant))
        await self._hooks.merged(session, row, query_ids - set(mention.query_ids))  # L2
        del mention.query_ids[:]
        mention.query_ids.extend(sorted(query_ids))
        del mention.labels[:]
        mention.labels.extend(sorted(labels))
        row.payload = mention.SerializeToString()
