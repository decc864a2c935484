"""Read side of the materialised aggregates: campaign reports and an account's posting history.

Campaign report (docs/scoring/aggregates.md)
    * ``posts``: the campaign's own posts published in the window (one per post and target);
    * ``mentions``: mentions attributed to the campaign that occurred in the window; ``replies`` and
      ``reshares`` are those attributed as replies, and as reshares or quotes;
    * ``reach``, ``impressions``, ``engagement``: own posts plus attributed mentions, with the latest
      figures (engagement updates refresh both);
    * sentiment counts and ``net_sentiment = (positive - negative) / mentions`` over the mentions;
    * ``by_network`` (network name) and ``by_day`` (UTC date ``YYYY-MM-DD``) slices of the same, own
      posts counted on the day they were published, mentions on the day they occurred.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from resonanz.common.v1 import score_pb2
from resonanz.scoring.v1 import scoring_service_pb2
from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resonanz_scoring.aggregate_models import CAMPAIGN_MENTIONS, CAMPAIGN_TERMS, OWN_POSTS
from resonanz_scoring.analytics.reputation import net_sentiment
from resonanz_scoring.convert import utc
from resonanz_scoring.models import mention_hashtags, mentions

__all__ = [
    "CampaignReportData",
    "CampaignSliceData",
    "best_time_history",
    "campaign_report",
    "campaign_report_to_proto",
]

#: Hashtags listed in ``top_hashtags``.
TOP_HASHTAGS = 10

POSITIVE = int(score_pb2.SENTIMENT_POSITIVE)
NEUTRAL = int(score_pb2.SENTIMENT_NEUTRAL)
NEGATIVE = int(score_pb2.SENTIMENT_NEGATIVE)


@dataclass(slots=True)
class CampaignSliceData:
    key: str = ""
    posts: int = 0
    mentions: int = 0
    replies: int = 0
    reshares: int = 0
    reach: int = 0
    impressions: int = 0
    engagement: int = 0
    positive_count: int = 0
    neutral_count: int = 0
    negative_count: int = 0

    @property
    def net_sentiment(self) -> float:
        return net_sentiment(self.positive_count, self.negative_count, self.mentions)

    def add(self, other: CampaignSliceData) -> None:
        self.posts += other.posts
        self.mentions += other.mentions
        self.replies += other.replies
        self.reshares += other.reshares
        self.reach += other.reach
        self.impressions += other.impressions
        self.engagement += other.engagement
        self.positive_count += other.positive_count
        self.neutral_count += other.neutral_count
        self.negative_count += other.negative_count


@dataclass(slots=True)
class CampaignReportData:
    campaign_id: str
    first_post_at: datetime | None
    last_activity_at: datetime | None
    total: CampaignSliceData
    by_network: list[CampaignSliceData] = field(default_factory=list)
    by_day: list[CampaignSliceData] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    top_hashtags: list[tuple[str, int]] = field(default_factory=list)


def _day(engine: AsyncEngine, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column as ``YYYY-MM-DD``, in SQL."""
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)  # SQLite stores UTC text


