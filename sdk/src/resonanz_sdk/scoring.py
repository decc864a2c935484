"""The sentiment scorer contract: what a scorer plugin implements (it depends on the sdk only).

A scorer turns a *batch* of texts into one :class:`SentimentResult` each. Batches are where a trained
model gets its speed (one matrix product for 500 texts, or one GPU call for a transformer), so the
contract is batch-based even for scorers that could score one text at a time.

Plugins register scorers through the ``resonanz.scorers`` entry-point group with the
``register_scorers`` hook (see :mod:`resonanz_sdk.plugins.hookspecs` and
:class:`resonanz_sdk.plugins.ScorerPluginManager`); the scoring service picks one by
``RESONANZ_SENTIMENT_SCORER``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class SentimentScorer(Protocol):
    """Scores a batch of texts at once.

    Implementations must be safe to call from one thread at a time (the scoring worker does) and
    should load their model lazily or in ``__init__``, never per batch. A slow scorer (a transformer
    on a GPU) is fine: the worker hands it whole batches.
    """

    #: Stored with every score ("lexicon-v1", "linear-v1-3f2a9c1b"), so scores from different scorers
    #: (and model versions) can be told apart. It should change whenever the model's answers can.
    name: str

    def score_batch(self, texts: Sequence[str], languages: Sequence[str]) -> list[SentimentResult]:
        """One result per text, in order; ``languages`` are ISO 639-1 codes (or "und").

        Raise ``ValueError`` when the two sequences differ in length.
        """
        ...
