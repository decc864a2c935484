"""Scores a batch of mentions at once: language, sentiment, engagement, reach and impressions.

Each step runs over the whole batch (language identification, the sentiment scorer's
``score_batch``, numpy for the metrics of :mod:`resonanz_scoring.analytics.reach`), so a trained
model takes its batch in one call. Engagement follows each network's own definition (its manifest's
``engagement`` weights, :func:`~resonanz_scoring.analytics.engagement.definition_for`); a network no
plugin states uses the default (likes + shares + replies + quotes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from resonanz.common.v1 import mention_pb2, score_pb2

from resonanz_scoring.analytics.engagement import DEFAULT_DEFINITION, EngagementDefinition
from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.reach import EngagementInput, MentionMetrics, compute_metrics
from resonanz_scoring.sentiment import SentimentScorer


class MetricsCalculator:
    """Per-mention metrics with each network's engagement definition (shared by scoring and the
    engagement updates, so a refreshed mention is measured exactly like a new one)."""

    def __init__(self, definitions: Mapping[str, EngagementDefinition] | None = None) -> None:
        self.definitions = dict(definitions or {})

    def definition(self, network: str) -> EngagementDefinition:
        return self.definitions.get(network, DEFAULT_DEFINITION)

    def metrics(
        self, items: Sequence[tuple[str, mention_pb2.Author, mention_pb2.EngagementCounts]]
    ) -> list[MentionMetrics]:
        """``(network, author, counts)`` per mention -> its metrics, in order."""
        return compute_metrics(
            [
                EngagementInput(
                    followers=author.followers,
                    likes=counts.likes,
                    shares=counts.shares,
                    replies=counts.replies,
                    quotes=counts.quotes,
                    views=counts.views,
                    verified=author.verified,
                    definition=self.definition(network),
                )
                for network, author, counts in items
            ]
        )


class MentionScorer:
    def __init__(
        self,
        languages: LanguageIdentifierService,
        sentiment: SentimentScorer,
        metrics: MetricsCalculator | None = None,
    ) -> None:
        self.languages = languages
        self.sentiment = sentiment
        self.metrics = metrics or MetricsCalculator()

    def score_batch(
        self, tenant_mentions: Sequence[tuple[str, mention_pb2.Mention]], scored_at: datetime
    ) -> list[score_pb2.MentionScore]:
        """One MentionScore per ``(tenant, mention)``, in order."""
        if not tenant_mentions:
            return []
        mentions = [mention for _, mention in tenant_mentions]
        texts = [m.text for m in mentions]
        detected = self.languages.identify_batch(texts, [m.language_hint for m in mentions])
        languages = [language for language, _ in detected]
        sentiments = self.sentiment.score_batch(texts, languages)
        metrics = self.metrics.metrics([(m.network, m.author, m.engagement) for m in mentions])
        scores: list[score_pb2.MentionScore] = []
        for (tenant, mention), language, sentiment, metric in zip(
            tenant_mentions, languages, sentiments, metrics, strict=True
        ):
            score = score_pb2.MentionScore(
                mention_id=mention.id,
                tenant=tenant,
                language=language,
                sentiment=int(sentiment.sentiment),  # type: ignore[arg-type]
                sentiment_confidence=sentiment.confidence,
                polarity=sentiment.polarity,
                engagement=metric.engagement,
                engagement_rate=metric.engagement_rate,
                estimated_reach=metric.estimated_reach,
                estimated_impressions=metric.estimated_impressions,
                author_influence=metric.author_influence,
                scorer=self.sentiment.name,
            )
            score.scored_at.FromDatetime(scored_at)
            scores.append(score)
        return scores