def _window(
    column: ColumnElement[datetime], since: datetime | None, until: datetime | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _posts_query(
    engine: AsyncEngine, tenant: str, campaign_id: str, since: datetime | None, until: datetime | None
) -> Select[Any]:
    own = OWN_POSTS
    day = _day(engine, own.c.published_at).label("day")
    return (
        select(
            own.c.network,
            day,
            func.count(),
            func.coalesce(func.sum(own.c.estimated_reach), 0),
            func.coalesce(func.sum(own.c.estimated_impressions), 0),
            func.coalesce(func.sum(own.c.engagement), 0),
        )
        .where(
            own.c.tenant == tenant,
            own.c.campaign_id == campaign_id,
            *_window(own.c.published_at, since, until),
        )
        .group_by(own.c.network, day)
    )


def _mentions_query(
    engine: AsyncEngine, tenant: str, campaign_id: str, since: datetime | None, until: datetime | None
) -> Select[Any]:
    cm, m = CAMPAIGN_MENTIONS, mentions
    day = _day(engine, cm.c.occurred_at).label("day")

    def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return (
        select(
            cm.c.network,
            day,
            func.count(),
            count_where(cm.c.relation == "reply"),
            count_where(cm.c.relation.in_(("reshare", "quote"))),
            func.coalesce(func.sum(m.c.estimated_reach), 0),
            func.coalesce(func.sum(m.c.estimated_impressions), 0),
            func.coalesce(func.sum(m.c.engagement), 0),
            count_where(m.c.sentiment == POSITIVE),
            count_where(m.c.sentiment == NEUTRAL),
            count_where(m.c.sentiment == NEGATIVE),
        )
        .select_from(cm.join(m, and_(m.c.tenant == cm.c.tenant, m.c.mention_id == cm.c.mention_id)))
        .where(
            cm.c.tenant == tenant, cm.c.campaign_id == campaign_id, *_window(cm.c.occurred_at, since, until)
        )
        .group_by(cm.c.network, day)
    )


def _slices(
    cells: Iterable[tuple[str, str, CampaignSliceData]],
) -> tuple[CampaignSliceData, list[CampaignSliceData], list[CampaignSliceData]]:
    total = CampaignSliceData()
    networks: dict[str, CampaignSliceData] = {}
    days: dict[str, CampaignSliceData] = {}
    for network, day, cell in cells:
        total.add(cell)
        networks.setdefault(network, CampaignSliceData(key=network)).add(cell)
        days.setdefault(day, CampaignSliceData(key=day)).add(cell)
    by_network = sorted(networks.values(), key=lambda s: (-s.reach, -s.mentions, s.key))
    by_day = sorted(days.values(), key=lambda s: s.key)
    return total, by_network, by_day


async def campaign_report(
    engine: AsyncEngine,
    tenant: str,
    campaign_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CampaignReportData | None:
    """The report of one campaign of ``tenant`` over ``[since, until)`` (open ends: everything);
    None when the tenant has no such campaign (no own post, term or attributed mention)."""
    own, terms, cm = OWN_POSTS, CAMPAIGN_TERMS, CAMPAIGN_MENTIONS
    async with engine.connect() as conn:
        first_post, last_post = (
            await conn.execute(
                select(func.min(own.c.published_at), func.max(own.c.published_at)).where(
                    own.c.tenant == tenant, own.c.campaign_id == campaign_id
                )
            )
        ).one()
        last_mention = (
            await conn.execute(
                select(func.max(cm.c.occurred_at)).where(
                    cm.c.tenant == tenant, cm.c.campaign_id == campaign_id
                )
            )
        ).scalar_one()
        term_rows = (
            await conn.execute(
                select(terms.c.kind, terms.c.term)
                .where(terms.c.tenant == tenant, terms.c.campaign_id == campaign_id)
                .order_by(terms.c.kind, terms.c.term)
            )
        ).all()
        if first_post is None and last_mention is None and not term_rows:
            return None
        cells: list[tuple[str, str, CampaignSliceData]] = []
        # PostgreSQL sums are numeric (Decimal): every figure goes through int().
        for network, day, *posts in (
            await conn.execute(_posts_query(engine, tenant, campaign_id, since, until))
        ).all():
            n, reach, impressions, engagement = (int(x) for x in posts)
            cells.append(
                (
                    network,
                    day,
                    CampaignSliceData(posts=n, reach=reach, impressions=impressions, engagement=engagement),
                )
            )
        for network, day, *figures in (
            await conn.execute(_mentions_query(engine, tenant, campaign_id, since, until))
        ).all():
            count, replies, reshares, reach, impressions, engagement, pos, neu, neg = (
                int(x) for x in figures
            )
            cells.append(
                (
                    network,
                    day,
                    CampaignSliceData(
                        mentions=count,
                        replies=replies,
                        reshares=reshares,
                        reach=reach,
                        impressions=impressions,
                        engagement=engagement,
                        positive_count=pos,
                        neutral_count=neu,
                        negative_count=neg,
                    ),
                )
            )
        tag_count = func.count().label("n")
        top = (
            await conn.execute(
                select(mention_hashtags.c.hashtag, tag_count)
                .select_from(
                    cm.join(
                        mention_hashtags,
                        and_(
                            mention_hashtags.c.tenant == cm.c.tenant,
                            mention_hashtags.c.mention_id == cm.c.mention_id,
                        ),
                    )
                )
                .where(
                    cm.c.tenant == tenant,
                    cm.c.campaign_id == campaign_id,
                    *_window(cm.c.occurred_at, since, until),
                )
                .group_by(mention_hashtags.c.hashtag)
                .order_by(tag_count.desc(), mention_hashtags.c.hashtag)
                .limit(TOP_HASHTAGS)
            )
        ).all()
        top_hashtags = [(tag, int(n)) for tag, n in top]
    total, by_network, by_day = _slices(cells)
    activity = [utc(t) for t in (last_post, last_mention) if t is not None]
    return CampaignReportData(
        campaign_id=campaign_id,
        first_post_at=None if first_post is None else utc(first_post),
        last_activity_at=max(activity) if activity else None,
        total=total,
        by_network=by_network,
        by_day=by_day,
        hashtags=[term for kind, term in term_rows if kind == "hashtag"],
        links=[term for kind, term in term_rows if kind == "link"],
        top_hashtags=top_hashtags,
    )


def _slice_to_proto(data: CampaignSliceData) -> scoring_service_pb2.CampaignSlice:
    return scoring_service_pb2.CampaignSlice(
        key=data.key,
        posts=data.posts,
        mentions=data.mentions,
        replies=data.replies,
        reshares=data.reshares,
        reach=data.reach,
        impressions=data.impressions,
        engagement=data.engagement,
        positive_count=data.positive_count,
        neutral_count=data.neutral_count,
        negative_count=data.negative_count,
        net_sentiment=data.net_sentiment,
    )


def campaign_report_to_proto(data: CampaignReportData) -> scoring_service_pb2.CampaignReport:
    report = scoring_service_pb2.CampaignReport(
        campaign_id=data.campaign_id,
        total=_slice_to_proto(replace(data.total, key="")),
        by_network=[_slice_to_proto(s) for s in data.by_network],
        by_day=[_slice_to_proto(s) for s in data.by_day],
        hashtags=data.hashtags,
        links=data.links,
        top_hashtags=[score_pb2.TermCount(term=t, count=c) for t, c in data.top_hashtags],
    )
    if data.first_post_at is not None:
        report.first_post_at.FromDatetime(data.first_post_at)
    if data.last_activity_at is not None:
        report.last_activity_at.FromDatetime(data.last_activity_at)
    return report


async def best_time_history(
    engine: AsyncEngine, tenant: str, network: str, account: str
) -> list[tuple[datetime, int]]:
    """``(published_at UTC, engagement)`` of every own post of the account on the network, oldest
    first: the input of :func:`resonanz_scoring.analytics.content.best_times`."""
    own = OWN_POSTS
    query = (
        select(own.c.published_at, own.c.engagement)
        .where(own.c.tenant == tenant, own.c.network == network, own.c.account == account)
        .order_by(own.c.published_at, own.c.post_id)
    )
    async with engine.connect() as conn:
        return [(utc(at), int(engagement)) for at, engagement in (await conn.execute(query)).all()]
