"""The one place where protobuf messages become table rows and back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from resonanz.common.v1 import mention_pb2, score_pb2
from resonanz.scoring.v1 import scoring_service_pb2

from resonanz_scoring.aggregates import BrandAggregate

#: Hashtags and labels longer than this are cut (the columns are bounded).
MAX_TERM = 300
#: Related mention ids and links are cut to their columns' lengths.
MAX_ID = 512
MAX_LINK = 2000


def utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values (SQLite gives those back) are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def occurred_at(mention: mention_pb2.Mention, scored_at: datetime) -> datetime:
    """The time a mention counts at in windows: published, else collected, else scored."""
    if mention.HasField("published_at"):
        return mention.published_at.ToDatetime(tzinfo=UTC)
    if mention.HasField("collected_at"):
        return mention.collected_at.ToDatetime(tzinfo=UTC)
    return utc(scored_at)


def author_of(mention: mention_pb2.Mention) -> str:
    """How an author is named in aggregates: the handle, else the network's id."""
    return (mention.author.handle or mention.author.id)[:MAX_TERM]


def hashtag_key(tag: str) -> str:
    return tag.strip().lstrip("#").lower()[:MAX_TERM]


def related_id(mention: mention_pb2.Mention, external_id: str) -> str:
    """A related post's external id on the mention's network in mention-id form; "" for none."""
    return f"{mention.network}:{external_id}" if external_id else ""


def mention_row(mention: mention_pb2.Mention, score: score_pb2.MentionScore) -> dict[str, Any]:
    scored_at = score.scored_at.ToDatetime(tzinfo=UTC)
    return {
        "tenant": score.tenant,
        "mention_id": mention.id,
        "network": mention.network,
        "author": author_of(mention),
        "author_id": mention.author.id[:MAX_TERM],
        "author_handle": mention.author.handle[:MAX_TERM],
        "author_followers": max(mention.author.followers, 0),
        "author_verified": mention.author.verified,
        "in_reply_to": related_id(mention, mention.in_reply_to_id)[:MAX_ID],
        "reshare_of": related_id(mention, mention.reshare_of_id)[:MAX_ID],
        "quote_of": related_id(mention, mention.quote_of_id)[:MAX_ID],
        "occurred_at": occurred_at(mention, scored_at),
        "language": score.language,
        "sentiment": int(score.sentiment),
        "sentiment_confidence": score.sentiment_confidence,
        "polarity": score.polarity,
        "likes": mention.engagement.likes,
        "shares": mention.engagement.shares,
        "replies": mention.engagement.replies,
        "quotes": mention.engagement.quotes,
        "views": mention.engagement.views,
        "engagement": score.engagement,
        "engagement_rate": score.engagement_rate,
        "estimated_reach": score.estimated_reach,
        "estimated_impressions": score.estimated_impressions,
        "author_influence": score.author_influence,
        "scorer": score.scorer,
        "scored_at": scored_at,
        "updated_at": None,
        "mention": mention.SerializeToString(deterministic=True),
        "emitted": False,
    }


def label_rows(row: Mapping[str, Any], mention: mention_pb2.Mention) -> list[dict[str, Any]]:
    labels = sorted({label.strip()[:MAX_TERM] for label in mention.labels if label.strip()})
    return [
        {
            "tenant": row["tenant"],
            "label": label,
            "mention_id": row["mention_id"],
            "occurred_at": row["occurred_at"],
            "network": row["network"],
            "sentiment": row["sentiment"],
            "estimated_reach": row["estimated_reach"],
            "estimated_impressions": row["estimated_impressions"],
            "engagement": row["engagement"],
            "author": row["author"],
        }
        for label in labels
    ]


def hashtag_rows(row: Mapping[str, Any], mention: mention_pb2.Mention) -> list[dict[str, Any]]:
    tags = sorted({hashtag_key(tag) for tag in mention.hashtags} - {""})
    return [{"tenant": row["tenant"], "mention_id": row["mention_id"], "hashtag": tag} for tag in tags]


def link_rows(row: Mapping[str, Any], mention: mention_pb2.Mention) -> list[dict[str, Any]]:
    links = sorted({link.strip()[:MAX_LINK] for link in mention.links} - {""})
    return [{"tenant": row["tenant"], "mention_id": row["mention_id"], "link": link} for link in links]


def score_from_row(row: Mapping[str, Any]) -> score_pb2.MentionScore:
    score = score_pb2.MentionScore(
        mention_id=row["mention_id"],
        tenant=row["tenant"],
        language=row["language"],
        sentiment=row["sentiment"],
        sentiment_confidence=row["sentiment_confidence"],
        polarity=row["polarity"],
        engagement=row["engagement"],
        engagement_rate=row["engagement_rate"],
        estimated_reach=row["estimated_reach"],
        estimated_impressions=row["estimated_impressions"],
        author_influence=row["author_influence"],
        scorer=row["scorer"],
    )
    score.scored_at.FromDatetime(utc(row["scored_at"]))
    return score


def scored_mention_from_row(row: Mapping[str, Any]) -> scoring_service_pb2.ScoredMention:
    return scoring_service_pb2.ScoredMention(
        mention=mention_pb2.Mention.FromString(row["mention"]), score=score_from_row(row)
    )


def brand_scores_to_proto(aggregate: BrandAggregate) -> score_pb2.BrandScores:
    scores = score_pb2.BrandScores(
        tenant=aggregate.tenant,
        label=aggregate.label,
        mention_count=aggregate.mention_count,
        positive_count=aggregate.positive_count,
        neutral_count=aggregate.neutral_count,
        negative_count=aggregate.negative_count,
        net_sentiment=aggregate.net_sentiment,
        total_reach=aggregate.total_reach,
        total_engagement=aggregate.total_engagement,
        reputation_index=aggregate.reputation_index,
        share_of_voice=aggregate.share_of_voice,
        top_hashtags=[score_pb2.TermCount(term=t, count=c) for t, c in aggregate.top_hashtags],
        top_authors=[score_pb2.TermCount(term=t, count=c) for t, c in aggregate.top_authors],
    )
    scores.window_start.FromDatetime(aggregate.window_start)
    scores.window_end.FromDatetime(aggregate.window_end)
    return scores
