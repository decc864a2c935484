"""Write side: stores scored mentions idempotently, one transaction per batch, with an outbox flag.

``save_batch`` inserts each mention once per tenant (``ON CONFLICT DO NOTHING``); its label, hashtag and
link rows are written only with the mention itself, so a mention scored again changes nothing.
``pending`` returns the rows of a batch whose ``mentions.scored`` event has not gone out yet, and
``mark_emitted`` records that it has: a failed publish is retried on redelivery, and a redelivery
after a successful publish publishes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from resonanz.common.v1 import mention_pb2, score_pb2
from sqlalchemy import Table, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.convert import hashtag_rows, label_rows, link_rows, mention_row
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
