"""GetBrandScores, ListScoredMentions, GetBrandTimeline and GetShareOfVoice over real gRPC and a real
database (SQLite and PostgreSQL); expected figures are computed by hand from the rows inserted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from resonanz.common.v1 import mention_pb2
from resonanz.scoring.v1 import scoring_service_pb2 as pb
from resonanz_sdk.grpc import page_token
from scoring_api_support import (
    META,
    NEGATIVE,
    NEUTRAL,
    NOW,
    OTHER,
    OTHER_META,
    POSITIVE,
    TENANT,
    Api,
    api,
    duration,
    mention,
    scored,
    start_api,
    violations,
)

assert api  # fixture

pytestmark = pytest.mark.integration


async def _brand_rows(api: Api) -> None:
    hour = timedelta(hours=1)
    await api.add(
        scored(
            mention(1, hashtags=["#Summer", "sale"], links=["https://acme.example/a"]),
            POSITIVE,
            reach=100,
            engagement=5,
            impressions=300,
        ),
        scored(mention(2, hashtags=["summer"], links=["https://acme.example/a"]), POSITIVE, engagement=3),
        scored(mention(3, handle="critic"), NEGATIVE, reach=50, engagement=2, impressions=100),
        scored(mention(4, labels=["acme", "globex"]), NEUTRAL, reach=10),
        scored(mention(5, labels=["globex"]), NEGATIVE, reach=7),
        # the previous 24 hours
        scored(mention(6, at=NOW - 30 * hour), NEGATIVE, reach=1),
        scored(mention(7, at=NOW - 47 * hour), POSITIVE, reach=1),
        # before both windows, and exactly on the window's start (not in it: start < t <= end)
        scored(mention(8, at=NOW - 72 * hour), POSITIVE, reach=1),
        scored(mention(9, at=NOW - 24 * hour), POSITIVE, reach=1),
    )
    other = mention(1, tenant=OTHER)
    await api.add(scored(other, NEGATIVE, reach=999, tenant=OTHER))


async def test_brand_scores_figures_with_previous_window(api: Api) -> None:
    await _brand_rows(api)
    scores = (await api.stub.GetBrandScores(pb.GetBrandScoresRequest(label="acme"), metadata=META)).scores
    assert scores.window_end.ToDatetime(tzinfo=UTC) == NOW
    assert scores.window_start.ToDatetime(tzinfo=UTC) == NOW - timedelta(hours=24)
    assert (scores.mention_count, scores.positive_count, scores.neutral_count, scores.negative_count) == (
        4,
        2,
        1,
        1,
    )
    assert scores.net_sentiment == pytest.approx(0.25)
    assert scores.total_reach == 160
    assert scores.total_engagement == 10
    assert scores.total_impressions == 400
    # P = 100 + max(0, 1) = 101, N = 50, U = 10: 100 (101 - 100) / (101 + 100 + 10)
    assert scores.reputation_index == pytest.approx(100 / 211)
    # acme has 4 label rows in the window, globex 2 (mentions 4 and 5)
    assert scores.share_of_voice == pytest.approx(4 / 6)
    assert scores.previous_mention_count == 3  # 6, 7 and 9 (on the boundary: the previous window's end)
    assert scores.mention_count_delta == pytest.approx((4 - 3) / 3)
    assert scores.previous_net_sentiment == pytest.approx((2 - 1) / 3)
    assert [(t.term, t.count) for t in scores.top_hashtags] == [("summer", 2), ("sale", 1)]
    assert [(t.term, t.count) for t in scores.top_links] == [("https://acme.example/a", 2)]
    assert [(t.term, t.count) for t in scores.top_authors] == [
        ("critic", 1),
        ("user1", 1),
        ("user2", 1),
        ("user4", 1),
    ]


async def test_brand_scores_of_another_tenant_see_only_their_rows(api: Api) -> None:
    await _brand_rows(api)
    scores = (
        await api.stub.GetBrandScores(pb.GetBrandScoresRequest(label="acme"), metadata=OTHER_META)
    ).scores
    assert (scores.mention_count, scores.negative_count, scores.total_reach) == (1, 1, 999)
    assert scores.share_of_voice == 1.0
    assert scores.previous_mention_count == 0
    assert scores.mention_count_delta == 0.0


async def test_brand_scores_of_an_unknown_label_are_zero(api: Api) -> None:
    scores = (await api.stub.GetBrandScores(pb.GetBrandScoresRequest(label="nobody"), metadata=META)).scores
    assert scores.mention_count == 0
    assert scores.reputation_index == 0.0
    assert list(scores.top_hashtags) == []


async def test_brand_scores_validation_names_every_field(api: Api) -> None:
    found = await violations(
        api.stub.GetBrandScores(pb.GetBrandScoresRequest(label=" ", window=duration(days=400)), metadata=META)
    )
    assert {v.field for v in found} == {"label", "window"}
    found = await violations(
        api.stub.GetBrandScores(pb.GetBrandScoresRequest(label="x" * 201), metadata=META)
    )
    assert [v.field for v in found] == ["label"]
    found = await violations(
        api.stub.GetBrandScores(pb.GetBrandScoresRequest(label="a", window=duration(hours=-1)), metadata=META)
    )
    assert [(v.field, v.description) for v in found] == [("window", "must be positive")]


async def test_scored_mentions_page_newest_first_with_opaque_tokens(api: Api) -> None:
    await api.add(*(scored(mention(i, at=NOW - timedelta(minutes=i))) for i in range(1, 6)))
    await api.add(scored(mention(1, tenant=OTHER), tenant=OTHER))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        response = await api.stub.ListScoredMentions(
            pb.ListScoredMentionsRequest(label="acme", page_size=2, page_token=token), metadata=META
        )
        seen += [item.mention.id for item in response.mentions]
        pages += 1
        token = response.next_page_token
        if not token:
            break
    assert seen == [f"testnet:{i}" for i in range(1, 6)]
    assert pages == 3
    # another tenant replaying the token pages its own rows only (the position carries no tenant)
    first = await api.stub.ListScoredMentions(
        pb.ListScoredMentionsRequest(label="acme", page_size=2), metadata=META
    )
    theirs = await api.stub.ListScoredMentions(
        pb.ListScoredMentionsRequest(label="acme", page_token=first.next_page_token), metadata=OTHER_META
    )
    assert [(item.mention.id, item.score.tenant) for item in theirs.mentions] == [("testnet:1", OTHER)]
    all_theirs = await api.stub.ListScoredMentions(
        pb.ListScoredMentionsRequest(label="acme"), metadata=OTHER_META
    )
    assert [item.score.tenant for item in all_theirs.mentions] == [OTHER]


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        page_token.encode("not-a-position"),
        page_token.encode("2026-01-01T00:00:00+00:00|"),
        page_token.encode("2026-01-01T00:00:00+00:00|x")[:-2] + "AA",
    ],
)
async def test_scored_mentions_refuse_edited_tokens(api: Api, token: str) -> None:
    found = await violations(
        api.stub.ListScoredMentions(
            pb.ListScoredMentionsRequest(label="acme", page_token=token), metadata=META
        )
    )
    assert [v.field for v in found] == ["page_token"]


async def test_scored_mentions_validation(api: Api) -> None:
    found = await violations(
        api.stub.ListScoredMentions(pb.ListScoredMentionsRequest(label="", page_size=-1), metadata=META)
    )
    assert {v.field for v in found} == {"label", "page_size"}


async def test_timeline_buckets_are_aligned_and_complete(api: Api) -> None:
    # NOW is 12:30; a 6 hour window with 1 hour buckets starts on the hour before: 06:00 .. 12:59
    day = NOW.replace(hour=0, minute=0)

    def at(h: int, m: int) -> datetime:
        return day + timedelta(hours=h, minutes=m)

    await api.add(
        scored(mention(1, at=at(5, 59)), POSITIVE, reach=1000),  # before the first bucket
        scored(mention(2, at=at(6, 0)), NEUTRAL, reach=5),  # first instant of the first bucket
        scored(mention(3, at=at(7, 15)), POSITIVE, reach=30, engagement=4),
        scored(mention(4, at=at(7, 45)), NEGATIVE, reach=5, engagement=1),
        scored(mention(5, at=at(12, 10)), NEUTRAL, reach=2),
        scored(mention(6, at=at(7, 20), labels=["globex"]), NEGATIVE, reach=5),
    )
    await api.add(scored(mention(7, at=at(7, 30), tenant=OTHER), NEGATIVE, reach=5, tenant=OTHER))
    response = await api.stub.GetBrandTimeline(
        pb.GetBrandTimelineRequest(label="acme", window=duration(hours=6), bucket=duration(hours=1)),
        metadata=META,
    )
    assert response.label == "acme"
    starts = [p.bucket_start.ToDatetime(tzinfo=UTC) for p in response.points]
    assert starts == [at(h, 0) for h in range(6, 13)]
    counts = [(p.mention_count, p.positive_count, p.neutral_count, p.negative_count) for p in response.points]
    assert counts == [
        (1, 0, 1, 0),
        (2, 1, 0, 1),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (0, 0, 0, 0),
        (1, 0, 1, 0),
    ]
    second = response.points[1]
    assert (second.reach, second.engagement) == (35, 5)
    assert second.reputation_index == pytest.approx(100 * (30 - 10) / (30 + 10))  # P=30, N=5 weighted 2
    assert response.points[2].reputation_index == 0.0
    theirs = await api.stub.GetBrandTimeline(
        pb.GetBrandTimelineRequest(label="acme", window=duration(hours=6), bucket=duration(hours=1)),
        metadata=OTHER_META,
    )
    assert [p.mention_count for p in theirs.points] == [0, 1, 0, 0, 0, 0, 0]


async def test_timeline_defaults_to_daily_buckets_over_seven_days(api: Api) -> None:
    await api.add(scored(mention(1, at=NOW - timedelta(days=3)), POSITIVE))
    response = await api.stub.GetBrandTimeline(pb.GetBrandTimelineRequest(label="acme"), metadata=META)
    starts = [p.bucket_start.ToDatetime(tzinfo=UTC) for p in response.points]
    first = (NOW - timedelta(days=7)).replace(hour=0, minute=0)
    assert starts == [first + timedelta(days=i) for i in range(8)]
    assert sum(p.mention_count for p in response.points) == 1
    assert response.points[4].mention_count == 1  # 2026-05-31


async def test_timeline_validation(api: Api) -> None:
    found = await violations(
        api.stub.GetBrandTimeline(
            pb.GetBrandTimelineRequest(label="acme", window=duration(days=366), bucket=duration(minutes=1)),
            metadata=META,
        )
    )
    assert [v.field for v in found] == ["bucket"]
    assert "at most 1,000" in found[0].description
    found = await violations(
        api.stub.GetBrandTimeline(
            pb.GetBrandTimelineRequest(label="", bucket=duration(seconds=30)), metadata=META
        )
    )
    assert {v.field for v in found} == {"label", "bucket"}


async def _roles(tenant: str) -> Mapping[str, mention_pb2.QueryRole.ValueType]:
    """Stands in for the listening service's query roles (its own client is tested against it)."""
    if tenant != TENANT:
        return {}
    return {
        "acme": mention_pb2.QUERY_ROLE_BRAND,
        "globex": mention_pb2.QUERY_ROLE_COMPETITOR,
        "hooli": mention_pb2.QUERY_ROLE_COMPETITOR,
    }


