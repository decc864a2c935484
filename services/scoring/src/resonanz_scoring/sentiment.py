"""The sentiment scorer contract: whatever turns texts into sentiment implements :class:`SentimentScorer`.

The built-in baseline is :class:`resonanz_scoring.lexicon.LexiconScorer`; a later issue adds a trained
model (and scorer plugins) behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from resonanz.common.v1 import score_pb2


class Sentiment(IntEnum):
    """Mirrors ``resonanz.common.v1.Sentiment`` (the stored integer is the protobuf enum value)."""

    POSITIVE = score_pb2.SENTIMENT_POSITIVE
    NEUTRAL = score_pb2.SENTIMENT_NEUTRAL
    NEGATIVE = score_pb2.SENTIMENT_NEGATIVE

    @property
    def label(self) -> str:
        """Lower-case name, used as a metric label ("positive")."""
        return self.name.lower()


@dataclass(frozen=True)
class SentimentResult:
    """One text's sentiment.

    ``confidence`` is the (estimated) probability of ``sentiment``, 0..1; ``polarity`` runs from
    -1 (negative) to +1 (positive).
    """

    sentiment: Sentiment
    confidence: float
    polarity: float


#: What a scorer answers for a language it does not understand: neutral, no better than a guess
#: among three classes.
UNKNOWN_LANGUAGE_RESULT = SentimentResult(Sentiment.NEUTRAL, 1 / 3, 0.0)


class SentimentScorer(Protocol):
    """Scores a batch of texts at once (batches are where a trained model gets its speed)."""

    #: Stored with every score ("lexicon-v1"), so scores from different scorers can be told apart.
    name: str

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        """One result per text, in order; ``languages`` are ISO 639-1 codes (or "und")."""
        ...
