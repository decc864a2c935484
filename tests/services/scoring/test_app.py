"""The scoring role end to end: real broker, real database (SQLite and PostgreSQL), real gRPC channel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import grpc.aio
import pytest
from aiokafka import ConsumerRecord
from google.protobuf import duration_pb2
from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.events.v1 import events_pb2
from resonanz.scoring.v1 import scoring_service_pb2, scoring_service_pb2_grpc
from resonanz_scoring.analytics.reach import ASSUMED_RESHARER_FOLLOWERS, AUDIENCE_OVERLAP, RESHARE_DECAY
from resonanz_scoring.app import ScoringApp
from resonanz_sdk.errors import FieldViolation
from resonanz_sdk.eventbus import EventProducer, Topic, dlq_name, new_envelope
from resonanz_sdk.grpc import field_violations, tenant_metadata

pytestmark = pytest.mark.integration

#: Reach added by one reshare or quote (docs/scoring/metrics.md): the assumed resharer audience,
#: decayed, less the audience overlap (250 x 0.5 x 0.8 = 100).
PER_RESHARE = round(ASSUMED_RESHARER_FOLLOWERS * RESHARE_DECAY * (1 - AUDIENCE_OVERLAP))

ReadTopic = Callable[[str, int, float], Awaitable[list[ConsumerRecord[bytes, bytes]]]]


def make_mention(
    mention_id: str,
    text: str,
    *,
    tenant: str = "acme-corp",
    labels: Sequence[str] = ("acme",),
    followers: int = 100,
    likes: int = 0,
    shares: int = 0,
    replies: int = 0,
    quotes: int = 0,
    hashtags: Sequence[str] = (),
    handle: str = "someone",
    language_hint: str = "",
    published_at: datetime | None = None,
) -> mention_pb2.Mention:
    mention = mention_pb2.Mention(
        id=mention_id,
        tenant=tenant,
        network="testnet",
        external_id=mention_id.split(":", 1)[-1],
        text=text,
        language_hint=language_hint,
        author=mention_pb2.Author(id=f"id-{handle}", handle=handle, followers=followers),
        engagement=mention_pb2.EngagementCounts(likes=likes, shares=shares, replies=replies, quotes=quotes),
        hashtags=list(hashtags),
        labels=list(labels),
    )
    mention.published_at.FromDatetime(published_at or datetime.now(UTC))
    return mention


def collected(mention: mention_pb2.Mention, tenant: str | None = None) -> events_pb2.EventEnvelope:
    return new_envelope(tenant or mention.tenant, events_pb2.MentionCollected(mention=mention))


TENANT = tenant_metadata("acme-corp")


async def _list(
    channel: grpc.aio.Channel, label: str, **kw: object
) -> scoring_service_pb2.ListScoredMentionsResponse:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    request = scoring_service_pb2.ListScoredMentionsRequest(label=label, **kw)  # type: ignore[arg-type]
    return await stub.ListScoredMentions(request, metadata=TENANT)


async def _wait_for(
    channel: grpc.aio.Channel, label: str, count: int, within: float = 15.0
) -> list[scoring_service_pb2.ScoredMention]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = list((await _list(channel, label, page_size=500)).mentions)
        if len(found) >= count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_mentions_are_scored_once_and_poison_is_dead_lettered(
    app: ScoringApp, channel: grpc.aio.Channel, producer: EventProducer, read_topic: ReadTopic
) -> None:
    german = make_mention(
        "testnet:1",
        "Der neue Service von Acme ist wirklich großartig, danke!",
        followers=1000,
        likes=10,
        shares=2,
    )
    english = make_mention("testnet:2", "This is not good at all, the app crashed again", followers=50)
    first = collected(german)
    await producer.publish_many(Topic.MENTIONS_RAW, [(german.id, first), (english.id, collected(english))])
    scored = await _wait_for(channel, "acme", 2)
    assert sorted(s.mention.id for s in scored) == ["testnet:1", "testnet:2"]

    # The same event again (redelivery), the same mention in a new event (re-collected), a record that
    # is not an envelope, an envelope whose mention has no id; then a good one, to show it carries on.
    rescored = make_mention("testnet:1", "Acme ist furchtbar schlecht", followers=5)
    no_id = make_mention("", "kein Id")
    later = make_mention("testnet:3", "Acme support was amazing and super helpful", followers=10)
    await producer.publish(Topic.MENTIONS_RAW, first, key=german.id)
    await producer.publish(Topic.MENTIONS_RAW, collected(rescored), key=rescored.id)
    await producer.publish_raw(Topic.MENTIONS_RAW, b"\xffnot a protobuf", key=b"poison", headers=[])
    await producer.publish(Topic.MENTIONS_RAW, collected(no_id), key="x")
    await producer.publish(Topic.MENTIONS_RAW, collected(later), key=later.id)
    scored = await _wait_for(channel, "acme", 3)
    by_id = {s.mention.id: s for s in scored}
    assert sorted(by_id) == ["testnet:1", "testnet:2", "testnet:3"]

    dead = await read_topic(dlq_name(Topic.MENTIONS_RAW), 2, 15.0)
    assert sorted(r.key for r in dead) == [b"poison", b"x"]
    no_id_record = next(r for r in dead if r.key == b"x")
    headers = {k: bytes(v).decode() for k, v in no_id_record.headers}
    assert headers["original-topic"] == "mentions.raw"
    assert "mention.id" in headers["error"]

    events = await read_topic(Topic.MENTIONS_SCORED, 3, 10.0)
    payloads = [events_pb2.EventEnvelope.FromString(r.value) for r in events]
    assert sorted(p.mention_scored.mention.id for p in payloads) == ["testnet:1", "testnet:2", "testnet:3"]
    assert all(p.tenant == "acme-corp" for p in payloads)

    # The first scoring stands: the re-collected text did not change anything.
    german_score = by_id["testnet:1"].score
    assert german_score.language == "de"
    assert german_score.sentiment == score_pb2.SENTIMENT_POSITIVE
    assert german_score.engagement == 12
    assert german_score.estimated_reach == 1000 + 2 * PER_RESHARE
    assert german_score.tenant == "acme-corp"
    assert app.scorer is not None
    assert german_score.scorer == app.scorer.sentiment.name  # RESONANZ_SENTIMENT_SCORER's scorer
    assert by_id["testnet:1"].mention.text.startswith("Der neue Service")
    english_score = by_id["testnet:2"].score
    assert english_score.language == "en"
    assert english_score.sentiment == score_pb2.SENTIMENT_NEGATIVE
    assert by_id["testnet:3"].score.sentiment == score_pb2.SENTIMENT_POSITIVE
    scored_event = next(p for p in payloads if p.mention_scored.mention.id == "testnet:1")
    assert scored_event.mention_scored.score == german_score


async def test_list_scored_mentions_pages_newest_first(
    app: ScoringApp, channel: grpc.aio.Channel, producer: EventProducer
) -> None:
    now = datetime.now(UTC)
    mentions = [
        make_mention(f"testnet:{i}", f"Acme post number {i} is here", published_at=now - timedelta(minutes=i))
        for i in range(5)
    ]
    await producer.publish_many(Topic.MENTIONS_RAW, [(m.id, collected(m)) for m in mentions])
    assert len(await _wait_for(channel, "acme", 5)) == 5

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await _list(channel, "acme", page_size=2, page_token=token)
        seen += [s.mention.id for s in page.mentions]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"testnet:{i}" for i in range(5)]
    assert pages == 3

    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListScoredMentions(
            scoring_service_pb2.ListScoredMentionsRequest(label="acme", page_token="garbage"), metadata=TENANT
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in (info.value.details() or "")


def _expected(rows: Sequence[tuple[int, int, int, int, int]], all_label_rows: int) -> dict[str, float]:
    """Aggregates computed independently: rows are (sentiment, followers, likes+replies, shares, quotes)."""
    positive = sum(1 for s, *_ in rows if s == score_pb2.SENTIMENT_POSITIVE)
    negative = sum(1 for s, *_ in rows if s == score_pb2.SENTIMENT_NEGATIVE)
    reach = [followers + (shares + quotes) * PER_RESHARE for _, followers, _, shares, quotes in rows]
    weights = {
        sentiment: sum(max(r, 1) for (s, *_), r in zip(rows, reach, strict=True) if s == sentiment)
        for sentiment in (
            score_pb2.SENTIMENT_POSITIVE,
            score_pb2.SENTIMENT_NEGATIVE,
            score_pb2.SENTIMENT_NEUTRAL,
        )
    }
    good = weights[score_pb2.SENTIMENT_POSITIVE]
    bad = 2 * weights[score_pb2.SENTIMENT_NEGATIVE]
    return {
        "mention_count": len(rows),
        "positive_count": positive,
        "negative_count": negative,
        "neutral_count": len(rows) - positive - negative,
        "net_sentiment": (positive - negative) / len(rows),
        "total_reach": sum(reach),
        "total_engagement": sum(other + shares + quotes for _, _, other, shares, quotes in rows),
        "reputation_index": 100 * (good - bad) / (good + bad + weights[score_pb2.SENTIMENT_NEUTRAL]),
        "share_of_voice": len(rows) / all_label_rows,
    }


async def test_brand_scores_are_right_and_tenants_are_walls(
    app: ScoringApp, channel: grpc.aio.Channel, producer: EventProducer
) -> None:
    pos, neg, neu = score_pb2.SENTIMENT_POSITIVE, score_pb2.SENTIMENT_NEGATIVE, score_pb2.SENTIMENT_NEUTRAL
    now = datetime.now(UTC)
    recent = now - timedelta(hours=1)
    old = now - timedelta(days=3)
    # (mention, expected sentiment) for tenant acme-corp.
    cases = [
        (make_mention("t:1", "Acme ist großartig, ich liebe es!", followers=1000, likes=5, shares=4,
                      replies=1, hashtags=["Acme", "Liebe"], handle="anna", published_at=recent), pos),
        (make_mention("t:2", "Acme is terrible, worst service ever", followers=200, hashtags=["#acme"],
                      handle="bob", published_at=recent), neg),
        (make_mention("t:3", "Acme opens a new store in Berlin on Monday", followers=0, likes=3,
                      hashtags=["berlin"], handle="anna", published_at=recent), neu),
        (make_mention("t:4", "Acme support was so helpful and friendly, thanks!", followers=10, quotes=2,
                      handle="carl", published_at=recent), pos),
        (make_mention("t:5", "Acme is awful and the staff were rude", followers=0, handle="erin",
                      published_at=old), neg),
        (make_mention("t:6", "Globex hat heute neue Preise veröffentlicht", labels=["globex"], followers=70,
                      handle="fritz", published_at=recent), neu),
        (make_mention("t:7", "Acme und Globex sind beide richtig schlecht", labels=["acme", "globex"],
                      followers=50, handle="dora", published_at=recent), neg),
    ]  # fmt: skip
    other = make_mention(
        "t:1", "Acme is wonderful", tenant="beta-inc", followers=1_000_000, published_at=recent
    )
    await producer.publish_many(
        Topic.MENTIONS_RAW, [(m.id, collected(m)) for m, _ in cases] + [(other.id, collected(other))]
    )
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    scored = {s.mention.id: s for s in await _wait_for(channel, "acme", 5)}
    assert len(await _wait_for(channel, "globex", 2)) == 2
    assert {m.id: expected for m, expected in cases if "acme" in m.labels} == {
        i: s.score.sentiment for i, s in scored.items()
    }

    def rows_of(label: str, since: datetime) -> list[tuple[int, int, int, int, int]]:
        return [
            (expected, m.author.followers, m.engagement.likes + m.engagement.replies, m.engagement.shares,
             m.engagement.quotes)
            for m, expected in cases
            if label in m.labels and m.published_at.ToDatetime(tzinfo=UTC) > since
        ]  # fmt: skip

    day = (
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=TENANT)
    ).scores
    in_day = rows_of("acme", now - timedelta(hours=24))
    expected = _expected(in_day, len(in_day) + len(rows_of("globex", now - timedelta(hours=24))))
    assert expected["mention_count"] == 4 + 0 + 1  # t:1-4 and t:7; t:5 is older than a day
    for field, value in expected.items():
        assert getattr(day, field) == pytest.approx(value), field
    assert day.tenant == "acme-corp"
    assert day.label == "acme"
    assert day.window_end.ToDatetime(tzinfo=UTC) - day.window_start.ToDatetime(tzinfo=UTC) == timedelta(
        hours=24
    )
    assert [(t.term, t.count) for t in day.top_hashtags] == [("acme", 2), ("berlin", 1), ("liebe", 1)]
    assert [(t.term, t.count) for t in day.top_authors] == [("anna", 2), ("bob", 1), ("carl", 1), ("dora", 1)]

    week_request = scoring_service_pb2.GetBrandScoresRequest(
        label="acme", window=duration_pb2.Duration(seconds=7 * 86400)
    )
    week = (await stub.GetBrandScores(week_request, metadata=TENANT)).scores
    in_week = rows_of("acme", now - timedelta(days=7))
    expected = _expected(in_week, len(in_week) + len(rows_of("globex", now - timedelta(days=7))))
    assert expected["mention_count"] == 6
    for field, value in expected.items():
        assert getattr(week, field) == pytest.approx(value), field

    # Tenants are walls: beta-inc sees its one mention, acme-corp never sees it.
    beta = tenant_metadata("beta-inc")
    beta_scores = (
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"), metadata=beta)
    ).scores
    assert (beta_scores.mention_count, beta_scores.positive_count, beta_scores.total_reach) == (
        1,
        1,
        1_000_000,
    )
    assert beta_scores.share_of_voice == 1.0
    beta_list = await stub.ListScoredMentions(
        scoring_service_pb2.ListScoredMentionsRequest(label="acme"), metadata=beta
    )
    assert [(s.mention.id, s.mention.text, s.score.tenant) for s in beta_list.mentions] == [
        ("t:1", "Acme is wonderful", "beta-inc")
    ]
    assert scored["t:1"].mention.text == "Acme ist großartig, ich liebe es!"
    nobody = (await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"),
                                         metadata=tenant_metadata("gamma"))).scores  # fmt: skip
    assert (nobody.mention_count, nobody.reputation_index, nobody.share_of_voice) == (0, 0.0, 0.0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(scoring_service_pb2.GetBrandScoresRequest(label="acme"))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("request_fields", "violations"),
    [
        ({"label": ""}, [FieldViolation("label", "must not be empty")]),
        ({"label": "x" * 201}, [FieldViolation("label", "must be at most 200 characters (is 201)")]),
        ({"label": "acme", "window": duration_pb2.Duration(seconds=367 * 86400)},
         [FieldViolation("window", "must be at most 366 days")]),
        ({"label": " ", "window": duration_pb2.Duration(seconds=-5)},
         [FieldViolation("label", "must not be empty"), FieldViolation("window", "must be positive")]),
    ],
)  # fmt: skip
async def test_brand_scores_validation_names_the_field(
    app: ScoringApp,
    channel: grpc.aio.Channel,
    request_fields: dict[str, object],
    violations: list[FieldViolation],
) -> None:
    stub = scoring_service_pb2_grpc.ScoringServiceStub(channel)
    request = scoring_service_pb2.GetBrandScoresRequest(**request_fields)  # type: ignore[arg-type]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetBrandScores(request, metadata=TENANT)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(info.value) == violations
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListScoredMentions(
            scoring_service_pb2.ListScoredMentionsRequest(label="", page_size=-1), metadata=TENANT
        )
    assert field_violations(info.value) == [
        FieldViolation("label", "must not be empty"),
        FieldViolation("page_size", "must not be negative"),
    ]
