"""Campaigns through the real faust app on the real broker: publish requests and results, own-post
engagement and scored mentions end in the campaign report; a poison publish result is
dead-lettered and the agent carries on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord
from resonanz.common.v1 import content_pb2, mention_pb2
from resonanz.events.v1 import events_pb2
from resonanz_scoring.aggregate_queries import best_time_history, campaign_report
from resonanz_scoring.app import ScoringApp
from resonanz_scoring.streams import campaigns
from resonanz_scoring.streams.extensions import ExtensionSpec
from resonanz_sdk.db import create_engine
from resonanz_sdk.eventbus import EventProducer, Topic, dlq_name, new_envelope
from resonanz_sdk.plugins import PluginManager
from resonanz_sdk.settings import Settings
from scoring_stream_support import eventually
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]
T0 = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
TENANT = "acme"


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(settings.database_url_for("scoring"))
    yield db
    await db.dispose()


@asynccontextmanager
async def running(settings: Settings, extensions: Sequence[ExtensionSpec]) -> AsyncIterator[ScoringApp]:
    app = ScoringApp(settings, PluginManager.from_setting(""), extensions=extensions)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def mention(
    external_id: str, *, reply_to: str = "", hashtags: Sequence[str] = (), minute: int = 10
) -> mention_pb2.Mention:
    m = mention_pb2.Mention(
        id=f"sim:{external_id}",
        tenant=TENANT,
        network="sim",
        external_id=external_id,
        text="Acme Sommer " + " ".join(f"#{t}" for t in hashtags),
        in_reply_to_id=reply_to,
        hashtags=list(hashtags),
        author=mention_pb2.Author(id=f"u{external_id}", handle=f"user_{external_id}", followers=300),
        labels=["Acme"],
    )
    m.published_at.FromDatetime(T0 + timedelta(minutes=minute))
    return m


async def test_publish_events_and_mentions_make_the_campaign_report(
    settings: Settings, producer: EventProducer, engine: AsyncEngine, read_topic: ReadTopic
) -> None:
    request = new_envelope(
        TENANT,
        events_pb2.PublishRequested(
            post_id="post-1",
            network="sim",
            account="acme_de",
            campaign_id="summer",
            text="Der Sommer ist da! #AcmeSommer https://acme.example/sommer?utm_source=sim",
        ),
    )
    request.occurred_at.FromDatetime(T0 - timedelta(minutes=5))
    result = events_pb2.PublishResult(
        post_id="post-1",
        network="sim",
        account="acme_de",
        status=content_pb2.TARGET_STATUS_PUBLISHED,
        external_id="900",
        campaign_id="summer",
    )
    result.published_at.FromDatetime(T0)
    update = events_pb2.EngagementUpdated(
        network="sim",
        external_id="900",
        mention_id="sim:900",
        subject=events_pb2.ENGAGEMENT_SUBJECT_OWN_POST,
        post_id="post-1",
        campaign_id="summer",
        account="acme_de",
        engagement=mention_pb2.EngagementCounts(likes=12, shares=3, replies=1, views=4000),
    )
    update.measured_at.FromDatetime(T0 + timedelta(minutes=30))
    async with running(settings, [campaigns.register]):
        await producer.publish_many(Topic.PUBLISH_REQUESTS, [("sim:acme_de", request)])
        await producer.publish_raw(Topic.PUBLISH_RESULTS, b"\x00not an envelope", key=b"post-0", headers=[])
        await producer.publish_many(Topic.PUBLISH_RESULTS, [("post-1", new_envelope(TENANT, result))])
        await producer.publish_many(Topic.ENGAGEMENT_UPDATES, [("sim:900", new_envelope(TENANT, update))])

        async def own_post_counted() -> bool:
            history = await best_time_history(engine, TENANT, "sim", "acme_de")
            return history == [(T0, 16)]

        await eventually(own_post_counted, within=30, what="the own post with its engagement")

        async def terms_known() -> bool:
            report = await campaign_report(engine, TENANT, "summer")
            return report is not None and report.hashtags == ["acmesommer"]

        await eventually(terms_known, within=30, what="the campaign's terms")
        await producer.publish_many(
            Topic.MENTIONS_RAW,
            [
                ("sim", new_envelope(TENANT, events_pb2.MentionCollected(mention=m)))
                for m in (
                    mention("1", reply_to="900"),
                    mention("2", reply_to="1"),
                    mention("3", hashtags=["AcmeSommer"]),
                    mention("4", hashtags=["Winter"]),
                )
            ],
        )

        async def three_mentions() -> bool:
            report = await campaign_report(engine, TENANT, "summer")
            return report is not None and report.total.mentions == 3

        await eventually(three_mentions, within=30, what="three attributed mentions")
    report = await campaign_report(engine, TENANT, "summer")
    assert report is not None
    assert (report.total.posts, report.total.replies, report.total.reshares) == (1, 2, 0)
    assert report.links == ["acme.example/sommer"]
    assert report.first_post_at == T0
    assert [s.key for s in report.by_day] == ["2026-07-01"]
    assert report.total.impressions >= 4000
    dead = await read_topic(dlq_name(Topic.PUBLISH_RESULTS), 1, 5.0)
    assert [record.key for record in dead] == [b"post-0"]
