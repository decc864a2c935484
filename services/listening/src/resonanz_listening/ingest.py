"""Stores what one collection round found, in one transaction per round.

In that transaction: the new search cursor of every (query, network) searched, each new mention
(unique per tenant and mention id; a mention several queries matched is stored once with all their
ids and labels), its labels, and one ``mentions.raw`` outbox row per *new* mention. Either all of it
is committed or none, so a crash never loses a mention whose cursor moved past it, and never stores a
mention without its event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from resonanz.events.v1.events_pb2 import MentionCollected
from resonanz_sdk.eventbus import Topic, new_envelope
from resonanz_sdk.network import RawMention
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resonanz_listening import convert
from resonanz_listening.models import CursorRow, MentionLabelRow, MentionRow, OutboxRow, QueryRow


@dataclass(frozen=True)
class SearchResult:
    """One (query, network) search: the matching mentions and where the next search continues."""

    query_id: str
    tenant: str
    label: str
    network: str
    cursor: str | None
    mentions: Sequence[RawMention]


@dataclass
class _Pending:
    network: str
    raw: RawMention
    query_ids: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)


class Ingestor:
    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def store(self, results: Sequence[SearchResult], *, collected_at: datetime) -> Counter[str]:
        """Store one round; returns the number of new mentions per network."""
        new_by_network: Counter[str] = Counter()
        if not results:
            return new_by_network
        async with self._sessions() as session, session.begin():
            query_ids = {r.query_id for r in results}
            live = set(await session.scalars(select(QueryRow.id).where(QueryRow.id.in_(query_ids))))
            pending: dict[tuple[str, str], _Pending] = {}
            for result in results:
                if result.query_id not in live:
                    continue  # deleted while we searched: its cursor and mentions are not wanted
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
                    key = (result.tenant, convert.mention_id(result.network, raw.external_id))
                    item = pending.setdefault(key, _Pending(result.network, raw))
                    item.query_ids.add(result.query_id)
                    item.labels.add(result.label)
            tenants = {tenant for tenant, _ in pending}
            for tenant in sorted(tenants):
                items = {mid: p for (t, mid), p in pending.items() if t == tenant}
                await self._store_tenant(session, tenant, items, collected_at, new_by_network)
        return new_by_network

    async def _store_tenant(
        self,
        session: AsyncSession,
        tenant: str,
        items: dict[str, _Pending],
        collected_at: datetime,
        new_by_network: Counter[str],
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
            row = convert.mention_to_row(mention)
            session.add(row)
            new_rows.append((row, item, mention))
        if not new_rows:
            return
        await session.flush()  # assigns seq
        for row, item, mention in new_rows:
            session.add_all(MentionLabelRow(seq=row.seq, label=label, tenant=tenant) for label in item.labels)
            envelope = new_envelope(tenant, MentionCollected(mention=mention))
            session.add(
                OutboxRow(
                    tenant=tenant,
                    topic=str(Topic.MENTIONS_RAW),
                    key=mention.id,
                    envelope=envelope.SerializeToString(),
                    created_at=collected_at,
                    sent=False,
                )
            )
            new_by_network[item.network] += 1

    @staticmethod
    async def _merge_into(session: AsyncSession, row: MentionRow, item: _Pending) -> None:
        """A mention seen again, maybe by other queries: add their ids and labels (no new event)."""
        mention = convert.mention_from_row(row)
        query_ids = set(mention.query_ids) | item.query_ids
        labels = set(mention.labels) | item.labels
        if query_ids == set(mention.query_ids) and labels == set(mention.labels):
            return
        for label in sorted(labels - set(mention.labels)):
            session.add(MentionLabelRow(seq=row.seq, label=label, tenant=row.tenant))
        del mention.query_ids[:]
        mention.query_ids.extend(sorted(query_ids))
        del mention.labels[:]
        mention.labels.extend(sorted(labels))
        row.payload = mention.SerializeToString()
