"""Scores a batch of mentions at once: language, sentiment, engagement and reach.

Each step runs over the whole batch (language identification, the sentiment scorer's
``score_batch``, numpy for the metrics), so a trained model can take its batch in one call later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from resonanz.common.v1 import mention_pb2, score_pb2

from resonanz_scoring.language import LanguageIdentifierService
from resonanz_scoring.reach import EngagementInput, compute_metrics
from resonanz_scoring.sentiment import SentimentScorer


class MentionScorer:
    def __init__(self, languages: LanguageIdentifierService, sentiment: SentimentScorer) -> None:
        self.languages = languages
        self.sentiment = sentiment

    def score_batch(
        self, tenant_mentions: Sequence[tuple[str, mention_pb2.Mention]], scored_at: datetime
    ) -> list[score_pb2.MentionScore]:
        """One MentionScore per ``(tenant, mention)``, in order."""
        if not tenant_mentions:
            return []
        mentions = [mention for _, mention in tenant_mentions]
        detected = self.languages.identify_batch(
            [m.text for m in mentions], [m.language_hint for m in mentions]
        )
        languages = [language for language, _ in detected]
        sentiments = self.sentiment.score_batch([m.text for m in mentions], languages)
        metrics = compute_metrics(
            [
                EngagementInput(
                    followers=m.author.followers,
                    likes=m.engagement.likes,
                    shares=m.engagement.shares,
                    replies=m.engagement.replies,
                    quotes=m.engagement.quotes,
                )
                for m in mentions
            ]
        )
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
                author_influence=metric.author_influence,
                scorer=self.sentiment.name,
            )
            score.scored_at.FromDatetime(scored_at)
            scores.append(score)
        return scores
