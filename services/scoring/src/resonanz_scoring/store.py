"""Write side: stores scored mentions idempotently, one transaction per batch, with an outbox flag.

``save_batch`` inserts each mention once per tenant (``ON CONFLICT DO NOTHING``); its label, hashtag and
link rows are written only with the mention itself, so a mention scored again changes nothing.
``pending`` returns the rows of a batch whose ``mentions.scored`` event has not gone out yet, and
``mark_emitted`` records that it has: a failed publish is retried on redelivery, and a redelivery
after a successful publish publishes nothing.
``apply_engagement`` refreshes stored mentions from ``engagement.updates`` (one transaction per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resonanz.common.v1 import mention_pb2, score_pb2
from sqlalchemy import Table, bindparam, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.analytics.reach import MentionMetrics
from resonanz_scoring.convert import hashtag_rows, label_rows, link_rows, mention_row, utc
from resonanz_scoring.models import mention_hashtags, mention_labels, mention_links, mentions

Key = tuple[str, str]


def _insert_ignore(engine: AsyncEngine, table: Table) -> Any:
    if engine.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


class ScoreStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save_batch(
        self, items: Sequence[tuple[mention_pb2.Mention, score_pb2.MentionScore]]
    ) -> list[dict[str, Any]]:
        """Store every new (tenant, mention); returns the rows that were new (first one wins)."""
        rows: dict[Key, tuple[dict[str, Any], mention_pb2.Mention]] = {}
        for mention, score in items:
            key = (score.tenant, mention.id)
            if key not in rows:
                rows[key] = (mention_row(mention, score), mention)
        if not rows:
            return []
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                _insert_ignore(self.engine, mentions).returning(mentions.c.tenant, mentions.c.mention_id),
                [row for row, _ in rows.values()],
            )
            new_keys = {(tenant, mention_id) for tenant, mention_id in inserted.all()}
            labels: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            links: list[dict[str, Any]] = []
            for key in new_keys:
                row, mention = rows[key]
                labels += label_rows(row, mention)
                tags += hashtag_rows(row, mention)
                links += link_rows(row, mention)
            for table, values in ((mention_labels, labels), (mention_hashtags, tags), (mention_links, links)):
                if values:
                    await conn.execute(_insert_ignore(self.engine, table), values)
        return [rows[key][0] for key in rows if key in new_keys]

    async def pending(self, keys: Iterable[Key]) -> list[dict[str, Any]]:
        """Rows among ``keys`` whose event has not been emitted yet."""
        wanted = sorted(set(keys))
        if not wanted:
            return []
        query = select(mentions).where(
            tuple_(mentions.c.tenant, mentions.c.mention_id).in_(wanted), mentions.c.emitted.is_(False)
        )
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings().all()]

    async def mark_emitted(self, keys: Iterable[Key]) -> None:
        done = sorted(set(keys))
        if not done:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                update(mentions)
                .where(tuple_(mentions.c.tenant, mentions.c.mention_id).in_(done))
                .values(emitted=True)
            )


@dataclass(frozen=True, slots=True)
class EngagementRefresh:
    """Fresh counts of one stored mention, measured by listening at ``measured_at``."""

    tenant: str
    mention_id: str
    counts: mention_pb2.EngagementCounts
    measured_at: datetime


MetricsOf = Callable[
    [Sequence[tuple[str, mention_pb2.Author, mention_pb2.EngagementCounts]]], Sequence[MentionMetrics]
]


async def apply_engagement(
    engine: AsyncEngine, refreshes: Sequence[EngagementRefresh], metrics_of: MetricsOf
) -> int:
    """Refresh the counts and derived metrics of stored mentions in one transaction; returns how many.

    The newest measurement per mention wins; one older than (or as old as) the mention's last refresh
    changes nothing, so redelivered or reordered updates are harmless. A mention not stored (yet) is
    skipped: it is scored with the counts it is collected with. The serialised Mention, the label
    rows' copies (reach, impressions, engagement) and ``updated_at`` change with it.
    """
    latest: dict[Key, EngagementRefresh] = {}
    for refresh in refreshes:
        key = (refresh.tenant, refresh.mention_id)
        known = latest.get(key)
        if known is None or refresh.measured_at > known.measured_at:
            latest[key] = refresh
    if not latest:
        return 0
    query = select(
        mentions.c.tenant,
        mentions.c.mention_id,
        mentions.c.network,
        mentions.c.updated_at,
        mentions.c.mention,
    ).where(tuple_(mentions.c.tenant, mentions.c.mention_id).in_(sorted(latest)))
    async with engine.begin() as conn:
        stored = (await conn.execute(query)).all()
        todo: list[tuple[EngagementRefresh, mention_pb2.Mention]] = []
        for tenant, mention_id, _network, updated_at, blob in stored:
            refresh = latest[(tenant, mention_id)]
            if updated_at is not None and refresh.measured_at <= utc(updated_at):
                continue
            mention = mention_pb2.Mention.FromString(blob)
            mention.engagement.CopyFrom(refresh.counts)
            todo.append((refresh, mention))
        if not todo:
            return 0
        computed = metrics_of([(m.network, m.author, m.engagement) for _, m in todo])
        values = [
            {
                "b_tenant": refresh.tenant,
                "b_mention_id": refresh.mention_id,
                "likes": refresh.counts.likes,
                "shares": refresh.counts.shares,
                "replies": refresh.counts.replies,
                "quotes": refresh.counts.quotes,
                "views": refresh.counts.views,
                "engagement": metric.engagement,
                "engagement_rate": metric.engagement_rate,
                "estimated_reach": metric.estimated_reach,
                "estimated_impressions": metric.estimated_impressions,
                "updated_at": refresh.measured_at,
                "mention": mention.SerializeToString(deterministic=True),
            }
            for (refresh, mention), metric in zip(todo, computed, strict=True)
        ]
        by_key = (
            mentions.c.tenant == bindparam("b_tenant"),
            mentions.c.mention_id == bindparam("b_mention_id"),
        )
        # SET takes the columns of the parameter keys (the b_ ones bind the WHERE clause).
        await conn.execute(update(mentions).where(*by_key), values)
        label_keys = ("b_tenant", "b_mention_id", "engagement", "estimated_reach", "estimated_impressions")
        await conn.execute(
            update(mention_labels).where(
                mention_labels.c.tenant == bindparam("b_tenant"),
                mention_labels.c.mention_id == bindparam("b_mention_id"),
            ),
            [{key: v[key] for key in label_keys} for v in values],
        )
    return len(values)