@pytest.fixture
async def api_with_roles(database_url: str) -> AsyncIterator[Api]:
    async for started in start_api(database_url, label_roles=_roles):
        yield started


async def test_share_of_voice_ranks_every_label(api_with_roles: Api) -> None:
    api = api_with_roles
    await api.add(
        scored(mention(1), POSITIVE, reach=100),
        scored(mention(2), POSITIVE, reach=0),
        scored(mention(3), NEGATIVE, reach=0),
        scored(mention(4, labels=["globex"]), NEGATIVE, reach=300),
        scored(mention(5, labels=["initech"]), NEUTRAL, reach=100),
        scored(mention(6, labels=["initech"], at=NOW - timedelta(days=2)), NEUTRAL, reach=100),
    )
    await api.add(scored(mention(1, tenant=OTHER, labels=["globex"]), tenant=OTHER))
    response = await api.stub.GetShareOfVoice(pb.GetShareOfVoiceRequest(), metadata=META)
    assert response.window_end.ToDatetime(tzinfo=UTC) == NOW
    assert response.window_start.ToDatetime(tzinfo=UTC) == NOW - timedelta(hours=24)
    rows = [
        (s.label, s.role, s.mention_count, s.reach, round(s.share_of_voice, 4), round(s.share_of_reach, 4))
        for s in response.labels
    ]
    assert rows == [
        ("acme", mention_pb2.QUERY_ROLE_BRAND, 3, 100, round(3 / 5, 4), 0.2),
        ("globex", mention_pb2.QUERY_ROLE_COMPETITOR, 1, 300, 0.2, 0.6),
        ("initech", mention_pb2.QUERY_ROLE_UNSPECIFIED, 1, 100, 0.2, 0.2),
        ("hooli", mention_pb2.QUERY_ROLE_COMPETITOR, 0, 0, 0.0, 0.0),  # a competitor nobody mentioned
    ]
    assert response.labels[0].net_sentiment == pytest.approx(1 / 3)
    assert response.labels[1].net_sentiment == -1.0
    week = await api.stub.GetShareOfVoice(pb.GetShareOfVoiceRequest(window=duration(days=7)), metadata=META)
    assert {s.label: s.mention_count for s in week.labels} == {
        "acme": 3,
        "initech": 2,
        "globex": 1,
        "hooli": 0,
    }
    theirs = await api.stub.GetShareOfVoice(pb.GetShareOfVoiceRequest(), metadata=OTHER_META)
    assert [(s.label, s.mention_count, s.share_of_voice) for s in theirs.labels] == [("globex", 1, 1.0)]


async def test_share_of_voice_validation(api: Api) -> None:
    found = await violations(
        api.stub.GetShareOfVoice(pb.GetShareOfVoiceRequest(window=duration(seconds=0.5)), metadata=META)
    )
    assert [v.field for v in found] == ["window"]
