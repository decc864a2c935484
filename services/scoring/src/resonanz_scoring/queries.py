"""Read side: the brand aggregates and the scored-mention pages, computed in SQL for one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregates import (
    BrandAggregate,
    net_sentiment,
    reputation_index,
    share_of_voice,
)
from resonanz_scoring.models import mention_hashtags, mention_labels, mentions
from resonanz_scoring.sentiment import Sentiment

TOP_TERMS = 10


async def brand_aggregate(
    engine: AsyncEngine, tenant: str, label: str, start: datetime, end: datetime
) -> BrandAggregate:
    """Aggregates of ``label`` over ``start < occurred_at <= end`` for ``tenant`` only."""
    ml = mention_labels
    in_window = and_(ml.c.tenant == tenant, ml.c.occurred_at > start, ml.c.occurred_at <= end)
    of_label = and_(in_window, ml.c.label == label)
    weight = case((ml.c.estimated_reach > 1, ml.c.estimated_reach), else_=1)

    def count_of(sentiment: Sentiment) -> Any:
        return func.coalesce(func.sum(case((ml.c.sentiment == int(sentiment), 1), else_=0)), 0)

    def weight_of(sentiment: Sentiment) -> Any:
        return func.coalesce(func.sum(case((ml.c.sentiment == int(sentiment), weight), else_=0)), 0)

    totals = select(
        func.count(),
        count_of(Sentiment.POSITIVE),
        count_of(Sentiment.NEUTRAL),
        count_of(Sentiment.NEGATIVE),
        func.coalesce(func.sum(ml.c.estimated_reach), 0),
        func.coalesce(func.sum(ml.c.engagement), 0),
        weight_of(Sentiment.POSITIVE),
        weight_of(Sentiment.NEGATIVE),
        weight_of(Sentiment.NEUTRAL),
    ).where(of_label)
    all_labels = select(func.count()).select_from(ml).where(in_window)
    hashtag_count = func.count().label("n")
    hashtags = (
        select(mention_hashtags.c.hashtag, hashtag_count)
        .join(
            ml,
            and_(
                ml.c.tenant == mention_hashtags.c.tenant,
                ml.c.mention_id == mention_hashtags.c.mention_id,
            ),
        )
        .where(of_label)
        .group_by(mention_hashtags.c.hashtag)
        .order_by(hashtag_count.desc(), mention_hashtags.c.hashtag)
        .limit(TOP_TERMS)
    )
    author_count = func.count().label("n")
    authors = (
        select(ml.c.author, author_count)
        .where(of_label, ml.c.author != "")
        .group_by(ml.c.author)
        .order_by(author_count.desc(), ml.c.author)
        .limit(TOP_TERMS)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(totals)).one()
        everyone = int((await conn.execute(all_labels)).scalar_one())
        top_hashtags = [(str(t), int(n)) for t, n in (await conn.execute(hashtags)).all()]
        top_authors = [(str(t), int(n)) for t, n in (await conn.execute(authors)).all()]
    count, positive, neutral, negative, reach, engagement, w_pos, w_neg, w_neu = (int(v) for v in row)
    return BrandAggregate(
        tenant=tenant,
        label=label,
        window_start=start,
        window_end=end,
        mention_count=count,
        positive_count=positive,
        neutral_count=neutral,
        negative_count=negative,
        total_reach=reach,
        total_engagement=engagement,
        net_sentiment=net_sentiment(positive, negative, count),
        reputation_index=reputation_index(w_pos, w_neg, w_neu),
        share_of_voice=share_of_voice(count, everyone),
        top_hashtags=top_hashtags,
        top_authors=top_authors,
    )


async def scored_mentions_page(
    engine: AsyncEngine,
    tenant: str,
    label: str,
    limit: int,
    after: tuple[datetime, str] | None,
) -> Sequence[Any]:
    """Up to ``limit`` rows of ``scoring_mentions`` for the label, newest first, after a keyset position
    ``(occurred_at, mention_id)``."""
    ml = mention_labels
    query = (
        select(mentions)
        .join(ml, and_(ml.c.tenant == mentions.c.tenant, ml.c.mention_id == mentions.c.mention_id))
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
