"""Read side of the brand calls: one label's aggregates over a window (with the previous window's
figures) and its scored-mention pages, computed in SQL for one tenant.

Every query filters on ``tenant`` first and ranges over ``occurred_at``, so it is served by the
``(tenant, label, occurred_at)`` / ``(tenant, occurred_at)`` indexes of ``scoring_mention_labels``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import CASCADE_MEMBERS, CASCADES
from resonanz_scoring.aggregates import BrandAggregate, SentimentTotals, share_of_voice
from resonanz_scoring.models import mention_hashtags, mention_labels, mention_links, mentions
from resonanz_scoring.queries_sql import sentiment_sums, sum_if

#: How many hashtags, links and authors the brand figures list.
TOP_TERMS = 10


def _totals(row: Sequence[Any]) -> SentimentTotals:
    pos, neu, neg, w_pos, w_neu, w_neg = row
    return SentimentTotals(int(pos), int(neu), int(neg), float(w_pos), float(w_neu), float(w_neg))


async def brand_aggregate(
    engine: AsyncEngine, tenant: str, label: str, start: datetime, end: datetime
) -> BrandAggregate:
    """Aggregates of ``label`` over ``start < occurred_at <= end`` for ``tenant`` only, with the
    counts of the window of the same length just before (``previous``)."""
    ml = mention_labels
    previous_start = start - (end - start)
    of_label = and_(ml.c.tenant == tenant, ml.c.label == label)
    current = ml.c.occurred_at > start
    totals = select(
        *sentiment_sums(ml.c.sentiment, ml.c.estimated_reach, current),
        *sentiment_sums(ml.c.sentiment, ml.c.estimated_reach, ~current),
        sum_if(current, ml.c.estimated_reach),
        sum_if(current, ml.c.engagement),
        sum_if(current, ml.c.estimated_impressions),
    ).where(of_label, ml.c.occurred_at > previous_start, ml.c.occurred_at <= end)
    in_window = and_(ml.c.tenant == tenant, ml.c.occurred_at > start, ml.c.occurred_at <= end)
    everyone = select(func.count()).select_from(ml).where(in_window)
    window_of_label = and_(of_label, ml.c.occurred_at > start, ml.c.occurred_at <= end)
    hashtags = _top_terms(mention_hashtags, mention_hashtags.c.hashtag, window_of_label)
    links = _top_terms(mention_links, mention_links.c.link, window_of_label)
    n = func.count().label("n")
    authors = (
        select(ml.c.author, n)
        .where(window_of_label, ml.c.author != "")
        .group_by(ml.c.author)
        .order_by(n.desc(), ml.c.author)
        .limit(TOP_TERMS)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(totals)).one()
        all_mentions = int((await conn.execute(everyone)).scalar_one())
        top_hashtags = [(str(t), int(c)) for t, c in (await conn.execute(hashtags)).all()]
        top_links = [(str(t), int(c)) for t, c in (await conn.execute(links)).all()]
        top_authors = [(str(t), int(c)) for t, c in (await conn.execute(authors)).all()]
    now, before = _totals(row[0:6]), _totals(row[6:12])
    reach, engagement, impressions = (int(v) for v in row[12:15])
    return BrandAggregate(
        tenant=tenant,
        label=label,
        window_start=start,
        window_end=end,
        mention_count=now.count,
        positive_count=now.positive,
        neutral_count=now.neutral,
        negative_count=now.negative,
        total_reach=reach,
        total_engagement=engagement,
        net_sentiment=now.net_sentiment,
        reputation_index=now.reputation_index,
        share_of_voice=share_of_voice(now.count, all_mentions),
        top_hashtags=top_hashtags,
        top_authors=top_authors,
        top_links=top_links,
        total_impressions=impressions,
        previous_mention_count=before.count,
        previous_net_sentiment=before.net_sentiment,
    )


def _top_terms(table: Any, term: Any, of_label_window: Any) -> Any:
    """The :data:`TOP_TERMS` most frequent terms of a per-mention term table (hashtags, links) among
    the label's mentions in the window; ties by term."""
    ml = mention_labels
    n = func.count().label("n")
    return (
        select(term, n)
        .join(ml, and_(ml.c.tenant == table.c.tenant, ml.c.mention_id == table.c.mention_id))
        .where(of_label_window)
        .group_by(term)
        .order_by(n.desc(), term)
        .limit(TOP_TERMS)
    )


async def scored_mentions_page(
    engine: AsyncEngine,
    tenant: str,
    label: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> Sequence[Any]:
    """Up to ``limit`` rows of ``scoring_mentions`` for the label, newest first, after a keyset position
    ``(occurred_at, mention_id)``, with the size and structural virality of the mention's cascade
    (both 0 for a mention in no cascade, as in the ``mentions.scored`` event of a lone mention)."""
    ml, members, cascades = mention_labels, CASCADE_MEMBERS, CASCADES
    query = (
        select(
            mentions,
            func.coalesce(cascades.c.size, 0).label("cascade_size"),
            func.coalesce(cascades.c.structural_virality, 0.0).label("structural_virality"),
        )
        .join(ml, and_(ml.c.tenant == mentions.c.tenant, ml.c.mention_id == mentions.c.mention_id))
        .outerjoin(
            members,
            and_(members.c.tenant == mentions.c.tenant, members.c.mention_id == mentions.c.mention_id),
        )
        .outerjoin(
            cascades,
            and_(
                cascades.c.tenant == members.c.tenant,
                cascades.c.root_mention_id == members.c.root_mention_id,
            ),
        )
        .where(ml.c.tenant == tenant, ml.c.label == label)
        .order_by(ml.c.occurred_at.desc(), ml.c.mention_id.desc())
        .limit(limit)
    )
    if after is not None:
        at, mention_id = after
        query = query.where(
            or_(ml.c.occurred_at < at, and_(ml.c.occurred_at == at, ml.c.mention_id < mention_id))
        )
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())
