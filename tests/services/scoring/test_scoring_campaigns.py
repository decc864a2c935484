"""Campaign terms, own posts, their engagement, mention attribution and the campaign report, on the
real databases (the handlers and the observer are called directly; the faust path is in
test_scoring_campaigns_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import DecodeError
from resonanz.common.v1 import content_pb2, mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_models import CAMPAIGN_MENTIONS, OWN_POSTS
from resonanz_scoring.aggregate_queries import best_time_history, campaign_report, campaign_report_to_proto
from resonanz_scoring.analytics.engagement import DEFAULT_DEFINITION, EngagementDefinition
from resonanz_scoring.models import metadata
from resonanz_scoring.store import ScoreStore
from resonanz_scoring.streams.campaigns import (
    CampaignStore,
    hashtags_in,
    links_in,
    normalise_link,
    own_post_engagement,
    own_post_row,
    term_rows,
)
from resonanz_scoring.streams.observers import ScoredItem
from resonanz_scoring.streams.records import Record
from resonanz_sdk.db import create_engine
from resonanz_sdk.errors import ValidationError
from resonanz_sdk.eventbus import new_envelope
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # a Monday
TENANT = "acme"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()


def record(envelope: events_pb2.EventEnvelope, topic: str = "t") -> Record:
    return Record(
        topic=topic, partition=0, offset=0, key=b"k", value=envelope.SerializeToString(), headers=[]
    )


def request(campaign: str, text: str, at: datetime = T0, tenant: str = TENANT) -> Record:
    envelope = new_envelope(
        tenant, events_pb2.PublishRequested(post_id="p", network="sim", campaign_id=campaign, text=text)
    )
    envelope.occurred_at.FromDatetime(at)
    return record(envelope)


def result(
    post_id: str, external_id: str, campaign: str, at: datetime, *, tenant: str = TENANT, network: str = "sim"
) -> Record:
    payload = events_pb2.PublishResult(
        post_id=post_id,
        network=network,
        account="brand",
        status=content_pb2.TARGET_STATUS_PUBLISHED,
        external_id=external_id,
        campaign_id=campaign,
    )
    payload.published_at.FromDatetime(at)
    return record(new_envelope(tenant, payload))


def engagement(external_id: str, at: datetime, likes: int, shares: int = 0, views: int = 0) -> Record:
    payload = events_pb2.EngagementUpdated(
        network="sim",
        external_id=external_id,
        mention_id=f"sim:{external_id}",
        subject=events_pb2.ENGAGEMENT_SUBJECT_OWN_POST,
        engagement=mention_pb2.EngagementCounts(likes=likes, shares=shares, views=views),
    )
    payload.measured_at.FromDatetime(at)
    return record(new_envelope(TENANT, payload))


def scored(
    external_id: str,
    at: datetime,
    *,
    text: str = "",
    reply_to: str = "",
    reshare_of: str = "",
    quote_of: str = "",
    hashtags: tuple[str, ...] = (),
    links: tuple[str, ...] = (),
    sentiment: int = score_pb2.SENTIMENT_POSITIVE,
    reach: int = 1000,
    network: str = "sim",
    tenant: str = TENANT,
) -> ScoredItem:
    mention = mention_pb2.Mention(
        id=f"{network}:{external_id}",
        tenant=tenant,
        network=network,
        external_id=external_id,
        text=text,
        in_reply_to_id=reply_to,
        reshare_of_id=reshare_of,
        quote_of_id=quote_of,
        hashtags=list(hashtags),
        links=list(links),
        author=mention_pb2.Author(id="u", handle="someone", followers=100),
    )
    mention.published_at.FromDatetime(at)
    score = score_pb2.MentionScore(
        mention_id=mention.id,
        tenant=tenant,
        language="en",
        sentiment=sentiment,  # type: ignore[arg-type]
        estimated_reach=reach,
        estimated_impressions=reach * 2,
        engagement=10,
        scorer="test",
    )
    score.scored_at.FromDatetime(at + timedelta(minutes=1))
    return ScoredItem(tenant, mention, score)


async def observe(engine: AsyncEngine, store: CampaignStore, items: list[ScoredItem]) -> int:
    await ScoreStore(engine).save_batch([(item.mention, item.score) for item in items])
    return await store.attribute(items)


async def relations(engine: AsyncEngine, campaign: str = "spring") -> dict[str, str]:
    cm = CAMPAIGN_MENTIONS
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(cm.c.mention_id, cm.c.relation).where(
                    cm.c.tenant == TENANT, cm.c.campaign_id == campaign
                )
            )
        ).all()
        return dict(rows)


def test_links_are_compared_without_tracking_and_hashtags_in_lower_case() -> None:
    assert (
        normalise_link("https://www.Example.com/Spring/?utm_source=x&b=2&a=1#top")
        == "example.com/Spring?a=1&b=2"
    )
    assert normalise_link("http://example.com/spring?fbclid=abc") == "example.com/spring"
    assert normalise_link("example.com:8080/x/") == "example.com:8080/x"
    assert normalise_link("not a link at all") == ""
    text = "Neu: #Frühling2026 und #SALE! https://shop.example.com/s?utm_campaign=spring. Mehr: #sale"
    assert hashtags_in(text) == {"frühling2026", "sale"}
    assert links_in(text) == {"shop.example.com/s"}
    assert hashtags_in("a&#39;b C#sharp") == set()


def test_decoding_refuses_poison_and_skips_what_is_not_ours() -> None:
    assert term_rows(request("", "#x")) == []
    with pytest.raises(ValidationError):
        term_rows(engagement("1", T0, 1))
    failed = events_pb2.PublishResult(post_id="p", network="sim", status=content_pb2.TARGET_STATUS_FAILED)
    assert own_post_row(record(new_envelope(TENANT, failed))) is None
    mention_update = events_pb2.EngagementUpdated(
        mention_id="sim:1", subject=events_pb2.ENGAGEMENT_SUBJECT_MENTION
    )
    assert own_post_engagement(record(new_envelope(TENANT, mention_update))) is None
    broken = Record(topic="t", partition=0, offset=0, key=None, value=b"\xff\x00garbage", headers=[])
    with pytest.raises(DecodeError):
        own_post_row(broken)


async def test_campaign_attribution_and_report(engine: AsyncEngine) -> None:
    store = CampaignStore(engine)
    await store.add_terms(
        term_rows(
            request("spring", "Spring is here #SpringSale https://shop.example.com/spring?utm_source=sim")
        )
    )
    await store.add_terms(term_rows(request("spring", "Again #springsale", at=T0 - timedelta(hours=1))))
    await store.add_own_posts(
        [
            row
            for row in (
                own_post_row(result("post-1", "100", "spring", T0)),
                own_post_row(result("post-2", "200", "spring", T0 + timedelta(days=1), network="other")),
                own_post_row(result("post-3", "300", "autumn", T0)),
            )
            if row is not None
        ]
    )
    items = [
        scored("1", T0 + timedelta(minutes=5), reply_to="100", sentiment=score_pb2.SENTIMENT_NEGATIVE),
        scored("2", T0 + timedelta(minutes=6), reshare_of="100", hashtags=("SpringSale",)),
        scored("3", T0 + timedelta(minutes=7), reply_to="1"),  # a reply in the thread
        scored(
            "4", T0 + timedelta(minutes=8), text="look https://shop.example.com/spring/?utm_medium=x&fbclid=1"
        ),
        scored(
            "5", T0 + timedelta(minutes=9), hashtags=("springsale",), sentiment=score_pb2.SENTIMENT_NEUTRAL
        ),
        scored("6", T0 - timedelta(hours=2), hashtags=("springsale",)),  # before the campaign used it
        scored("7", T0 + timedelta(minutes=9), reply_to="300"),  # the other campaign
        scored("8", T0 + timedelta(minutes=9), hashtags=("springsale",), tenant="other"),  # another tenant
        scored("100", T0, text="Spring is here", reach=5000),  # the own post itself, collected
        scored("9", T0 + timedelta(days=1, minutes=1), network="other", quote_of="200"),
    ]
    added = await observe(engine, store, items)
    assert added == 7
    assert await relations(engine) == {
        "sim:1": "reply",
        "sim:2": "reshare",
        "sim:3": "reply",
        "sim:4": "link",
        "sim:5": "hashtag",
        "other:9": "quote",
    }
    assert await relations(engine, "autumn") == {"sim:7": "reply"}
    assert await observe(engine, store, items) == 0  # observed again: nothing new

    await store.apply_engagement(
        [
            e
            for e in (
                own_post_engagement(
                    engagement("100", T0 + timedelta(hours=1), likes=40, shares=10, views=9000)
                ),
            )
            if e
        ],
        lambda network: DEFAULT_DEFINITION,
    )
    await store.apply_engagement(
        [e for e in (own_post_engagement(engagement("100", T0 + timedelta(minutes=30), likes=1)),) if e],
        lambda network: EngagementDefinition(),
    )  # older than the stored measurement: ignored

    report = await campaign_report(engine, TENANT, "spring")
    assert report is not None
    total = report.total
    assert (total.posts, total.mentions, total.replies, total.reshares) == (2, 6, 2, 2)
    assert total.engagement == 50 + 6 * 10
    assert total.reach == 5000 + 6 * 1000
    assert total.impressions == 9000 + 6 * 2000
    assert (total.positive_count, total.neutral_count, total.negative_count) == (4, 1, 1)
    assert total.net_sentiment == pytest.approx(3 / 6)
    assert [(s.key, s.posts, s.mentions) for s in report.by_network] == [("sim", 1, 5), ("other", 1, 1)]
    assert [(s.key, s.posts, s.mentions) for s in report.by_day] == [
        ("2026-04-06", 1, 5),
        ("2026-04-07", 1, 1),
    ]
    assert report.hashtags == ["springsale"]
    assert report.links == ["shop.example.com/spring"]
    assert report.top_hashtags == [("springsale", 2)]
    assert report.first_post_at == T0
    assert report.last_activity_at == T0 + timedelta(days=1, minutes=1)

    day_one = await campaign_report(engine, TENANT, "spring", since=T0, until=T0 + timedelta(days=1))
    assert day_one is not None
    assert (day_one.total.posts, day_one.total.mentions) == (1, 5)
    proto = campaign_report_to_proto(report)
    assert proto.total.mentions == 6
    assert proto.by_day[1].key == "2026-04-07"
    assert proto.first_post_at.ToDatetime(tzinfo=UTC) == T0

    assert await campaign_report(engine, TENANT, "winter") is None
    assert await campaign_report(engine, "other", "spring") is None

    own = OWN_POSTS
    async with engine.connect() as conn:
        row = (await conn.execute(select(own).where(own.c.mention_id == "sim:100"))).mappings().one()
    assert (row["likes"], row["engagement"], row["views"], row["estimated_impressions"]) == (
        40,
        50,
        9000,
        9000,
    )
    assert row["estimated_reach"] == 5000


async def test_best_time_history_is_the_accounts_posts_oldest_first(engine: AsyncEngine) -> None:
    store = CampaignStore(engine)
    rows = [own_post_row(result(f"p{i}", str(i), "", T0 + timedelta(hours=-i))) for i in range(3)]
    await store.add_own_posts([row for row in rows if row is not None])
    await store.apply_engagement(
        [e for e in (own_post_engagement(engagement("1", T0, likes=7)),) if e],
        lambda network: DEFAULT_DEFINITION,
    )
    history = await best_time_history(engine, TENANT, "sim", "brand")
    assert history == [(T0 - timedelta(hours=2), 0), (T0 - timedelta(hours=1), 7), (T0, 0)]
    assert await best_time_history(engine, TENANT, "sim", "nobody") == []
    assert await best_time_history(engine, "other", "sim", "brand") == []


async def test_mentions_scored_before_the_campaign_was_known_are_attributed_when_it_is(
    engine: AsyncEngine,
) -> None:
    store = CampaignStore(engine)
    early = [
        scored("21", T0 + timedelta(minutes=5), reply_to="500"),
        scored("22", T0 + timedelta(minutes=6), reshare_of="500"),
        scored("23", T0 + timedelta(minutes=7), hashtags=("Herbst",)),
        scored("24", T0 - timedelta(hours=3), hashtags=("herbst",)),  # before the term's first use
        scored("25", T0 + timedelta(minutes=8), hashtags=("herbst",), tenant="other"),
    ]
    assert await observe(engine, store, early) == 0  # nothing known yet
    await store.add_terms(term_rows(request("autumn", "Der #Herbst kommt", at=T0 - timedelta(hours=1))))
    row = own_post_row(result("post-9", "500", "autumn", T0))
    assert row is not None
    await store.add_own_posts([row])
    assert await relations(engine, "autumn") == {"sim:21": "reply", "sim:22": "reshare", "sim:23": "hashtag"}
    await store.add_own_posts([row])  # the same result again
    await store.add_terms(term_rows(request("autumn", "#herbst", at=T0 - timedelta(hours=1))))
    assert len(await relations(engine, "autumn")) == 3
