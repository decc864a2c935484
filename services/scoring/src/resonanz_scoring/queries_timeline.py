"""Read side of GetBrandTimeline and GetShareOfVoice: per-bucket and per-label aggregates in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregates import SentimentTotals
from resonanz_scoring.models import mention_labels
from resonanz_scoring.queries_sql import bucket_index, sentiment_sums, sum_if
from resonanz_scoring.sentiment import Sentiment


@dataclass(frozen=True)
class TimelineBucket:
    start: datetime
    sentiments: SentimentTotals
    reach: int
    engagement: int


@dataclass(frozen=True)
class LabelTotals:
    label: str
    mention_count: int
    reach: int
    positive: int
    negative: int


async def brand_timeline(
    engine: AsyncEngine, tenant: str, label: str, *, start: datetime, end: datetime, bucket: timedelta
) -> list[TimelineBucket]:
    """Every bucket ``[start + i*bucket, start + (i+1)*bucket)`` that begins before ``end``, oldest
    first, with zero counts where there were no mentions. Mentions count in ``start <= t <= end``."""
    ml = mention_labels
    seconds = int(bucket.total_seconds())
    index = bucket_index(engine, ml.c.occurred_at, start, seconds).label("bucket")
    query = (
        select(
            index,
            *sentiment_sums(ml.c.sentiment, ml.c.estimated_reach),
            func.coalesce(func.sum(ml.c.estimated_reach), 0),
            func.coalesce(func.sum(ml.c.engagement), 0),
        )
        .where(
            ml.c.tenant == tenant,
            ml.c.label == label,
            ml.c.occurred_at >= start,
            ml.c.occurred_at <= end,
        )
        .group_by(index)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    by_index = {int(row[0]): row for row in rows}
    count = max(1, -(-int((end - start).total_seconds()) // seconds))
    buckets: list[TimelineBucket] = []
    for i in range(count):
        row = by_index.get(i)
        if row is None:
            buckets.append(TimelineBucket(start + i * bucket, SentimentTotals(), 0, 0))
            continue
        pos, neu, neg, w_pos, w_neu, w_neg, reach, engagement = tuple(row)[1:9]
        totals = SentimentTotals(int(pos), int(neu), int(neg), float(w_pos), float(w_neu), float(w_neg))
        buckets.append(TimelineBucket(start + i * bucket, totals, int(reach), int(engagement)))
    # a mention exactly at ``end`` on a bucket boundary falls in a bucket past the last one: fold it in
    overflow = [row for i, row in by_index.items() if i >= count]
    for row in overflow:
        last = buckets[-1]
        pos, neu, neg, w_pos, w_neu, w_neg, reach, engagement = tuple(row)[1:9]
        s = last.sentiments
        buckets[-1] = TimelineBucket(
            last.start,
            SentimentTotals(
                s.positive + int(pos),
                s.neutral + int(neu),
                s.negative + int(neg),
                s.positive_weight + float(w_pos),
                s.neutral_weight + float(w_neu),
                s.negative_weight + float(w_neg),
            ),
            last.reach + int(reach),
            last.engagement + int(engagement),
        )
    return buckets


async def label_totals(engine: AsyncEngine, tenant: str, start: datetime, end: datetime) -> list[LabelTotals]:
    """Every label of ``tenant`` with mentions in ``start < t <= end``: count, reach, positive and
    negative counts (one grouped scan of the ``(tenant, occurred_at)`` index)."""
    ml = mention_labels
    query = (
        select(
            ml.c.label,
            func.count(),
            func.coalesce(func.sum(ml.c.estimated_reach), 0),
            sum_if(ml.c.sentiment == int(Sentiment.POSITIVE)),
            sum_if(ml.c.sentiment == int(Sentiment.NEGATIVE)),
        )
        .where(and_(ml.c.tenant == tenant, ml.c.occurred_at > start, ml.c.occurred_at <= end))
        .group_by(ml.c.label)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        LabelTotals(str(label), int(count), int(reach), int(pos), int(neg))
        for label, count, reach, pos, neg in rows
    ]
